"""Alerts that overlap: two groups about the same service, or about different ones, while the
first is watched, acted on or done; resolved while watching; across a restart. Whatever the
order, a service is rolled back once, an urgent alert is never swallowed by a watch, and no
message claims a rollback that did not happen."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from rollback.service import Service
from tests.monitoring.loopback import Receiver
from tests.rollback.conftest import TOKEN, WAIT, ServiceFactory, audit_events
from tests.rollback.standins import Client, RecordingActions, webhook

pytestmark = pytest.mark.e2e  # the service and the Slack stand-in on 127.0.0.1

ALL = ("frontend", "backend", "worker")
# Alert names by strategy; a second group of the same strategy takes the second name.
ALERTNAME = {
    "immediate": ("HealthCheckFailed", "ReadinessFailed"),
    "fast": ("HighErrorRate", "HighLatencyP95"),
    "gradual": ("ConversionRateDrop", "SignupRateDrop"),
}


def now() -> str:
    """A startsAt for an alert that fires anew, after everything sent before."""
    return datetime.now(UTC).isoformat()


def key(strategy: str, service: str, n: int = 0) -> str:
    return f'{{}}:{{alertname="{ALERTNAME[strategy][n]}", service="{service}"}}'


def describe(strategy: str, service: str, n: int = 0) -> str:
    return f"{strategy} rollback for {ALERTNAME[strategy][n]}/{service}"


def send(client: Client, strategy: str, service: str, status: str = "firing", n: int = 0) -> str:
    name = ALERTNAME[strategy][n]
    payload = webhook(
        key(strategy, service, n), status, alertname=name, service=service, strategy=strategy
    )
    answer = client.send(payload)
    assert answer.status_code == 200
    decision: str = answer.json()["decision"]
    return decision


def rolled_back_by(service: Service) -> dict[str, set[str]]:
    """groupKey -> services it rolled back, from the audit log."""
    done: dict[str, set[str]] = {}
    for record in audit_events(service, "action"):
        if record["action"] == "rollback" and record["outcome"] == "succeeded":
            done.setdefault(record["groupKey"], set()).add(record["service"])
    return done


def slack_texts(receiver: Receiver) -> list[str]:
    return [n.body["text"] for n in receiver.received if n.path == "/slack"]


CLAIM = re.compile(r"NOT rolling back (\w+) again: the (.+?) rolled it back automatically")


def assert_truthful(service: Service, receiver: Receiver, groups: dict[str, str]) -> None:
    """Every message that says another alert rolled a service back names one that did, and
    every report line `ok rollback X` belongs to a group that rolled X back.
    `groups`: description -> group key."""
    done = rolled_back_by(service)
    for text in slack_texts(receiver):
        for name, by in CLAIM.findall(text):
            assert name in done.get(groups[by], set()), f"false claim in: {text}"
        head = text.splitlines()[0]
        for name in re.findall(r"^ok rollback (\w+)", text, re.MULTILINE):
            owner = next(k for d, k in groups.items() if d in head)
            assert name in done.get(owner, set()), f"false report in: {text}"


# first alert on the frontend, then a second one on `second_on`: what each rolls back
EXPECTED: dict[tuple[str, str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("immediate", "immediate", "frontend"): (ALL, ()),
    ("immediate", "fast", "frontend"): (ALL, ()),
    ("immediate", "gradual", "frontend"): (ALL, ()),
    ("fast", "immediate", "frontend"): (("frontend",), ("backend", "worker")),
    ("fast", "fast", "frontend"): (("frontend",), ()),
    ("fast", "gradual", "frontend"): (("frontend",), ()),
    ("gradual", "immediate", "frontend"): ((), ALL),  # takes the watched frontend over
    ("gradual", "fast", "frontend"): ((), ("frontend",)),  # takes the watched frontend over
    ("gradual", "gradual", "frontend"): (("frontend",), ()),  # waits for the first watch
    ("immediate", "immediate", "backend"): (ALL, ()),
    ("immediate", "fast", "backend"): (ALL, ()),
    ("immediate", "gradual", "backend"): (ALL, ()),
    ("fast", "immediate", "backend"): (("frontend",), ("backend", "worker")),
    ("fast", "fast", "backend"): (("frontend",), ("backend",)),
    ("fast", "gradual", "backend"): (("frontend",), ("backend",)),
    ("gradual", "immediate", "backend"): ((), ALL),  # takes the watched frontend over
    ("gradual", "fast", "backend"): (("frontend",), ("backend",)),
    ("gradual", "gradual", "backend"): (("frontend",), ("backend",)),
}


@pytest.mark.parametrize("case", list(EXPECTED), ids="-".join)
def test_two_strategies_overlapping(
    make_recorded: ServiceFactory,
    platforms: RecordingActions,
    receiver: Receiver,
    case: tuple[str, str, str],
) -> None:
    """The second alert comes while the first is watched (gradual) or after it acted."""
    first, second, second_on = case
    # The second alert must come while the first is watched: 300 ms was too short a window for
    # two requests on a loaded machine (the watch ended and acted first, once in a full run).
    service = make_recorded(ROLLBACK_GRADUAL_WATCH="2s") if first == "gradual" else make_recorded()
    a, b = key(first, "frontend"), key(second, second_on, 1)
    with Client(service, TOKEN) as client:
        assert send(client, first, "frontend") == "accepted"
        if first != "gradual":
            assert service.executor.wait_idle(WAIT)
        answer = send(client, second, second_on, n=1)
        assert service.executor.wait_idle(WAIT)

    by_a, by_b = EXPECTED[first, second, second_on]
    done = rolled_back_by(service)
    assert done.get(a, set()) == set(by_a)
    assert done.get(b, set()) == set(by_b)
    assert sorted(platforms.rolled_back()) == sorted([*by_a, *by_b])  # each service once at most
    freezes = [s for s in (first, second) if s == "immediate"]
    assert platforms.calls.count(("freeze", "all")) == len(freezes)
    # refused: it waits for a watch (first gradual), or is escalated past a rollback's lock
    refused = "waiting" if first == "gradual" else "escalated"
    assert answer == ("accepted" if by_b or second == "immediate" else refused)
    if first == "gradual" and not by_a:  # taken over: the watch is called off, and said so
        [cancelled] = [r for r in audit_events(service, "cancelled") if r["groupKey"] == a]
        assert cancelled["detail"] == f"taken over by the {describe(second, second_on, 1)}"
        called_off = f"the watch of frontend is called off: the {describe(second, second_on, 1)}"
        assert any(called_off in text for text in slack_texts(receiver))
    groups = {describe(first, "frontend"): a, describe(second, second_on, 1): b}
    assert_truthful(service, receiver, groups)


@pytest.mark.parametrize("lands", [True, False], ids=["lands", "fails"])
def test_an_urgent_alert_waits_for_a_rollback_in_progress_and_takes_over_if_it_fails(
    make_recorded: ServiceFactory, platforms: RecordingActions, receiver: Receiver, lands: bool
) -> None:
    platforms.hold["frontend"] = threading.Event()
    if not lands:
        platforms.fail.add("frontend")
    service = make_recorded()
    fast, health = key("fast", "frontend"), key("immediate", "backend")
    with Client(service, TOKEN) as client:
        send(client, "fast", "frontend")
        assert send(client, "immediate", "backend") == "accepted"
        waiting = receiver.wait_for(lambda n: "is rolling it back" in n.body.get("text", ""), WAIT)
        platforms.hold["frontend"].set()
        assert service.executor.wait_idle(WAIT)
    assert (
        f"NOT rolling back frontend now: the {describe('fast', 'frontend')} is rolling it back"
        in (waiting.body["text"])
    )
    done = rolled_back_by(service)
    assert done.get(fast, set()) == ({"frontend"} if lands else set())
    assert done[health] == ({"backend", "worker"} if lands else set(ALL))
    assert sorted(platforms.rolled_back()) == sorted(ALL)  # the frontend once, either way
    groups = {describe("fast", "frontend"): fast, describe("immediate", "backend"): health}
    assert_truthful(service, receiver, groups)


@pytest.mark.parametrize("resolves", [0, 1], ids=["the-watch-resolves", "the-other-resolves"])
def test_two_watches_of_one_service_take_turns(
    make_recorded: ServiceFactory, platforms: RecordingActions, receiver: Receiver, resolves: int
) -> None:
    """The second waits for the first watch; whichever resolves, the other one acts."""
    service = make_recorded(ROLLBACK_GRADUAL_WATCH="1s")
    with Client(service, TOKEN) as client:
        send(client, "gradual", "frontend")
        assert send(client, "gradual", "frontend", n=1) == "waiting"
        send(client, "gradual", "frontend", "resolved", n=resolves)
        assert service.executor.wait_idle(WAIT)
    assert rolled_back_by(service) == {key("gradual", "frontend", 1 - resolves): {"frontend"}}
    assert platforms.rolled_back() == ["frontend"]
    cancelled = [r["groupKey"] for r in audit_events(service, "cancelled")]
    assert cancelled == ([key("gradual", "frontend")] if resolves == 0 else [])
    # the second is told it waits; when the first resolves, that it watches, then rolled back
    title = f"[staging] {describe('gradual', 'frontend', 1)}"
    told = [t.splitlines()[0] for t in slack_texts(receiver) if t.startswith(title)]
    then = [title, f"{title}: done"] if resolves == 0 else []
    assert told == [f"{title}: not acting now", *then]


def test_a_resolve_after_a_take_over_changes_nothing(
    make_recorded: ServiceFactory, platforms: RecordingActions
) -> None:
    service = make_recorded()
    with Client(service, TOKEN) as client:
        send(client, "gradual", "frontend")
        send(client, "fast", "frontend")
        assert service.executor.wait_idle(WAIT)
        assert send(client, "gradual", "frontend", "resolved") == "resolved"
        again = webhook(key("gradual", "frontend"), alertname=ALERTNAME["gradual"][0],
                        service="frontend", strategy="gradual", starts_at=now())  # fmt: skip
        assert client.send(again).json()["decision"] == "escalated"  # fires again: locked
        assert service.executor.wait_idle(WAIT)
    assert platforms.rolled_back() == ["frontend"]


def test_a_group_refused_for_a_lock_is_escalated_once_and_never_acts_in_that_incident(
    make_recorded: ServiceFactory, platforms: RecordingActions, receiver: Receiver
) -> None:
    """A second automatic rollback of a service is what loops: the group is handed to people
    (once, not at every re-send), also once the lock has gone; it acts again only when it
    fires anew after the lock."""
    service = make_recorded(ROLLBACK_SERVICE_LOCKOUT="2s")
    first, second = key("fast", "frontend"), "second-latency-group"
    labels = {"alertname": "HighLatencyP95", "service": "frontend", "strategy": "fast"}
    other = webhook(second, **labels)
    with Client(service, TOKEN) as client:
        send(client, "fast", "frontend")
        assert service.executor.wait_idle(WAIT)
        decisions = [client.send(other).json()["decision"] for _ in range(3)]  # re-sends
        time.sleep(2.5)  # the lock goes
        after_the_lock = client.send(other).json()["decision"]
        assert service.executor.wait_idle(WAIT)
        assert platforms.rolled_back() == ["frontend"]
        anew = client.send(webhook(second, **labels, starts_at=now())).json()["decision"]
        assert service.executor.wait_idle(WAIT)
    assert decisions == ["escalated"] * 3 and after_the_lock == "escalated"
    assert anew == "accepted"
    assert rolled_back_by(service) == {first: {"frontend"}, second: {"frontend"}}
    told = [t for t in slack_texts(receiver) if "NOT rolling back frontend again" in t]
    assert len(told) == 1 and "ESCALATED" in told[0]
    assert any(n.path == "/pagerduty" and "ESCALATED" in n.body["payload"]["summary"]
               for n in receiver.received)  # fmt: skip


@contextmanager
def restarted(make: ServiceFactory, first: Service) -> Iterator[Service]:
    """Stop `first` (its timers die with it, as with a redeploy) and start a second service on
    the same audit log."""
    first.close()
    yield make()


# after a restart, an alert about the watched frontend: the answer, and what is rolled back
AFTER_RESTART = {"gradual": ("duplicate", ("frontend",)), "immediate": ("accepted", ALL)}


@pytest.mark.parametrize("then", list(AFTER_RESTART))
def test_a_watch_across_a_restart(
    make_recorded: ServiceFactory, platforms: RecordingActions, then: str
) -> None:
    """The watch goes on for the time it has left (a re-send is the same watch), and a more
    urgent alert still takes it over."""
    # Long enough that the watch is still on after the restart on a loaded machine.
    first = make_recorded(ROLLBACK_GRADUAL_WATCH="6s")
    with Client(first, TOKEN) as client:
        send(client, "gradual", "frontend")
    with (
        restarted(lambda: make_recorded(ROLLBACK_GRADUAL_WATCH="6s"), first) as second,
        Client(second, TOKEN) as client,
    ):
        assert platforms.rolled_back() == []
        decision = send(client, then, "frontend")
        assert second.executor.wait_idle(WAIT)
    expected, services = AFTER_RESTART[then]
    assert decision == expected
    assert rolled_back_by(second) == {key(then, "frontend"): set(services)}
    assert sorted(platforms.rolled_back()) == sorted(services)


def test_an_escalated_group_stays_escalated_across_a_restart(
    make_recorded: ServiceFactory, platforms: RecordingActions
) -> None:
    other = webhook("second", alertname="HighLatencyP95", service="frontend", strategy="fast")
    first = make_recorded(ROLLBACK_SERVICE_LOCKOUT="2s")
    with Client(first, TOKEN) as client:
        send(client, "fast", "frontend")
        assert first.executor.wait_idle(WAIT)
        assert client.send(other).json()["decision"] == "escalated"
    time.sleep(2.5)  # the lock goes while it is down
    with (
        restarted(lambda: make_recorded(ROLLBACK_SERVICE_LOCKOUT="2s"), first) as second,
        Client(second, TOKEN) as client,
    ):
        assert client.send(other).json()["decision"] == "escalated"
        assert second.executor.wait_idle(WAIT)
    assert rolled_back_by(second) == {key("fast", "frontend"): {"frontend"}}
    assert platforms.rolled_back() == ["frontend"]
