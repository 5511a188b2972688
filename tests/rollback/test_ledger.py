"""The ledger's one pure step, as tables on a fake clock: overlapping groups, locks, the settle
time before "still firing" escalates, incidents that resolve and fire again, a memory with a
gap, a freeze that keeps failing, and days of re-sends. Each row is what happens, at what time,
and what the group answers; the effects say what would run and who is told."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollback.alerts import Webhook
from rollback.ledger import (
    Book,
    Context,
    Effect,
    Event,
    Finished,
    Fired,
    FreezeTried,
    Memory,
    Observe,
    Report,
    Resolved,
    RetryFreeze,
    Run,
    Served,
    Step,
    StepDone,
    Watch,
    WatchOver,
    known_healthy,
    pruned,
    restore,
    step,
)
from rollback.plan import Plan, decide
from rollback.policy import load_policy
from tests.rollback.conftest import rollback_yaml, services_yaml
from tests.rollback.standins import webhook

HOUR = 3600.0
DAY = 24 * HOUR
POLICY = load_policy(rollback_yaml(), services_yaml())
ALERTS = {  # group -> (alertname, service, strategy)
    "health": ("HealthCheckFailed", "backend", "immediate"),
    "errors": ("HighErrorRate", "backend", "fast"),
    "latency": ("HighLatencyP95", "backend", "fast"),
    "front": ("HighLatencyP95", "frontend", "fast"),
    "conversion": ("ConversionRateDrop", "frontend", "gradual"),
}
T0 = 1_800_000_000.0  # the first webhook; every row's time is seconds after it


def context(**changes: Any) -> Context:
    given: dict[str, Any] = {
        "environment": "staging",
        "dry_run": False,
        "lockout": DAY,
        "settle": 600.0,
        "freeze_retry": 60.0,
        "freeze_retry_max": 1800.0,
        **changes,
    }
    return Context(**given)


def plan(group: str, started: float) -> Plan:
    name, service, strategy = ALERTS[group]
    payload = webhook(group, alertname=name, service=service, strategy=strategy)
    payload["alerts"][0]["startsAt"] = datetime.fromtimestamp(started, UTC).isoformat()
    found = decide(Webhook.model_validate(payload), POLICY, timedelta(minutes=5))
    assert isinstance(found, Plan)
    return found


@dataclass
class Sim:
    """The book, stepped on a fake clock; every effect kept."""

    ctx: Context = field(default_factory=context)
    book: Book = field(default_factory=Book)
    effects: list[Effect] = field(default_factory=list)

    def at(self, seconds: float, event: Event) -> str:
        outcome = step(self.book, event, T0 + seconds, self.ctx)
        self.book = outcome.book
        self.effects += outcome.effects
        return outcome.decision

    def fire(self, seconds: float, group: str, started: float | None = None) -> str:
        """`group` fires at `seconds`, its alert having started at `started` (default: just
        before the first webhook: the same incident at every re-send)."""
        return self.at(seconds, Fired(plan(group, T0 + (started or -60.0)), 0.0))

    def done(self, seconds: float, group: str, outcome: str = "succeeded") -> str:
        """The group's plan runs and finishes with every step `outcome`."""
        active = self.book.groups[group].active
        assert active is not None
        for service in active.services:
            self.at(seconds, StepDone(group, "rollback", service, _step(outcome)))
        if active.freeze:
            self.at(seconds, StepDone(group, "freeze", "all", _step(outcome)))
        return self.at(seconds, Finished(group, 1.0))

    def phase(self, group: str) -> str:
        return self.book.groups[group].phase

    def runs(self) -> list[str]:
        return [e.key for e in self.effects if isinstance(e, Run)]

    def told(self, text: str) -> int:
        return sum(
            1 for e in self.effects if isinstance(e, Report) and e.tell and text in e.tell.text
        )


def _step(outcome: str) -> Step:
    return Step.model_validate({"outcome": outcome, "attempts": 1, "detail": outcome})


# (what happens: (seconds, action, group, started)), the answers, the phases at the end
CASES: dict[str, tuple[list[tuple[float, str, str, float | None]], list[str], dict[str, str]]] = {
    "re-sent while acting": (
        [(0, "fire", "errors", None), (1, "fire", "errors", None)],
        ["accepted", "duplicate"],
        {"errors": "acting"},
    ),
    "re-sent within the settle time, then after it": (
        [
            (0, "fire", "errors", None),
            (10, "done", "errors", None),
            (300, "fire", "errors", None),
            (700, "fire", "errors", None),
            (4 * HOUR, "fire", "errors", None),
        ],
        ["accepted", "", "duplicate", "escalated", "escalated"],
        {"errors": "escalated"},
    ),
    "another group on a locked service is escalated, also after the lock": (
        [
            (0, "fire", "errors", None),
            (10, "done", "errors", None),
            (60, "fire", "latency", 30),
            (2 * DAY, "fire", "latency", 30),
        ],
        ["accepted", "", "escalated", "escalated"],
        {"errors": "acted", "latency": "escalated"},
    ),
    "fired anew after the lock acts": (
        [
            (0, "fire", "errors", None),
            (10, "done", "errors", None),
            (2 * DAY, "fire", "latency", 2 * DAY - 30),
        ],
        ["accepted", "", "accepted"],
        {"latency": "acting"},
    ),
    "an urgent group waits for a rollback under way, then is escalated past its lock": (
        [
            (0, "fire", "front", None),
            (1, "fire", "health", None),
            (2, "done", "front", None),
            (3, "done", "health", None),
        ],
        ["accepted", "accepted", "", ""],
        {"front": "acted", "health": "escalated"},
    ),
    "an urgent group takes a service over from a watch": (
        [(0, "fire", "conversion", None), (1, "fire", "front", None)],
        ["accepted", "accepted"],
        {"conversion": "waiting", "front": "acting"},
    ),
    "resolved while watched; a late re-send; fired anew": (
        [
            (0, "fire", "conversion", None),
            (60, "resolve", "conversion", None),
            (61, "fire", "conversion", None),
            (HOUR, "fire", "conversion", HOUR - 30),
        ],
        ["accepted", "resolved", "duplicate", "accepted"],
        {"conversion": "watching"},
    ),
    "resolved after acting; fired anew within the lock": (
        [
            (0, "fire", "errors", None),
            (10, "done", "errors", None),
            (HOUR, "resolve", "errors", None),
            (2 * HOUR, "fire", "errors", 2 * HOUR - 30),
        ],
        ["accepted", "", "resolved", "escalated"],
        {"errors": "escalated"},
    ),
    "a failed rollback is not tried again by a re-send": (
        [
            (0, "fire", "errors", None),
            (10, "done-failed", "errors", None),
            (60, "fire", "errors", None),
            (HOUR, "fire", "errors", None),
        ],
        ["accepted", "", "duplicate", "escalated"],
        {"errors": "escalated"},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_ledger_step(case: str) -> None:
    rows, answers, phases = CASES[case]
    sim = Sim()
    got = []
    for seconds, action, group, started in rows:
        if action == "fire":
            got.append(sim.fire(seconds, group, None if started is None else started))
        elif action == "resolve":
            got.append(sim.at(seconds, Resolved(group, "resolved")))
        elif action == "watch over":
            got.append(sim.at(seconds, WatchOver(group)))
        else:
            got.append(
                sim.done(seconds, group, "failed" if action == "done-failed" else "succeeded")
            )
    assert got == answers
    assert {group: sim.phase(group) for group in phases} == phases
    admitted = [
        (e.key, e.state.opened) for e in sim.effects
        if isinstance(e, Report) and e.event == "admitted" and e.state is not None
    ]  # fmt: skip
    assert len(admitted) == len(set(admitted))  # no incident is admitted twice


def test_days_of_resends_act_once_and_tell_people_once() -> None:
    sim = Sim()
    answers = [sim.fire(0, "errors")]
    sim.done(10, "errors")
    answers += [sim.fire(n * 4 * HOUR, "errors") for n in range(1, 3 * 6 + 1)]  # three days
    assert answers == ["accepted", *["escalated"] * 18]
    assert sim.runs() == ["errors"]
    assert sim.told("ESCALATED") == 1
    assert sim.told("rolled back once (backend") == 1


def test_a_memory_with_a_gap_acts_only_on_what_started_after_the_start() -> None:
    sim = Sim(context(memory=Memory(started=T0 + 100, whole=False)))
    assert sim.fire(200, "errors", started=50) == "escalated"  # before the start: unknown
    assert sim.fire(200, "front", started=150) == "accepted"  # after it: this run saw it all
    assert sim.fire(200 + 4 * HOUR, "errors", started=50) == "escalated"
    assert sim.runs() == ["front"]
    assert sim.told("it may have acted on this alert already") == 1


def test_a_memory_with_a_gap_also_escalates_a_known_group_that_fired_anew_before_the_start() -> (
    None
):
    """The log knows an earlier incident of the group, resolved; the group fired again before
    this run started, and what the last run did about that may be lost with its records."""
    sim = Sim()
    sim.fire(0, "errors")
    sim.done(10, "errors")
    sim.at(HOUR, Resolved("errors", "resolved"))
    sim.ctx = context(memory=Memory(started=T0 + 3 * DAY, whole=False))
    assert sim.fire(3 * DAY + 60, "errors", started=2 * DAY) == "escalated"
    assert sim.fire(3 * DAY + 120, "errors", started=3 * DAY + 90) == "accepted"  # after it
    assert sim.runs() == ["errors", "errors"]


def test_a_failed_freeze_is_retried_with_backoff_until_it_is_set() -> None:
    sim = Sim()
    sim.fire(0, "health")
    sim.done(10, "health", "failed")
    retries = [e.at - T0 for e in sim.effects if isinstance(e, RetryFreeze)]
    for _ in range(6):
        sim.at(retries[-1], FreezeTried("health", _step("failed")))
        retries = [e.at - T0 for e in sim.effects if isinstance(e, RetryFreeze)]
    sim.at(retries[-1], FreezeTried("health", _step("succeeded")))
    waits = [b - a for a, b in itertools.pairwise(retries)]
    assert waits == [120.0, 240.0, 480.0, 960.0, 1800.0, 1800.0]  # doubling, then the cap
    assert sim.book.groups["health"].freeze_retry is None
    assert sim.told("the deploy freeze is NOT set: retrying") == 1
    assert sim.told("deploy freeze set after") == 1


def test_a_freeze_retry_ends_with_the_incident() -> None:
    sim = Sim()
    sim.fire(0, "health")
    sim.done(10, "health", "failed")
    assert sim.at(HOUR, Resolved("health", "resolved")) == "resolved"
    assert sim.book.groups["health"].freeze_retry is None
    assert sim.told("is no longer retried") == 1
    before = len(sim.effects)
    sim.at(HOUR + 60, FreezeTried("health", _step("failed")))  # a retry already on its way
    assert sim.effects[before:] == []


def test_a_group_restored_waiting_in_a_run_without_its_started_record_never_acts() -> None:
    """A restart while the audit volume fails: the log holds a group waiting for another's
    rollback, and this run could not write that it started. When the rollback it waited for
    fails (no lock) and when it is re-sent, it is escalated: this run acts on nothing."""
    sim = Sim()
    assert (sim.fire(0, "front"), sim.fire(1, "conversion")) == ("accepted", "waiting")
    assert sim.phase("conversion") == "waiting"
    sim.ctx = context(memory=Memory(started=T0 + 5, recorded=False))  # the restart
    before = len(sim.effects)
    sim.done(10, "front", "failed")  # the claim goes: what waited would be admitted
    assert sim.fire(20, "conversion") == "escalated"
    assert sim.fire(20 + HOUR, "conversion") == "escalated"
    after = sim.effects[before:]
    assert [e for e in after if isinstance(e, (Run, Watch))] == []
    assert sim.phase("conversion") == "escalated"
    assert sim.told("could not write that it started") == 1


def test_what_serves_when_an_incident_resolves_is_known_healthy_for_days() -> None:
    sim = Sim()
    sim.fire(0, "errors")
    sim.done(10, "errors")
    sim.at(HOUR, Resolved("errors", "resolved"))
    [observe] = [e for e in sim.effects if isinstance(e, Observe)]
    assert observe.services == ("backend",)
    sim.at(HOUR + 1, Served("errors", "backend", "copy-of-v1"))
    assert known_healthy(sim.book, "backend") == {"copy-of-v1"}
    # a restart reads it back from the audit records; days later it is still known
    records = [
        {"state": e.state.record()} for e in sim.effects if isinstance(e, Report) and e.state
    ]
    restored = restore(records)
    assert known_healthy(pruned(restored, T0 + 20 * DAY, DAY), "backend") == {"copy-of-v1"}
    assert known_healthy(pruned(restored, T0 + 31 * DAY, DAY), "backend") == frozenset()
    # an answer that comes after the group fired again proves nothing
    sim.fire(2 * DAY, "errors", started=2 * DAY - 30)
    sim.at(2 * DAY + 1, Served("errors", "backend", "v5"))
    assert known_healthy(sim.book, "backend") == {"copy-of-v1"}


def test_no_observation_while_a_rollback_is_under_way() -> None:
    sim = Sim()
    sim.fire(0, "errors")  # acting: its rollback runs
    sim.at(5, Resolved("errors", "resolved"))
    assert [e for e in sim.effects if isinstance(e, Observe)] == []
