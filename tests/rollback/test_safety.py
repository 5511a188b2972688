"""Safe by construction: once per group, never on resolved, never without the token, never in a
loop, retried within the strategy's timeout and reported when it still fails, dry_run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rollback.settings import Settings, SettingsError
from tests.monitoring.loopback import Receiver
from tests.railway.standin import Fault, RailwayStandIn
from tests.rollback.conftest import (
    TOKEN,
    WAIT,
    ServiceFactory,
    audit_events,
    rollback_yaml,
    services_yaml,
)
from tests.rollback.standins import Client, GitHubStandIn, VercelStandIn, webhook

pytestmark = pytest.mark.e2e  # stand-ins on 127.0.0.1

FAST_BACKEND = {"alertname": "HighErrorRate", "service": "backend", "strategy": "fast"}


def test_duplicates_and_resends_act_once(
    make_service: ServiceFactory, railway: RailwayStandIn
) -> None:
    service = make_service()
    with Client(service, TOKEN) as client:
        decisions = [
            client.send(webhook("g1", **FAST_BACKEND)).json()["decision"] for _ in range(5)
        ]
        assert service.executor.wait_idle(WAIT)
    assert decisions == ["accepted"] + ["duplicate"] * 4
    assert len(railway.world.rollbacks) == 1


def test_resolved_alerts_do_nothing(
    make_service: ServiceFactory, railway: RailwayStandIn, vercel: VercelStandIn
) -> None:
    service = make_service()
    with Client(service, TOKEN) as client:
        answer = client.send(webhook("g1", "resolved"))
        assert service.executor.wait_idle(WAIT)
    assert answer.json()["decision"] == "resolved"
    assert railway.world.rollbacks == [] and vercel.calls == []


@pytest.mark.parametrize("token", ["wrong-token-wrong-token-wrong", ""])
def test_a_bad_token_gets_401_and_no_action(
    make_service: ServiceFactory, railway: RailwayStandIn, vercel: VercelStandIn, token: str
) -> None:
    service = make_service()
    with Client(service, TOKEN) as client:
        answer = client.send(webhook("g1"), token=token)
        assert service.executor.wait_idle(WAIT)
        metrics = client.http.get("/metrics").text
        events = [r["event"] for r in service.audit.records()]
    assert answer.status_code == 401
    assert railway.world.rollbacks == [] and vercel.calls == []
    assert events == ["started"]  # costs no disk
    assert 'rollback_webhooks_total{outcome="unauthorized"} 1.0' in metrics


def test_an_invalid_payload_gets_400_and_no_action(
    make_service: ServiceFactory, railway: RailwayStandIn
) -> None:
    service = make_service()
    with Client(service, TOKEN) as client:
        answer = client.send({"version": "4", "status": "firing"})
    assert answer.status_code == 400
    assert railway.world.rollbacks == []


def test_alerts_of_another_environment_are_ignored(
    make_service: ServiceFactory, railway: RailwayStandIn
) -> None:
    service = make_service()
    with Client(service, TOKEN) as client:
        answer = client.send(webhook("g1", environment="production"))
    assert answer.json()["decision"] == "ignored"
    assert railway.world.rollbacks == []


def test_dry_run_decides_and_reports_but_never_calls_a_platform(
    make_service: ServiceFactory,
    railway: RailwayStandIn,
    vercel: VercelStandIn,
    github: GitHubStandIn,
    receiver: Receiver,
) -> None:
    service = make_service(ROLLBACK_DRY_RUN="true")
    requests_before = railway.requests
    with Client(service, TOKEN) as client:
        client.send(webhook("g1"))
        assert service.executor.wait_idle(WAIT)
    assert railway.requests == requests_before and vercel.calls == [] and github.calls == []
    assert {r["outcome"] for r in audit_events(service, "action")} == {"dry_run"}
    assert all(r["dryRun"] for r in service.audit.records())
    note = receiver.wait_for(lambda n: n.path == "/slack", WAIT)
    assert note.body["text"].startswith("[DRY RUN]")


def test_a_failing_rollback_is_retried_within_the_timeout(
    make_service: ServiceFactory, vercel: VercelStandIn
) -> None:
    vercel.fail_next = 3  # three 500s, then Vercel answers
    service = make_service()
    with Client(service, TOKEN) as client:
        client.send(webhook("g1", alertname="HighLatencyP99", service="frontend", strategy="fast"))
        assert service.executor.wait_idle(WAIT)
    assert vercel.promotions() == ["dpl_2"]
    [record] = [r for r in audit_events(service, "action") if r["service"] == "frontend"]
    assert record["outcome"] == "succeeded"
    assert record["attempts"] >= 2


def test_a_rollback_still_failing_at_the_timeout_is_reported(
    make_service: ServiceFactory, vercel: VercelStandIn, receiver: Receiver
) -> None:
    vercel.fail_next = 10_000
    timeout = 2.0
    yaml = rollback_yaml(
        fast={"timeout": "2s", "actions": ["rollback_affected_service"], "notifications": [
            "slack", "email"]}
    )  # fmt: skip
    service = make_service(yaml=yaml)
    started = time.monotonic()
    with Client(service, TOKEN) as client:
        client.send(webhook("g1", alertname="HighLatencyP99", service="frontend", strategy="fast"))
        report = receiver.wait_for(lambda n: "FAILED" in n.body.get("text", ""), WAIT)
    elapsed = report.arrived - started
    assert elapsed < timeout + 1.5  # gave up at the timeout, did not retry forever
    assert "FAILED rollback frontend" in report.body["text"]
    assert "within the 2s timeout" in report.body["text"]
    assert vercel.promotions() == []
    [finished] = audit_events(service, "finished")
    assert finished["outcome"] == "failed"


def test_a_lost_answer_to_the_rollback_never_rolls_back_twice(
    make_service: ServiceFactory, railway: RailwayStandIn
) -> None:
    # Railway applies deploymentRollback but the connection drops before the answer.
    railway.faults.append(Fault("drop_after", field="deploymentRollback"))
    service = make_service()
    with Client(service, TOKEN) as client:
        client.send(webhook("g1", **FAST_BACKEND))
        assert service.executor.wait_idle(WAIT)
    assert len(railway.world.rollbacks) == 1
    [record] = audit_events(service, "action")
    assert record["outcome"] == "succeeded" and "already at" in record["detail"]


def test_a_rolled_back_service_is_not_rolled_back_again_by_another_alert(
    make_service: ServiceFactory, railway: RailwayStandIn, receiver: Receiver
) -> None:
    service = make_service()
    with Client(service, TOKEN) as client:
        client.send(webhook("g1", **FAST_BACKEND))
        assert service.executor.wait_idle(WAIT)
        other = {**FAST_BACKEND, "alertname": "HighLatencyP95"}
        assert client.send(webhook("g2", **other)).json()["decision"] == "escalated"
        assert service.executor.wait_idle(WAIT)
    assert len(railway.world.rollbacks) == 1
    receiver.wait_for(lambda n: "NOT rolling back backend again" in n.body.get("text", ""), WAIT)


def test_a_restart_remembers_what_was_done(
    make_service: ServiceFactory, railway: RailwayStandIn
) -> None:
    first = make_service()
    with Client(first, TOKEN) as client:
        client.send(webhook("g1", **FAST_BACKEND))
        assert first.executor.wait_idle(WAIT)
    second = make_service()  # same audit log, like a redeploy with a volume
    with Client(second, TOKEN) as client:
        resent = client.send(webhook("g1", **FAST_BACKEND)).json()["decision"]
        client.send(webhook("g2", **{**FAST_BACKEND, "alertname": "HighLatencyP95"}))
        assert second.executor.wait_idle(WAIT)
    assert second.restored == 1
    assert resent == "duplicate"
    assert len(railway.world.rollbacks) == 1


def test_health_and_metrics(make_service: ServiceFactory) -> None:
    service = make_service()
    with Client(service, TOKEN) as client:
        client.send(webhook("g1", **FAST_BACKEND))
        client.send(webhook("g1", **FAST_BACKEND))
        client.send(webhook("g2"), token="nope")
        assert service.executor.wait_idle(WAIT)
        health = client.http.get("/health")
        metrics = client.http.get("/metrics").text
    assert health.json() == {"status": "ok", "environment": "staging", "dryRun": False}
    assert 'rollback_webhooks_total{outcome="unauthorized"} 1.0' in metrics
    assert 'rollback_decisions_total{decision="duplicate",strategy="fast"} 1.0' in metrics
    assert (
        'rollback_actions_total{action="rollback",outcome="succeeded",service="backend"} 1.0'
        in metrics
    )
    assert 'rollback_reaction_seconds_count{strategy="fast"} 1.0' in metrics


def test_missing_platform_settings_are_listed_without_values(tmp_path: Path) -> None:
    env = {
        "ROLLBACK_CONFIG": rollback_yaml(),
        "ROLLBACK_SERVICES": services_yaml(),
        "ROLLBACK_WEBHOOK_TOKEN": TOKEN,
        "ROLLBACK_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
    }
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    message = str(error.value)
    for name in ("RAILWAY_PROJECT_ID", "VERCEL_TOKEN", "GITHUB_REPOSITORY"):
        assert name in message
    assert TOKEN not in message
    assert Settings.from_env({**env, "ROLLBACK_DRY_RUN": "true"}).dry_run
