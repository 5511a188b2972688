"""Each strategy, end to end through the ASGI app to the Railway, Vercel and GitHub stand-ins."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.monitoring.loopback import Mailbox, Receiver
from tests.railway.standin import RailwayStandIn
from tests.rollback.conftest import SMTP_LOGIN, TOKEN, WAIT, ServiceFactory, audit_events
from tests.rollback.standins import Client, GitHubStandIn, VercelStandIn, webhook

pytestmark = pytest.mark.e2e  # stand-ins on 127.0.0.1


def rolled_back(railway: RailwayStandIn) -> set[str]:
    """Names of the Railway services that got a deploymentRollback."""
    world = railway.world
    return {world.services[world.deployments[d]["serviceId"]]["name"] for d in world.rollbacks}


def test_immediate_rolls_back_every_service_and_freezes_deploys(
    make_service: ServiceFactory,
    railway: RailwayStandIn,
    vercel: VercelStandIn,
    github: GitHubStandIn,
    receiver: Receiver,
) -> None:
    service = make_service()
    with Client(service, TOKEN) as client:
        answer = client.send(webhook("g-health"))

    assert answer.status_code == 200
    assert answer.json()["decision"] == "accepted"
    assert service.executor.wait_idle(WAIT)
    assert rolled_back(railway) == {"backend", "worker"}
    assert vercel.promotions() == ["dpl_2"]  # the production deployment before dpl_3
    frozen = github.variables["staging"]
    assert frozen["DEPLOY_FREEZE"] == "true"
    # Its reason is an incident's: no reliability fix passes it (rollback.budget).
    assert frozen["DEPLOY_FREEZE_REASON"].startswith("rollback: ")
    # immediate notifies PagerDuty and Slack (email has no settings here: reported as such)
    pagerduty = receiver.wait_for(lambda n: n.path == "/pagerduty", WAIT)
    assert pagerduty.body["payload"]["severity"] == "critical"
    report = receiver.wait_for(lambda n: n.path == "/slack" and "done" in n.body["text"], WAIT)
    assert "ok rollback frontend: promoted dpl_2" in report.body["text"]
    outcomes = {(r["action"], r["service"]): r["outcome"] for r in audit_events(service, "action")}
    assert outcomes == {
        ("rollback", "frontend"): "succeeded",
        ("rollback", "backend"): "succeeded",
        ("rollback", "worker"): "succeeded",
        ("freeze", "all"): "succeeded",
    }
    email = [r for r in audit_events(service, "notification") if r["channel"] == "email"]
    assert email and {r["outcome"] for r in email} == {"not_configured"}


def test_immediate_emails_on_call_over_smtp_with_its_login(
    make_service: ServiceFactory, mailbox: Mailbox
) -> None:
    username, password = SMTP_LOGIN
    service = make_service(
        SMTP_HOST=mailbox.host,
        SMTP_PORT=str(mailbox.port),
        SMTP_STARTTLS="false",  # the stand-in has no certificate; production keeps the default
        SMTP_USERNAME=username,
        SMTP_PASSWORD=password,
        SMTP_FROM="rollback@fixture.example.test",
        SMTP_TO="oncall@fixture.example.test",
    )
    with Client(service, TOKEN) as client:
        client.send(webhook("g-health"))
    assert service.executor.wait_idle(WAIT)

    report = mailbox.wait_for(lambda m: "done" in m.message.get_content(), WAIT)
    assert report.login == SMTP_LOGIN
    assert report.envelope_to == ("oncall@fixture.example.test",)
    assert report.message["From"] == "rollback@fixture.example.test"
    # Python folds a subject this long onto a continuation line; unfolding leaves one space.
    subject = "[rollback] [staging] immediate rollback for HealthCheckFailed/backend: done"
    assert report.message["Subject"].strip() == subject
    assert "ok rollback frontend: promoted dpl_2" in report.message.get_content()
    email = [r for r in audit_events(service, "notification") if r["channel"] == "email"]
    assert len(email) == len(mailbox.received) >= 2  # the decision, then the outcome
    assert {r["outcome"] for r in email} == {"sent"}
    assert password not in str(service.audit.records())


def test_fast_rolls_back_only_the_affected_service(
    make_service: ServiceFactory,
    railway: RailwayStandIn,
    vercel: VercelStandIn,
    github: GitHubStandIn,
    receiver: Receiver,
) -> None:
    service = make_service()
    payload = webhook("g-latency", alertname="HighLatencyP95", service="worker", strategy="fast")
    with Client(service, TOKEN) as client:
        client.send(payload)

    assert service.executor.wait_idle(WAIT)
    assert rolled_back(railway) == {"worker"}
    assert vercel.promotions() == []
    assert github.calls == []  # no freeze
    announced = receiver.wait_for(lambda n: n.path == "/slack", WAIT)
    assert "rolling back worker" in announced.body["text"]
    assert "investigate_cause" in announced.body["text"]
    receiver.wait_for(lambda n: n.path == "/slack" and "done" in n.body["text"], WAIT)
    assert not [n for n in receiver.received if n.path == "/pagerduty"]  # fast: slack + email


def test_gradual_rolls_back_after_the_watch_when_still_firing(
    make_service: ServiceFactory, railway: RailwayStandIn
) -> None:
    service = make_service()
    payload = webhook("g-conv", alertname="ConversionRateDrop", strategy="gradual")
    with Client(service, TOKEN) as client:
        client.send(payload)
        assert railway.world.rollbacks == []  # watching first
        assert service.executor.wait_idle(WAIT)
    assert rolled_back(railway) == {"backend"}


def test_gradual_resolved_during_the_watch_does_not_roll_back(
    make_service: ServiceFactory, railway: RailwayStandIn, receiver: Receiver
) -> None:
    service = make_service(ROLLBACK_GRADUAL_WATCH="2s")
    firing = webhook("g-conv", alertname="ConversionRateDrop", strategy="gradual")
    resolved = webhook("g-conv", "resolved", alertname="ConversionRateDrop", strategy="gradual")
    with Client(service, TOKEN) as client:
        client.send(firing)
        client.send(resolved)

        assert service.executor.wait_idle(WAIT)
        assert railway.world.rollbacks == []
        assert [r["groupKey"] for r in audit_events(service, "cancelled")] == ["g-conv"]
        receiver.wait_for(lambda n: "resolved while watched" in n.body.get("text", ""), WAIT)
        # It may fire again later (a new startsAt): a new watch starts, not a duplicate.
        later = datetime.now(UTC).isoformat()
        again = webhook("g-conv", alertname="ConversionRateDrop", strategy="gradual",
                        starts_at=later)  # fmt: skip
        assert client.send(again).json()["decision"] == "accepted"


def test_a_rollback_cancels_the_frontend_build_in_flight_which_never_takes_production(
    make_service: ServiceFactory, vercel: VercelStandIn
) -> None:
    """dpl_4 is building when dpl_3 fails: GitHub cancelling the deploy job would not stop
    Vercel's build, which would take production over from the rollback once ready."""
    vercel.deployments.append(
        {"uid": "dpl_4", "created": 4_000, "target": "production", "state": "BUILDING"}
    )
    service = make_service()
    with Client(service, TOKEN) as client:
        assert client.send(webhook("g-health")).json()["decision"] == "accepted"
    assert service.executor.wait_idle(WAIT)
    vercel.finish_builds()  # Vercel goes on with what it still builds: nothing
    assert vercel.production == "dpl_2"
    assert [c.path for c in vercel.matching("PATCH", r".*/cancel")] == [
        "/v12/deployments/dpl_4/cancel"
    ]
    [frontend] = [r for r in audit_events(service, "action") if r["service"] == "frontend"]
    assert frontend["detail"].startswith("cancelled the deployment(s) in flight dpl_4; promoted")
