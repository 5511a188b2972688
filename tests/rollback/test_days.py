"""Days on a fake clock, against the Railway stand-in: a release goes bad while a cause a
rollback cannot fix (a database, a third party) keeps the alert firing. Whatever happens over
the days after (Alertmanager re-sending every 4 hours, the alert resolving and firing again,
restarts, a full audit volume), each incident gets at most one automated rollback, the people
are told once, and the release that runs is the last good one, never the bad one again."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from components.railway import documents as docs
from components.railway.client import Auth, RailwayClient
from rollback.audit import AuditLog
from rollback.service import Service, build_service
from rollback.settings import Settings
from tests.monitoring.loopback import Receiver
from tests.railway.standin import ACCOUNT_TOKEN, RailwayStandIn, Rollout
from tests.rollback.conftest import TOKEN, WAIT, fast_retries, rollback_yaml, service_env
from tests.rollback.fakeclock import FakeClock
from tests.rollback.standins import Client, GitHubStandIn, VercelStandIn, platform_env, webhook

pytestmark = pytest.mark.e2e  # the service and its stand-ins on 127.0.0.1

HOUR = timedelta(hours=1).total_seconds()
DAY = 24 * HOUR
REPEAT = 4 * HOUR  # Alertmanager's repeat_interval: a firing group is re-sent this often
FAST_BACKEND = {"alertname": "HighErrorRate", "service": "backend", "strategy": "fast"}
GROUP = '{}:{alertname="HighErrorRate", service="backend"}'


def release(railway: RailwayStandIn, service: str, code: str) -> str:
    """What the app's deploy workflow does (`railway up`): deploy `code`; its deployment id."""
    world = railway.world
    service_id = next(i for i, s in world.services.items() if s["name"] == service)
    env_id = next(i for i, e in world.environments.items() if e["name"] == "staging")
    world.heads[service_id] = code
    auth = Auth("account", "Authorization", f"Bearer {ACCOUNT_TOKEN}")
    with RailwayClient(railway.url, auth, timeout=2, max_attempts=1) as client:
        deployed = client.mutate(docs.DEPLOY, {"serviceId": service_id, "environmentId": env_id})
    deployment: str = deployed["serviceInstanceDeployV2"]
    return deployment


def read(railway: RailwayStandIn, deployment: str) -> str:
    """One read of a deployment's status, as anyone watching it would (the stand-in moves it on
    along its rollout at each read)."""
    auth = Auth("account", "Authorization", f"Bearer {ACCOUNT_TOKEN}")
    with RailwayClient(railway.url, auth, timeout=2, max_attempts=1) as client:
        status: str = client.query(docs.DEPLOYMENT_STATUS, {"id": deployment})["deployment"][
            "status"
        ]
    return status


def running(railway: RailwayStandIn, service: str) -> str:
    """The code of the deployment serving `service` now."""
    world = railway.world
    service_id = next(i for i, s in world.services.items() if s["name"] == service)
    serving = [
        d for d in world.deployments.values()
        if d["serviceId"] == service_id and d["status"] == "SUCCESS"
    ]  # fmt: skip
    [current] = serving
    code: str = current["code"]
    return code


@pytest.fixture
def bad_release(railway: RailwayStandIn) -> str:
    """The backend: v1, then v2 (good), then v3, which fails: its deployment id."""
    for code in ("v1", "v2"):
        release(railway, "backend", code)
    return release(railway, "backend", "v3")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 5, 4, 9, 0, tzinfo=UTC))


@pytest.fixture
def env(
    tmp_path: Path,
    railway: RailwayStandIn,
    vercel: VercelStandIn,
    github: GitHubStandIn,
    receiver: Receiver,
) -> dict[str, str]:
    return service_env(tmp_path, receiver, platform_env(railway.url, vercel, github))


@pytest.fixture
def start(env: dict[str, str], clock: FakeClock) -> Iterator[Any]:
    """Starts the service on the fake clock, on the same audit log each time (a restart)."""

    @contextmanager
    def started() -> Iterator[tuple[Service, Client]]:
        settings = Settings.from_env(env)
        service = build_service(
            settings, now=clock.now, scheduler=clock, options=fast_retries(settings)
        )
        with Client(service, TOKEN) as client:
            yield service, client
        service.close()

    yield started


def send(service: Service, client: Client, payload: dict[str, Any]) -> str:
    decision: str = client.send(payload).json()["decision"]
    assert service.executor.wait_idle(WAIT)
    return decision


def escalations(receiver: Receiver) -> list[str]:
    return [n.body["text"] for n in receiver.received if n.path == "/slack"
            and "ESCALATED" in n.body["text"]]  # fmt: skip


def test_still_firing_for_days_rolls_back_once_and_tells_people_once(
    start: Any, railway: RailwayStandIn, bad_release: str, clock: FakeClock, receiver: Receiver
) -> None:
    alert = webhook(GROUP, **FAST_BACKEND, starts_at=clock.iso(-60))
    answers = []
    with start() as (service, client):
        first = send(service, client, alert)
        for _ in range(int(DAY // REPEAT)):  # day 0
            clock.advance(REPEAT)
            answers.append(send(service, client, alert))
    with start() as (service, client):  # a redeploy on day 1
        for _ in range(int(2 * DAY // REPEAT)):  # days 1 and 2
            clock.advance(REPEAT)
            answers.append(send(service, client, alert))
    assert first == "accepted"
    assert answers == ["escalated"] * int(3 * DAY // REPEAT)
    assert len(railway.world.rollbacks) == 1 and bad_release not in railway.world.rollbacks
    assert running(railway, "backend") == "v2"
    [told] = escalations(receiver)
    assert (
        "rolled back once (backend, at 2026-05-04 09:00:00 UTC); still failing: act by hand" in told
    )
    assert "Runbook: https://runbooks.example.test/#runbook-higherrorrate" in told
    paged = [n for n in receiver.received if n.path == "/pagerduty"]
    assert any("ESCALATED" in n.body["payload"]["summary"] for n in paged)


def test_resolved_and_fired_again_acts_once_per_incident_never_back_to_the_bad_release(
    start: Any, railway: RailwayStandIn, bad_release: str, clock: FakeClock
) -> None:
    def fired(ago: float = 60.0) -> dict[str, Any]:
        return webhook(GROUP, **FAST_BACKEND, starts_at=clock.iso(-ago))

    resolved = webhook(GROUP, "resolved", **FAST_BACKEND)
    with start() as (service, client):
        answers = [send(service, client, fired())]  # day 0: v3 fails
        clock.advance(HOUR)
        answers.append(send(service, client, resolved))
        clock.advance(2 * HOUR)  # fires again while the rollback's lock holds
        answers.append(send(service, client, fired()))
        clock.advance(REPEAT)
        answers.append(send(service, client, fired(REPEAT + 60)))  # re-sent, same incident
        clock.advance(HOUR)
        answers.append(send(service, client, resolved))
        clock.advance(2 * DAY)  # fires again, two days later
        answers.append(send(service, client, fired()))
    assert answers == ["accepted", "resolved", "escalated", "escalated", "resolved", "accepted"]
    assert len(railway.world.rollbacks) == 2  # one per incident that could act
    assert bad_release not in railway.world.rollbacks
    assert running(railway, "backend") == "v2"


def test_a_restart_on_a_full_volume_never_rolls_back_twice(
    start: Any, railway: RailwayStandIn, bad_release: str, clock: FakeClock, receiver: Receiver
) -> None:
    alert = webhook(GROUP, **FAST_BACKEND, starts_at=clock.iso(-60))

    def full(_self: AuditLog, _lines: list[str]) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    answers = []
    with pytest.MonkeyPatch.context() as volume:
        with start() as (service, client):
            volume.setattr(AuditLog, "_append", full)  # the volume fills up
            answers.append(send(service, client, alert))  # acts all the same; records held
            clock.advance(HOUR)
        with start() as (service, client):  # restarted, the volume still full
            answers.append(send(service, client, alert))
            clock.advance(DAY)
    # room again: the records held in memory were lost with the process
    with start() as (service, client):
        answers.append(send(service, client, alert))
        clock.advance(REPEAT)
        answers.append(send(service, client, alert))
    assert answers == ["accepted", "escalated", "escalated", "escalated"]
    assert len(railway.world.rollbacks) == 1
    assert running(railway, "backend") == "v2"
    told = escalations(receiver)
    assert len(told) == 2  # once per run that could not know (the last one remembers)
    assert "could not write that it started" in told[0]  # the volume still full: it never acts
    assert "it may have acted on this alert already" in told[1]


def test_a_failed_freeze_is_retried_with_backoff_until_it_is_set(
    env: dict[str, str], github: GitHubStandIn, clock: FakeClock, receiver: Receiver
) -> None:
    """GitHub is down for a while: the immediate plan rolls back and reports the freeze NOT
    set; the freeze is tried again, each time later, and set once GitHub answers."""
    immediate = {"timeout": "1s", "actions": ["rollback_all_services", "freeze_deployments"],
                 "notifications": ["pagerduty", "slack", "email"]}  # fmt: skip
    Path(env["ROLLBACK_CONFIG_FILE"]).write_text(rollback_yaml(immediate=immediate))
    github.fail_next = 10_000
    settings = Settings.from_env(env)
    service = build_service(
        settings, now=clock.now, scheduler=clock, options=fast_retries(settings)
    )
    alert = webhook(GROUP.replace("HighErrorRate", "HealthCheckFailed"), starts_at=clock.iso(-60))
    with Client(service, TOKEN) as client:
        assert send(service, client, alert) == "accepted"
        rounds = []
        for wait in (60, 120, 240):  # the backoff doubles
            clock.advance(wait - 1)
            rounds.append(github.variables.get("staging", {}).get("DEPLOY_FREEZE"))
            if wait == 240:
                github.fail_next = 0  # GitHub answers again
            clock.advance(1)
        metrics = client.http.get("/metrics").text
    service.close()
    assert rounds == [None, None, None]
    assert github.variables["staging"]["DEPLOY_FREEZE"] == "true"
    texts = [n.body["text"] for n in receiver.received if n.path == "/slack"]
    assert any("the deploy freeze is NOT set: retrying from" in t for t in texts)
    assert any("deploy freeze set after" in t for t in texts)
    assert 'rollback_actions_total{action="freeze",outcome="failed",service="all"} 3.0' in metrics


def test_a_rollback_goes_back_to_the_release_seen_healthy_never_to_one_that_crashed(
    start: Any, railway: RailwayStandIn, clock: FakeClock
) -> None:
    """Day 0: v1, then v2 fails and is rolled back; the incident resolves while v1's copy serves,
    so it is known healthy. Day 2: v3 crashes and v4 replaces it, and v4 fails too. Railway shows
    v3 REMOVED like any replaced release ("older deploys in a `Crashed` and `Success` state are
    eventually removed", railwayapp/docs src/docs/reference/deployments.md), so only what the
    service saw healthy tells it apart: the rollback goes to v1, never to v3."""

    def fired() -> dict[str, Any]:
        return webhook(GROUP, **FAST_BACKEND, starts_at=clock.iso(-60))

    resolved = webhook(GROUP, "resolved", **FAST_BACKEND)
    release(railway, "backend", "v1")
    release(railway, "backend", "v2")
    with start() as (service, client):
        answers = [send(service, client, fired())]  # day 0: v2 fails
        clock.advance(HOUR)
        answers.append(send(service, client, resolved))  # v1's copy serves: healthy
    clock.advance(2 * DAY)
    crashed = release(railway, "backend", "v3")
    bad = release(railway, "backend", "v4")
    with start() as (service, client):  # a restart: what it saw healthy is in its audit log
        answers.append(send(service, client, fired()))
    assert answers == ["accepted", "resolved", "accepted"]
    assert railway.world.deployments[crashed]["status"] == "REMOVED"
    assert crashed not in railway.world.rollbacks and bad not in railway.world.rollbacks
    assert running(railway, "backend") == "v1"


def test_a_rollback_cancels_a_deploy_in_flight_which_then_never_goes_live(
    start: Any, railway: RailwayStandIn, clock: FakeClock
) -> None:
    """v2 fails while `railway up` of v3 is building: the rollback cancels v3 first (GitHub
    cancelling the deploy job would not stop Railway's build), then goes back to v1."""
    release(railway, "backend", "v1")
    release(railway, "backend", "v2")
    railway.rollouts.append(Rollout(("BUILDING", "DEPLOYING", "SUCCESS")))
    building = release(railway, "backend", "v3")
    with start() as (service, client):
        assert send(service, client, webhook(GROUP, **FAST_BACKEND)) == "accepted"
        records = [r for r in service.audit.records() if r.get("event") == "action"]
    for _ in range(3):  # Railway goes on with what it was given: here, nothing
        read(railway, building)
    assert running(railway, "backend") == "v1"
    assert railway.world.cancels == [building]
    [action] = records
    assert f"cancelled the deployment(s) in flight {building}" in action["detail"]
