"""Memory of what was decided and done, so that nothing acts twice and nothing is swallowed.

Per alert group, a `GroupState`:
- `plan`: what the group's latest firing webhook asks for;
- `handled`: the services this group took in this cooldown; a re-send asks only for the rest, so
  a group acts at most once on a service (`cooldown`: keep it above Alertmanager's
  repeat_interval);
- `active`: the part being watched or run; its services are *claimed* by the group;
- `waiting`: services refused because another group claims them or rolled them back, each with
  its `Reason`. They are looked at again when that claim or lock goes (`waiting_for`).

Per service, derived from the groups:
- its claim: a more urgent strategy takes a service over from a watch that has not acted yet
  (immediate > fast > gradual); any other claim makes a newcomer wait;
- its lock: a rollback that really happened (succeeded, or dry_run's "would") within `lockout`.
  No loops: a second automatic rollback would pick the deployment before the rollback, the bad
  one. A watch, a rollback still running or one that failed never locks.

Every change returns the group's new state; the executor writes it into the audit record, and
`restore` rebuilds the ledger from the last state of each group (or a snapshot).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rollback.plan import URGENCY, Plan
from rollback.policy import ServiceName

LOCKING = ("succeeded", "dry_run")  # step outcomes that mean the rollback happened


class _State(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class Reason(_State):
    """Why a service of a group waits, naming the other group and what it does."""

    kind: Literal["rolled_back", "rolling_back", "watching"]
    group_key: str
    by: str  # the other group's Plan.describe()
    at: float | None = None  # rolled_back: when


class Step(_State):
    outcome: Literal["succeeded", "failed", "dry_run"]
    attempts: int
    detail: str


class Active(_State):
    """The part of a group's plan being watched or acted on."""

    services: tuple[ServiceName, ...]
    freeze: bool
    watch_until: float | None  # epoch; None when acting
    admitted: float
    before: dict[ServiceName, str | None] = Field(default_factory=dict)  # what served then
    steps: dict[str, Step] = Field(default_factory=dict)  # "rollback frontend", "freeze all"
    resumes: int = 0  # restarts that cut it short


class GroupState(_State):
    key: str
    version: int = 0  # one more at each change: records may reach the log out of order
    plan: Plan
    since: float | None = None  # first action in this cooldown
    handled: tuple[ServiceName, ...] = ()
    rolled_back: dict[ServiceName, float] = Field(default_factory=dict)
    froze: bool = False
    waiting: dict[ServiceName, Reason] = Field(default_factory=dict)
    active: Active | None = None

    def record(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _changed(group: GroupState) -> GroupState:
    """A change to `group` (held under the ledger's lock): its next version, as recorded."""
    group.version += 1
    return group.model_copy(deep=True)


@dataclass(frozen=True)
class Duplicate:
    since: float | None
    busy: bool  # watched or acted on right now


@dataclass(frozen=True)
class Waiting:
    state: GroupState
    news: tuple[ServiceName, ...]  # services newly waiting: people are told about those


@dataclass(frozen=True)
class Acting:
    state: GroupState  # `active` is what to do now; `waiting` what is refused
    took_over: tuple[tuple[GroupState, tuple[ServiceName, ...]], ...]  # watches, after


class Ledger:
    def __init__(self, cooldown: timedelta, lockout: timedelta, now: Callable[[], float]) -> None:
        self._cooldown = cooldown.total_seconds()
        self._lockout = lockout.total_seconds()
        self._now = now
        self._lock = threading.Lock()
        self._groups: dict[str, GroupState] = {}
        self._pruned = 0.0

    # --- decisions -------------------------------------------------------------------------
    def admit(self, plan: Plan) -> Acting | Waiting | Duplicate:
        """Atomically: what of `plan` is done now, what waits and why, or a duplicate."""
        with self._lock:
            now = self._now()
            self._prune(now)
            group = self._groups.get(plan.group_key)
            expired = group is not None and group.since is not None and group.active is None
            if group is None or (expired and now - (group.since or now) >= self._cooldown):
                old = group or GroupState(key=plan.group_key, plan=plan)
                group = GroupState(
                    key=plan.group_key, plan=plan, rolled_back=old.rolled_back, version=old.version
                )
            group.plan = plan
            if group.active is not None:
                return Duplicate(group.since, busy=True)
            take: list[ServiceName] = []
            refused: dict[ServiceName, Reason] = {}
            watches: dict[str, list[ServiceName]] = {}
            for service in (s for s in plan.rollback if s not in group.handled):
                reason, watch = self._blocker(service, plan, now)
                if reason is not None:
                    refused[service] = reason
                    continue
                take.append(service)
                if watch is not None:
                    watches.setdefault(watch.key, []).append(service)
            freeze = plan.freeze and not group.froze
            self._groups[plan.group_key] = group
            if not take and not freeze and (refused or group.since is not None):
                news = tuple(s for s in refused if s not in group.waiting)
                group.waiting = refused
                if not refused:
                    return Duplicate(group.since, busy=False)
                return Waiting(_changed(group), news)
            doer = "watching" if plan.watch is not None and take else "rolling_back"
            took_over = tuple(
                (self._take_over(self._groups[key], services, plan, doer), tuple(services))
                for key, services in watches.items()
            )
            group.waiting = refused
            group.handled = (*group.handled, *take)
            group.froze = group.froze or freeze
            group.since = group.since if group.since is not None else now
            watch_until = (
                now + plan.watch.total_seconds() if plan.watch is not None and take else None
            )
            group.active = Active(
                services=tuple(take), freeze=freeze, watch_until=watch_until, admitted=now
            )
            return Acting(_changed(group), took_over)

    def _blocker(
        self, service: ServiceName, plan: Plan, now: float
    ) -> tuple[Reason | None, GroupState | None]:
        """(why `service` must wait, None) or (None, the watch to take it over from, if any)."""
        rolled = [
            (g.rolled_back[service], g)
            for g in self._groups.values()
            if now - g.rolled_back.get(service, -1e18) < self._lockout
        ]
        if rolled:
            at, by = max(rolled, key=lambda item: item[0])
            return Reason(kind="rolled_back", group_key=by.key, by=by.plan.describe(), at=at), None
        claim = next(
            (
                g
                for g in self._groups.values()
                if g.active is not None and service in g.active.services
            ),
            None,
        )
        if claim is None or claim.active is None:
            return None, None
        watching = claim.active.watch_until is not None
        if watching and URGENCY[plan.strategy] < URGENCY[claim.plan.strategy]:
            return None, claim
        kind: Literal["watching", "rolling_back"] = "watching" if watching else "rolling_back"
        return Reason(kind=kind, group_key=claim.key, by=claim.plan.describe()), None

    def _take_over(
        self, watch: GroupState, services: list[ServiceName], plan: Plan, doer: str
    ) -> GroupState:
        assert watch.active is not None
        watch.active.services = tuple(s for s in watch.active.services if s not in services)
        watch.handled = tuple(s for s in watch.handled if s not in services)
        kind: Literal["watching", "rolling_back"] = (
            "watching" if doer == "watching" else "rolling_back"
        )
        for service in services:
            watch.waiting[service] = Reason(kind=kind, group_key=plan.group_key, by=plan.describe())
        if not watch.active.services and not watch.active.freeze:
            watch.active = None  # called off: nothing of it is left to do
        return _changed(watch)

    # --- what happens next -----------------------------------------------------------------
    def watch_over(self, key: str) -> GroupState | None:
        """The watch ended still firing: act now. None if it was called off meanwhile."""
        with self._lock:
            group = self._groups.get(key)
            if group is None or group.active is None or group.active.watch_until is None:
                return None
            group.active.watch_until = None
            return _changed(group)

    def record_before(self, key: str, service: ServiceName, before: str | None) -> GroupState:
        with self._lock:
            group = self._groups[key]
            assert group.active is not None
            group.active.before[service] = before
            return _changed(group)

    def resumed(self, key: str) -> GroupState:
        with self._lock:
            group = self._groups[key]
            assert group.active is not None
            group.active.resumes += 1
            return _changed(group)

    def record_step(self, key: str, name: str, step: Step) -> GroupState:
        with self._lock:
            group = self._groups[key]
            assert group.active is not None
            group.active.steps[name] = step
            return _changed(group)

    def finish(self, key: str) -> tuple[GroupState, Active]:
        """The plan is done (whatever each step's outcome): locks for what happened."""
        with self._lock:
            group = self._groups[key]
            finished = group.active
            assert finished is not None
            now = self._now()
            for service in finished.services:
                step = finished.steps.get(f"rollback {service}")
                if step is not None and step.outcome in LOCKING:
                    group.rolled_back[service] = now
            group.active = None
            return _changed(group), finished

    def resolve(self, key: str) -> tuple[GroupState | None, tuple[ServiceName, ...]]:
        """The group resolved: it waits for nothing; a watch is called off (its services
        returned). Returns the new state (None if nothing changed) and the services freed."""
        with self._lock:
            group = self._groups.get(key)
            if group is None:
                return None, ()
            freed: tuple[ServiceName, ...] = ()
            if group.active is not None and group.active.watch_until is not None:
                freed = group.active.services
                group.handled = tuple(s for s in group.handled if s not in freed)
                group.active = None
                if not group.handled and not group.froze:
                    group.since = None  # it may fire again: a new watch, not a duplicate
            elif not group.waiting:
                return None, ()
            group.waiting = {}
            return _changed(group), freed

    # --- queries ---------------------------------------------------------------------------
    def state(self, key: str) -> GroupState | None:
        with self._lock:
            group = self._groups.get(key)
            return group.model_copy(deep=True) if group else None

    def waiting_for(self, services: Iterable[ServiceName]) -> list[Plan]:
        """Plans of the groups waiting for any of `services`, most urgent first."""
        wanted = set(services)
        with self._lock:
            plans = [g.plan for g in self._groups.values() if wanted & set(g.waiting)]
        return sorted(plans, key=lambda p: URGENCY[p.strategy])

    def active(self) -> list[GroupState]:
        with self._lock:
            return [g.model_copy(deep=True) for g in self._groups.values() if g.active]

    def busy(self) -> int:
        with self._lock:
            return sum(1 for g in self._groups.values() if g.active)

    def lock_ends(self) -> dict[ServiceName, float]:
        """When each service's lock goes (epoch)."""
        ends: dict[ServiceName, float] = {}
        with self._lock:
            for group in self._groups.values():
                for service, at in group.rolled_back.items():
                    ends[service] = max(ends.get(service, at), at + self._lockout)
        return ends

    # --- durability ------------------------------------------------------------------------
    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [g.record() for g in self._groups.values()]

    def restore(self, records: Iterable[Mapping[str, Any]]) -> int:
        """The last state of each group in the audit records (a snapshot replaces all before
        it); returns how many groups are remembered."""
        with self._lock:
            for record in records:
                if record.get("event") == "snapshot":
                    self._groups = {}
                    for state in record.get("groups", []):
                        self._load(state)
                elif "state" in record:
                    self._load(record["state"])
            self._prune(self._now(), force=True)
            return len(self._groups)

    def _load(self, state: Any) -> None:
        try:
            group = GroupState.model_validate(state)
        except ValidationError:
            return  # a record this version cannot read is no reason to refuse to start
        known = self._groups.get(group.key)
        if known is None or known.version <= group.version:
            self._groups[group.key] = group

    def _prune(self, now: float, *, force: bool = False) -> None:
        """Forget groups with nothing left to remember (at most once a minute)."""
        if not force and now - self._pruned < 60:
            return
        self._pruned = now
        horizon = max(self._cooldown, self._lockout)
        self._groups = {
            key: g
            for key, g in self._groups.items()
            if g.active
            or g.waiting
            or (g.since is not None and now - g.since < horizon)
            or any(now - at < self._lockout for at in g.rolled_back.values())
        }
