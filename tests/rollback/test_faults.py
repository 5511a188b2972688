"""Faults: a full volume, an audit write that fails once, the service killed (SIGKILL) between
the decision and the call or between the call and its outcome, or at every start, a bug in the
middle of a plan, records of one group written out of order. Each ends with the right rollback
done once and people told the truth."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rollback import messages
from rollback.alerts import Webhook
from rollback.audit import AuditLog
from rollback.ledger import MAX_RESUMES, Book, Context, Finished, Fired, restore, step
from rollback.plan import Plan, decide
from rollback.policy import load_policy
from tests.monitoring import loopback
from tests.monitoring.loopback import Notification, Receiver
from tests.rollback.conftest import (
    TOKEN,
    WAIT,
    ServiceFactory,
    audit_events,
    rollback_yaml,
    service_env,
    services_yaml,
)
from tests.rollback.process import ServiceProcess
from tests.rollback.standins import (
    Client,
    GitHubStandIn,
    Hold,
    RecordingActions,
    VercelStandIn,
    bearer,
    platform_env,
    webhook,
)

pytestmark = pytest.mark.e2e  # the service and its stand-ins on 127.0.0.1

FRONTEND = webhook("g-frontend", alertname="HighLatencyP95", service="frontend", strategy="fast")
NOWHERE = "http://127.0.0.1:9"  # Railway: these tests roll back the frontend only
PROMOTE = r"/v10/projects/\w+/promote/\w+"


def text_of(note: Notification) -> str:
    text: str = note.body.get("text", "")
    return text


@contextmanager
def running(env: dict[str, str], *, fsize: int | None = None) -> Iterator[ServiceProcess]:
    process = ServiceProcess(env, fsize=fsize)
    try:
        yield process.wait_ready()
    finally:
        process.stop()


def post(process: ServiceProcess, payload: dict[str, Any]) -> str:
    answer = loopback.post(
        f"{process.url}/v1/alertmanager", json=payload, headers=bearer(TOKEN), timeout=10
    )
    decision: str = answer.json()["decision"]
    return decision


def test_a_volume_full_at_start_keeps_the_service_up_and_hands_alerts_to_people(
    tmp_path: Path, vercel: VercelStandIn, github: GitHubStandIn, receiver: Receiver
) -> None:
    env = service_env(tmp_path, receiver, platform_env(NOWHERE, vercel, github))
    log = Path(env["ROLLBACK_AUDIT_LOG"])
    limit = 256 * 1024
    log.write_text(("x" * 1023 + "\n") * (limit // 1024))  # the volume is full
    with running(env, fsize=limit) as service:  # it starts all the same
        health = loopback.get(f"{service.url}/health")
        # Its start is not on the volume, so a restart could not tell what it did: an alert
        # from before the start and one that starts now both go to people, never acted on.
        assert post(service, FRONTEND) == "escalated"
        fresh = webhook("g-new", alertname="HighLatencyP95", service="frontend", strategy="fast",
                        starts_at=datetime.now(UTC).isoformat())  # fmt: skip
        assert post(service, fresh) == "escalated"
        page = receiver.wait_for(lambda n: "could not write that it started" in text_of(n), WAIT)
        still = loopback.get(f"{service.url}/health")
    with running(env, fsize=limit) as restarted:  # and it restarts
        again = loopback.get(f"{restarted.url}/health")
        assert post(restarted, fresh) == "escalated"
    assert vercel.promotions() == []
    assert health.status_code == still.status_code == again.status_code == 503
    assert "the audit log cannot be written (EFBIG" in health.json()["problems"][0]
    assert "WARNING: the audit log cannot be written (EFBIG" in text_of(page)
    assert log.stat().st_size == limit


def test_a_run_whose_start_cannot_be_recorded_escalates_and_never_acts(
    make_service: ServiceFactory,
    vercel: VercelStandIn,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The run before stopped cleanly; this one starts on a failing volume: its `started` record
    # is lost with the process, so a restart would find the log "whole" and know nothing of it.
    make_service().close()

    def full(_self: AuditLog, _lines: list[str]) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(AuditLog, "_append", full)
    service = make_service()
    fresh = webhook("g-new", alertname="HighLatencyP95", service="frontend", strategy="fast",
                    starts_at=datetime.now(UTC).isoformat())  # fmt: skip
    with Client(service, TOKEN) as client:
        decision = client.send(fresh).json()["decision"]
    assert decision == "escalated"
    assert vercel.promotions() == []
    page = receiver.wait_for(lambda n: "ESCALATED" in text_of(n), WAIT)
    assert "could not write that it started" in text_of(page)
    assert "act by hand" in text_of(page)


def test_an_audit_write_that_fails_once(
    make_service: ServiceFactory, vercel: VercelStandIn, receiver: Receiver, tmp_path: Path
) -> None:
    service = make_service()
    log, saved = service.audit.path, tmp_path / "saved.jsonl"
    os.replace(log, saved)
    log.symlink_to("/dev/full")  # every write there fails with ENOSPC
    vercel.hold = hold = Hold("GET", r"/v9/projects/\w+")
    with Client(service, TOKEN) as client:
        assert client.send(FRONTEND).json()["decision"] == "accepted"  # its record is not written
        assert hold.reached.wait(WAIT)
        failing = client.http.get("/health")
        os.replace(saved, log)  # room again
        hold.release.set()
        assert service.executor.wait_idle(WAIT)
        healthy = client.http.get("/health")
        resent = client.send(FRONTEND).json()["decision"]
    assert failing.status_code == 503 and "(ENOSPC" in failing.json()["problems"][0]
    assert healthy.status_code == 200 and resent == "duplicate"
    assert vercel.promotions() == ["dpl_2"]
    events = [r["event"] for r in service.audit.records()]
    assert events.index("admitted") < events.index("finished")  # held, then written in order
    announced = receiver.wait_for(lambda n: "rolling back frontend" in text_of(n), WAIT)
    assert "WARNING: the audit log cannot be written (ENOSPC" in text_of(announced)
    report = receiver.wait_for(lambda n: "done" in text_of(n), WAIT)
    assert "WARNING" not in text_of(report)
    second = make_service()  # a restart knows, from the records written late
    with Client(second, TOKEN) as client:
        assert client.send(FRONTEND).json()["decision"] == "duplicate"
    assert vercel.promotions() == ["dpl_2"]


# where the service is killed: (the call held, held after it is applied, what the resumed step says)
KILLED = {
    "before-the-call": (Hold("GET", r"/v9/projects/\w+"), "promoted dpl_2 (was dpl_3)"),
    "after-the-call": (Hold("POST", PROMOTE, after=True), "production already at dpl_2"),
}


@pytest.mark.parametrize("where", list(KILLED))
def test_killed_mid_rollback_it_carries_on_once(
    tmp_path: Path, vercel: VercelStandIn, github: GitHubStandIn, receiver: Receiver, where: str
) -> None:
    hold, detail = KILLED[where]
    vercel.hold = hold
    env = service_env(tmp_path, receiver, platform_env(NOWHERE, vercel, github))
    with running(env) as first:
        assert post(first, FRONTEND) == "accepted"
        assert hold.reached.wait(WAIT)
        first.kill()
    hold.release.set()
    promoted = vercel.promotions()
    with running(env) as second:  # carries on with the plan the audit log shows unfinished
        report = receiver.wait_for(lambda n: "done" in text_of(n), WAIT)
        assert post(second, FRONTEND) == "duplicate"
    assert promoted == ([] if where == "before-the-call" else ["dpl_2"])
    assert vercel.promotions() == ["dpl_2"]  # once
    assert f"ok rollback frontend: {detail}" in text_of(report)
    assert "(carried on after 1 restart(s) of the rollback service)" in text_of(report)


def test_a_plan_cut_short_at_every_start_is_given_up(
    tmp_path: Path, vercel: VercelStandIn, github: GitHubStandIn, receiver: Receiver
) -> None:
    """A plan that stops the service each time it runs (say it makes it run out of memory)
    is not carried on forever: after MAX_RESUMES restarts mid-plan it is reported failed."""
    env = service_env(tmp_path, receiver, platform_env(NOWHERE, vercel, github))
    for start in range(MAX_RESUMES + 1):
        vercel.hold = hold = Hold("GET", r"/v9/projects/\w+")
        with running(env) as service:
            if start == 0:
                post(service, FRONTEND)
            assert hold.reached.wait(WAIT)
            service.kill()
        hold.release.set()
    with running(env):
        report = receiver.wait_for(lambda n: "FAILED" in text_of(n), WAIT)
    assert f"cut short by {MAX_RESUMES} restarts of the service" in text_of(report)
    assert vercel.promotions() == []


def test_a_plan_interrupted_by_a_bug_is_carried_on_by_the_next_resend(
    make_recorded: ServiceFactory,
    platforms: RecordingActions,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug after the steps (here: writing the report fails once) leaves the plan unfinished;
    Alertmanager's next re-send carries it on: nothing is done twice, and the report goes."""
    report = messages.report
    calls: list[int] = []

    def broken_once(*args: Any) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return report(*args)

    monkeypatch.setattr(messages, "report", broken_once)
    service = make_recorded()
    with Client(service, TOKEN) as client:
        assert client.send(FRONTEND).json()["decision"] == "accepted"
        assert service.executor.wait_idle(WAIT)
        [interrupted] = audit_events(service, "interrupted")
        assert client.send(FRONTEND).json()["decision"] == "duplicate"  # and it carries on
        assert service.executor.wait_idle(WAIT)
    assert interrupted["detail"].startswith("unexpected RuntimeError")
    assert platforms.rolled_back() == ["frontend"]  # once
    done = receiver.wait_for(lambda n: "done" in text_of(n), WAIT)
    assert "ok rollback frontend: rolled frontend back to v2" in text_of(done)
    assert [r["outcome"] for r in audit_events(service, "finished")] == ["succeeded"]


def test_a_restart_keeps_the_newest_state_of_a_group_whatever_the_order_of_its_records() -> None:
    """Two threads may write records about one group in either order (a take-over racing the
    watch's own timer): the ledger keeps the newest state, not the last line."""
    day = timedelta(hours=24)
    plan = decide(
        Webhook.model_validate(FRONTEND), load_policy(rollback_yaml(), services_yaml()), day
    )
    assert isinstance(plan, Plan)
    context = Context("staging", dry_run=False, lockout=day.total_seconds(), settle=600,
                      freeze_retry=60, freeze_retry_max=1800)  # fmt: skip
    admitted = step(Book(), Fired(plan, 0.0), 1_000.0, context)
    running = admitted.book.groups[plan.group_key]
    finished = step(admitted.book, Finished(plan.group_key, 1.0), 1_001.0, context)
    done = finished.book.groups[plan.group_key]
    restored = restore(
        [
            {"event": "finished", "state": done.record()},
            {"event": "admitted", "state": running.record()},  # older, written later
        ]
    ).groups[plan.group_key]
    assert restored.active is None and restored.phase == "acted"  # finished, not running again
