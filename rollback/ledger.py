"""Memory of what was decided and done, and the one pure step that changes it.

`step(book, event, now, context)` takes the ledger (`Book`: a state per alert group) and one event
(a webhook fired or resolved, a watch ended, a rollback attempted or done, a plan finished, a
freeze retried) and returns the new book with the *effects*: the audit records to write (each
with its metric counts and its message, `Report`), the plans to run, the watches and retries to
schedule, and the answer to the webhook. It does no I/O; the executor applies the effects.

An alert group lives through explicit phases, one incident at a time:

    watching -> acting -> acted -> escalated        (still firing after its action)
    waiting  -> acting                               (another group's claim went)
    (new) -> escalated                               (a lock, or a gap in the memory)
    any -> resolved                                  (the incident ended; the next firing is new)

An *incident* is a group firing without a break. Alertmanager re-sends a firing group with the
same `startsAt`, so an alert that started before the incident was admitted (`opened`) belongs to
it; a group whose firing alerts all started later fired again after a break: a new incident, also
when the resolve never arrived. At most one automated action per incident: a group still firing
`settle` after its plan finished is *escalated*: people are told (and paged) once, and nothing
acts on it again until it resolves.

Per service, derived from the groups:
- its claim: a more urgent strategy takes a service over from a watch that has not acted yet
  (immediate > fast > gradual); any other claim makes a newcomer wait (`waiting`);
- its lock: a rollback that happened (succeeded, or dry_run's "would") within `lockout`. Another
  group refused by a lock is escalated, not queued: a second automatic rollback is what loops;
- the deployments it was rolled back *from* (`rolled_back_from`, kept `MEMORY`): never a
  rollback target again;
- the deployments seen serving when an incident of a group on it resolved (`healthy`, kept
  `MEMORY`): known healthy, so a rollback goes back to the newest of them that is older than the
  bad release (Railway's history cannot tell: a release that crashed is REMOVED too once
  replaced, components.railway.plan.rollback_target).

After a restart the book is rebuilt from the audit log (`restore`). When the log may miss
records (the previous run did not stop cleanly, e.g. its volume was full), a group the log does
not know whose alerts started before this run is escalated, never acted on (`Memory`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rollback import messages
from rollback.plan import URGENCY, Plan
from rollback.policy import ServiceName

LOCKING = ("succeeded", "dry_run")  # step outcomes that mean the rollback happened
MEMORY = timedelta(days=30).total_seconds()  # how long a rolled-back deployment stays known bad
STALE = timedelta(days=7).total_seconds()  # an unresolved group unheard of this long is dropped
MAX_RESUMES = 3  # a plan cut short by this many restarts is given up, not tried again
MAX_HEALTHY = 20  # deployments remembered healthy per service and group, newest last

Phase = Literal["watching", "acting", "acted", "waiting", "escalated", "resolved"]


class _State(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class Reason(_State):
    """Why a service of a group is not rolled back now, naming the other group."""

    kind: Literal["rolled_back", "rolling_back", "watching"]
    group_key: str
    by: str  # the other group's Plan.describe()
    at: float | None = None  # rolled_back: when

    @property
    def claim(self) -> bool:
        """A claim goes (the other plan ends); a lock is not waited for."""
        return self.kind != "rolled_back"


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


class FreezeRetry(_State):
    """The deploy freeze failed: tried again at `next`, each round waiting twice as long (up to
    a cap), until it is set or the incident ends."""

    rounds: int
    attempts: int
    next: float
    detail: str


class GroupState(_State):
    key: str
    version: int = 0  # one more at each change: records may reach the log out of order
    plan: Plan
    phase: Phase = "acting"
    opened: float = 0.0  # when this incident was first heard of (epoch)
    seen: float = 0.0  # the last webhook about it
    since: float | None = None  # its first action in this incident
    finished: float | None = None  # when its last plan finished
    handled: tuple[ServiceName, ...] = ()
    rolled_back: dict[ServiceName, float] = Field(default_factory=dict)
    rolled_back_from: dict[ServiceName, str] = Field(default_factory=dict)
    healthy: dict[ServiceName, tuple[str, ...]] = Field(default_factory=dict)  # seen resolved
    healthy_at: float | None = None  # when it last saw one
    froze: bool = False
    outcomes: dict[str, Step] = Field(default_factory=dict)  # of its plans in this incident
    freeze_retry: FreezeRetry | None = None
    waiting: dict[ServiceName, Reason] = Field(default_factory=dict)
    active: Active | None = None
    escalated: str | None = None  # why people act now
    resolved_at: float | None = None  # the incident ended (a plan under way still finishes)

    def record(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# --- events --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fired:
    plan: Plan  # plan.started: the earliest startsAt of its firing alerts
    arrived: float  # the executor's clock, handed back in Run


@dataclass(frozen=True)
class Resolved:
    key: str
    detail: str


@dataclass(frozen=True)
class WatchOver:
    key: str


@dataclass(frozen=True)
class Attempting:
    key: str
    service: ServiceName
    before: str | None


@dataclass(frozen=True)
class StepDone:
    key: str
    action: str
    service: str
    step: Step


@dataclass(frozen=True)
class Finished:
    key: str
    elapsed: float


@dataclass(frozen=True)
class Resumed:
    key: str


@dataclass(frozen=True)
class FreezeTried:
    key: str
    step: Step


@dataclass(frozen=True)
class Served:
    """What served `service` just after the group resolved (None: the platform did not say)."""

    key: str
    service: ServiceName
    deployment: str | None


Event = (
    Fired | Resolved | WatchOver | Attempting | StepDone | Finished | Resumed | FreezeTried | Served
)


# --- effects -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tell:
    """A message to the plan's strategy's channels; `page` adds the pager where the stack pages."""

    plan: Plan
    text: str
    page: bool = False


@dataclass(frozen=True)
class Report:
    """One audit record, with the metric counts and the message that go with it."""

    event: str | None  # None: only the counts
    key: str | None
    fields: dict[str, Any] = field(default_factory=dict)
    state: GroupState | None = None
    counts: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (metric, label values)
    tell: Tell | None = None


@dataclass(frozen=True)
class Run:
    key: str
    arrived: float


@dataclass(frozen=True)
class Watch:
    key: str
    until: float  # epoch


@dataclass(frozen=True)
class StopWatch:
    key: str


@dataclass(frozen=True)
class RetryFreeze:
    key: str
    at: float  # epoch


@dataclass(frozen=True)
class Observe:
    """Ask the platforms what serves `services` now (each answer comes back as `Served`)."""

    key: str
    services: tuple[ServiceName, ...]


Effect = Report | Run | Watch | StopWatch | RetryFreeze | Observe


@dataclass(frozen=True)
class Memory:
    """What the audit log can vouch for: `whole` unless the previous run may have lost records;
    then alerts that started before `started` (this run) and that it does not know are not
    acted on."""

    started: float = 0.0
    whole: bool = True
    # This run's `started` record is on the volume. While it is not (a full or failing volume
    # at start), a restart could not tell that this run ran, let alone what it did, and would
    # act again: so this run acts on nothing and people act.
    recorded: bool = True


@dataclass(frozen=True)
class Context:
    environment: str
    dry_run: bool
    lockout: float  # seconds a service rolled back automatically stays locked
    settle: float  # seconds after a plan before "still firing" escalates
    freeze_retry: float  # first backoff of a failed freeze; doubles up to freeze_retry_max
    freeze_retry_max: float
    memory: Memory = Memory()


@dataclass(frozen=True)
class Book:
    groups: Mapping[str, GroupState] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    book: Book
    effects: tuple[Effect, ...]
    decision: str = ""  # the webhook's answer, for Fired and Resolved


# --- the step ------------------------------------------------------------------------------
def step(book: Book, event: Event, now: float, context: Context) -> Outcome:
    """The book after `event`, and what to do about it. Pure: `book` is not changed."""
    work = _Work(dict(book.groups), now, context)
    decision = work.handle(event)
    return Outcome(Book(work.groups), tuple(work.effects), decision)


class _Work:
    """One step's scratch space: groups are copied before they change."""

    def __init__(self, groups: dict[str, GroupState], now: float, context: Context) -> None:
        self.groups = groups
        self.now = now
        self.ctx = context
        self.effects: list[Effect] = []
        self._copied: set[str] = set()

    # --- plumbing ----------------------------------------------------------------------
    def edit(self, key: str) -> GroupState:
        """The group, copied once per step, so the caller's book never changes."""
        if key not in self._copied:
            self.groups[key] = self.groups[key].model_copy(deep=True)
            self._copied.add(key)
        return self.groups[key]

    def put(self, group: GroupState) -> GroupState:
        self.groups[group.key] = group
        self._copied.add(group.key)
        return group

    def changed(self, group: GroupState) -> GroupState:
        """Its next version, with its phase brought up to date, as recorded."""
        group.phase = _phase(group)
        group.version += 1
        return group.model_copy(deep=True)

    def report(
        self,
        event: str | None,
        group: GroupState | None,
        *,
        key: str | None = None,
        with_state: bool = True,
        counts: Iterable[tuple[str, tuple[str, ...]]] = (),
        tell: Tell | None = None,
        **fields: Any,
    ) -> None:
        """`event` None: only the metric counts (a re-send that changes nothing is not written)."""
        if group is not None:
            key = group.key
            fields = {"strategy": group.plan.strategy, "phase": group.phase, **fields}
        state = group if with_state else None
        self.effects.append(Report(event, key, fields, state, tuple(counts), tell))

    def text(self, plan: Plan) -> str:
        return messages.title(self.ctx.environment, plan, self.ctx.dry_run)

    # --- dispatch ----------------------------------------------------------------------
    def handle(self, event: Event) -> str:
        if isinstance(event, Fired):
            return self.fired(event)
        if isinstance(event, Resolved):
            return self.resolved(event)
        if isinstance(event, WatchOver):
            self.watch_over(event.key)
        elif isinstance(event, Attempting):
            self.attempting(event)
        elif isinstance(event, StepDone):
            self.step_done(event)
        elif isinstance(event, Finished):
            self.finished(event)
        elif isinstance(event, Resumed):
            self.resumed(event.key)
        elif isinstance(event, Served):
            self.served(event)
        else:
            self.freeze_tried(event)
        return ""

    # --- a firing webhook ----------------------------------------------------------------
    def fired(self, event: Fired) -> str:
        plan, now = event.plan, self.now
        known = self.groups.get(plan.group_key)
        if known is not None:
            busy = known.active is not None
            if busy or plan.started is None or plan.started <= known.opened:
                return self.again(known, plan, event.arrived)
            # every alert firing now began after the incident was opened: it fired anew
        if not self.ctx.memory.recorded:
            return self.forgotten(plan, known, messages.unrecorded(self.ctx.memory.started))
        if not self.ctx.memory.whole and (
            plan.started is None or plan.started < self.ctx.memory.started
        ):
            return self.forgotten(plan, known, messages.memory_gap(self.ctx.memory.started))
        group = self.put(_fresh(plan, now, known))
        group.seen = now
        return self.admit(group, event.arrived, resent=True)

    def again(self, known: GroupState, plan: Plan, arrived: float) -> str:
        """A re-send of an incident already known."""
        group = self.edit(known.key)
        group.seen = self.now
        if group.phase != "resolved":
            group.plan = plan
        if group.phase == "waiting":
            return self.admit(group, arrived, resent=True)
        settled = group.finished is not None and self.now - group.finished >= self.ctx.settle
        if group.phase == "acted" and settled:
            return self.escalate(group, messages.still_failing(group))
        # "resolved": a late re-send of an incident that ended (a new firing has a new startsAt)
        decision = "escalated" if group.phase == "escalated" else "duplicate"
        self.report(
            "duplicate", group, with_state=False, firstActedEpoch=_rounded(group.since),
            decision=decision,
            counts=[("decisions", (plan.strategy, decision))],
        )  # fmt: skip
        if group.phase in ("watching", "acting"):
            self.resume(group)  # a plan cut short in this process goes on
        return decision

    def forgotten(self, plan: Plan, known: GroupState | None, why: str) -> str:
        """An incident the log may have lost, or may lose: people act."""
        group = self.put(_fresh(plan, self.now, known))
        group.seen = self.now
        return self.escalate(group, why)

    def escalate(self, group: GroupState, why: str) -> str:
        """People own the incident from now on: told once, paged where the stack pages."""
        group.escalated = why
        state = self.changed(group)
        text = messages.escalation(self.text(group.plan), state, why)
        self.report(
            "escalated", state, detail=why,
            counts=[("decisions", (group.plan.strategy, "escalated"))],
            tell=Tell(group.plan, text, page=True),
        )  # fmt: skip
        return "escalated"

    def admit(self, group: GroupState, arrived: float, *, resent: bool) -> str:
        """What of the group's plan is done now; the rest waits for a claim, or is refused."""
        if not self.ctx.memory.recorded:
            # Every way in (a re-send of a group restored waiting, a claim that went): this run
            # could not write that it started, so a restart could not tell what it did.
            group.waiting = {}
            return self.escalate(group, messages.unrecorded(self.ctx.memory.started))
        plan, now = group.plan, self.now
        take: list[ServiceName] = []
        refused: dict[ServiceName, Reason] = {}
        watches: dict[str, list[ServiceName]] = {}
        for service in (s for s in plan.rollback if s not in group.handled):
            reason, watch = self.blocker(service, plan)
            if reason is not None:
                refused[service] = reason
            else:
                take.append(service)
                if watch is not None:
                    watches.setdefault(watch, []).append(service)
        freeze = plan.freeze and not group.froze
        if not take and not freeze:
            return self.refuse(group, refused, resent=resent)
        doer: Literal["watching", "rolling_back"] = (
            "watching" if plan.watch is not None and take else "rolling_back"
        )
        took_over = [(self.take_over(key, services, plan, doer), services)
                     for key, services in watches.items()]  # fmt: skip
        group.waiting = refused
        group.handled = (*group.handled, *take)
        group.froze = group.froze or freeze
        group.since = group.since if group.since is not None else now
        watch_until = now + plan.watch.total_seconds() if plan.watch is not None and take else None
        group.active = Active(
            services=tuple(take), freeze=freeze, watch_until=watch_until, admitted=now
        )
        state = self.changed(group)
        active = state.active
        assert active is not None
        self.report(
            "admitted", state,
            alerts=[list(a) for a in plan.alerts],
            rollback=list(active.services),
            freeze=active.freeze,
            waiting=_reasons(state),
            tookOver={other.key: list(services) for other, services in took_over},
            watchSeconds=plan.watch.total_seconds() if plan.watch and watch_until else None,
            timeoutSeconds=plan.timeout.total_seconds(),
            notes=list(plan.notes),
            counts=[("decisions", (plan.strategy, "act")),
                    *(("actions", ("rollback", s, "waiting")) for s in refused)],
            tell=Tell(plan, messages.announce(self.text(plan), state, took_over)),
        )  # fmt: skip
        for other, services in took_over:
            self.taken_over(other, services, plan)
        if watch_until is not None:
            self.effects.append(Watch(group.key, watch_until))
        else:
            self.effects.append(Run(group.key, arrived))
        return "accepted"

    def refuse(self, group: GroupState, refused: dict[ServiceName, Reason], *, resent: bool) -> str:
        """Nothing of the plan can be done now: wait for a claim, or escalate past a lock."""
        plan = group.plan
        news = tuple(s for s in refused if s not in group.waiting)
        group.waiting = refused
        if any(r.claim for r in refused.values()):
            state = self.changed(group)
            if news:
                self.report(
                    "waiting", state, waiting=_reasons(state),
                    counts=[("actions", ("rollback", s, "waiting")) for s in news],
                    tell=Tell(plan, messages.waiting(self.text(plan), state, news)),
                )  # fmt: skip
            if resent:  # counted, not written: a re-send that changes nothing
                self.report(None, None, counts=[("decisions", (plan.strategy, "waiting"))])
            return "waiting"
        if refused:  # locked everywhere: a second automatic rollback would loop
            return self.escalate(group, messages.locked(refused))
        if not resent:
            return "duplicate"
        self.report(
            "duplicate", group, with_state=False, firstActedEpoch=_rounded(group.since),
            decision="duplicate", counts=[("decisions", (plan.strategy, "duplicate"))],
        )  # fmt: skip
        return "duplicate"

    def blocker(self, service: ServiceName, plan: Plan) -> tuple[Reason | None, str | None]:
        """(why `service` is not taken now, None) or (None, the watch to take it from)."""
        rolled = [
            (g.rolled_back[service], g)
            for g in self.groups.values()
            if self.now - g.rolled_back.get(service, -1e18) < self.ctx.lockout
        ]
        if rolled:
            at, by = max(rolled, key=lambda item: item[0])
            return Reason(kind="rolled_back", group_key=by.key, by=by.plan.describe(), at=at), None
        claim = next(
            (g for g in self.groups.values() if g.active and service in g.active.services), None
        )
        if claim is None or claim.active is None:
            return None, None
        watching = claim.active.watch_until is not None
        if watching and URGENCY[plan.strategy] < URGENCY[claim.plan.strategy]:
            return None, claim.key
        kind: Literal["watching", "rolling_back"] = "watching" if watching else "rolling_back"
        return Reason(kind=kind, group_key=claim.key, by=claim.plan.describe()), None

    def take_over(
        self, key: str, services: list[ServiceName], plan: Plan, doer: Literal["watching",
        "rolling_back"]
    ) -> GroupState:  # fmt: skip
        watch = self.edit(key)
        assert watch.active is not None
        watch.active.services = tuple(s for s in watch.active.services if s not in services)
        watch.handled = tuple(s for s in watch.handled if s not in services)
        for service in services:
            watch.waiting[service] = Reason(kind=doer, group_key=plan.group_key, by=plan.describe())
        if not watch.active.services and not watch.active.freeze:
            watch.active = None  # called off: nothing of it is left to do
        return self.changed(watch)

    def taken_over(self, watch: GroupState, services: list[ServiceName], by: Plan) -> None:
        called_off = watch.active is None
        if called_off:
            self.effects.append(StopWatch(watch.key))
        self.report(
            "cancelled" if called_off else "preempted", watch, rollback=list(services),
            detail=f"taken over by the {by.describe()}", byGroupKey=by.group_key,
            counts=[("decisions", (watch.plan.strategy, "cancelled"))] if called_off else [],
            tell=Tell(watch.plan, messages.taken_over(self.text(watch.plan), watch, services, by)),
        )  # fmt: skip

    # --- a resolved webhook --------------------------------------------------------------
    def resolved(self, event: Resolved) -> str:
        known = self.groups.get(event.key)
        if known is None or known.phase == "resolved":
            self.report("resolved", None, key=event.key, detail=event.detail,
                        counts=[("decisions", ("", "resolved"))])  # fmt: skip
            return "resolved"
        group = self.edit(event.key)
        group.seen = self.now
        freed: tuple[ServiceName, ...] = ()
        if group.active is not None and group.active.watch_until is not None:
            freed = group.active.services
            group.handled = tuple(s for s in group.handled if s not in freed)
            group.active = None
            self.effects.append(StopWatch(group.key))
        retrying = group.freeze_retry is not None
        group.waiting, group.freeze_retry = {}, None
        group.escalated, group.resolved_at = None, self.now  # a rollback under way goes on
        state = self.changed(group)
        if freed:
            self.report(
                "cancelled", state, rollback=list(freed),
                detail="resolved while watched: no rollback",
                counts=[("decisions", (group.plan.strategy, "cancelled"))],
                tell=Tell(group.plan, f"{self.text(group.plan)}: resolved while watched, no "
                          "rollback"),
            )  # fmt: skip
        else:
            self.report("resolved", state, detail=event.detail,
                        counts=[("decisions", ("", "resolved"))])  # fmt: skip
        if retrying:
            self.report(
                "freeze_abandoned", state,
                detail="resolved before the deploy freeze could be set: no longer retrying",
                tell=Tell(group.plan, f"{self.text(group.plan)}: resolved; the deploy freeze "
                          "was never set and is no longer retried"),
            )  # fmt: skip
        self.wake(freed)
        if state.active is None:  # nothing under way: what serves now served through the end
            self.effects.append(Observe(group.key, group.plan.rollback))
        return "resolved"

    def served(self, event: Served) -> None:
        """A deployment that served while its group's alert was resolved is known healthy."""
        known = self.groups.get(event.key)
        if known is None or known.phase != "resolved" or event.deployment is None:
            return  # fired again meanwhile: what serves now proves nothing
        group = self.edit(event.key)
        seen = [d for d in group.healthy.get(event.service, ()) if d != event.deployment]
        group.healthy[event.service] = (*seen, event.deployment)[-MAX_HEALTHY:]
        group.healthy_at = self.now
        state = self.changed(group)
        self.report("healthy", state, service=event.service, deployment=event.deployment)

    # --- what happens next ---------------------------------------------------------------
    def watch_over(self, key: str) -> None:
        group = self.groups.get(key)
        if group is None or group.active is None or group.active.watch_until is None:
            return  # called off meanwhile
        group = self.edit(key)
        assert group.active is not None
        group.active.watch_until = None
        state = self.changed(group)
        self.report("watched", state, detail="still firing after the watch: acting")
        self.effects.append(Run(key, -1.0))

    def attempting(self, event: Attempting) -> None:
        group = self.edit(event.key)
        assert group.active is not None
        group.active.before[event.service] = event.before
        state = self.changed(group)
        self.report("attempt", state, action="rollback", service=event.service, before=event.before)

    def step_done(self, event: StepDone) -> None:
        group = self.edit(event.key)
        assert group.active is not None
        group.active.steps[f"{event.action} {event.service}"] = event.step
        state = self.changed(group)
        s = event.step
        self.report(
            "action", state, action=event.action, service=event.service, outcome=s.outcome,
            attempts=s.attempts, detail=s.detail,
            counts=[("actions", (event.action, event.service, s.outcome))],
        )  # fmt: skip

    def resumed(self, key: str) -> None:
        group = self.edit(key)
        assert group.active is not None
        group.active.resumes += 1
        state = self.changed(group)
        self.report("resumed", state, detail="unfinished when the service stopped: carrying on")

    def resume(self, group: GroupState) -> None:
        assert group.active is not None
        if group.active.watch_until is not None:
            self.effects.append(Watch(group.key, group.active.watch_until))
        else:
            self.effects.append(Run(group.key, -1.0))

    def finished(self, event: Finished) -> None:
        group = self.edit(event.key)
        done = group.active
        assert done is not None
        for service in done.services:
            outcome = done.steps.get(f"rollback {service}")
            if outcome is not None and outcome.outcome in LOCKING:
                group.rolled_back[service] = self.now
                bad = done.before.get(service)
                if bad is not None:
                    group.rolled_back_from[service] = bad
        freeze = done.steps.get("freeze all")
        if freeze is not None and freeze.outcome == "failed" and group.resolved_at is None:
            group.freeze_retry = FreezeRetry(
                rounds=0, attempts=freeze.attempts, next=self.now + self.ctx.freeze_retry,
                detail=freeze.detail,
            )  # fmt: skip
        group.active, group.finished = None, self.now
        group.outcomes.update(done.steps)
        state = self.changed(group)
        failed = any(s.outcome == "failed" for s in done.steps.values())
        text = messages.report(self.text(group.plan), done, state.freeze_retry)
        self.report(
            "finished", state, outcome="failed" if failed else "succeeded",
            elapsedSeconds=round(event.elapsed, 3),
            tell=Tell(group.plan, text),
        )  # fmt: skip
        if state.freeze_retry is not None:
            self.effects.append(RetryFreeze(group.key, state.freeze_retry.next))
        self.wake(done.services)
        if any(r.claim for r in state.waiting.values()):  # what it waited for may have gone
            self.admit(self.edit(group.key), -1.0, resent=False)

    def freeze_tried(self, event: FreezeTried) -> None:
        group = self.groups.get(event.key)
        if group is None or group.freeze_retry is None:
            return  # resolved meanwhile
        group = self.edit(event.key)
        retry = group.freeze_retry
        assert retry is not None
        s = event.step
        attempts = retry.attempts + s.attempts
        if s.outcome == "failed":
            rounds = retry.rounds + 1
            delay = min(self.ctx.freeze_retry * 2 ** min(rounds, 20), self.ctx.freeze_retry_max)
            group.freeze_retry = FreezeRetry(
                rounds=rounds, attempts=attempts, next=self.now + delay, detail=s.detail
            )
        else:
            group.freeze_retry = None
        state = self.changed(group)
        tell = None
        if s.outcome != "failed":
            tell = Tell(group.plan, f"{self.text(group.plan)}: deploy freeze set after "
                        f"{attempts} attempt(s) ({s.detail})")  # fmt: skip
        self.report(
            "action", state, action="freeze", service="all", outcome=s.outcome,
            attempts=s.attempts, detail=s.detail, retry=True,
            counts=[("actions", ("freeze", "all", s.outcome))], tell=tell,
        )  # fmt: skip
        if state.freeze_retry is not None:
            self.effects.append(RetryFreeze(group.key, state.freeze_retry.next))

    def wake(self, services: Iterable[ServiceName]) -> None:
        """Look again at the groups waiting for a claim on any of `services`, most urgent
        first."""
        wanted = set(services)
        waiting = [
            g for g in self.groups.values()
            if g.phase == "waiting" and any(r.claim and s in wanted for s, r in g.waiting.items())
        ]  # fmt: skip
        for group in sorted(waiting, key=lambda g: URGENCY[g.plan.strategy]):
            self.admit(self.edit(group.key), -1.0, resent=False)


def _fresh(plan: Plan, now: float, old: GroupState | None) -> GroupState:
    """A new incident of the group; what it rolled back stays (locks, known bad releases)."""
    return GroupState(
        key=plan.group_key,
        plan=plan,
        version=old.version if old else 0,
        opened=now,
        rolled_back=dict(old.rolled_back) if old else {},
        rolled_back_from=dict(old.rolled_back_from) if old else {},
        healthy=dict(old.healthy) if old else {},
        healthy_at=old.healthy_at if old else None,
    )


def _phase(group: GroupState) -> Phase:
    if group.active is not None:
        return "watching" if group.active.watch_until is not None else "acting"
    if group.resolved_at is not None:
        return "resolved"
    if group.escalated is not None:
        return "escalated"
    if any(r.claim for r in group.waiting.values()):
        return "waiting"
    return "acted"


def _reasons(state: GroupState) -> dict[str, dict[str, Any]]:
    return {s: r.model_dump(mode="json") for s, r in state.waiting.items()}


def _rounded(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


# --- the book over time: queries, durability -----------------------------------------------
def known_bad(book: Book, service: ServiceName) -> frozenset[str]:
    """The deployments of `service` that an automated rollback replaced: never a target."""
    return frozenset(
        g.rolled_back_from[service] for g in book.groups.values() if service in g.rolled_back_from
    )


@dataclass(frozen=True)
class History:
    """What the book knows of a service's deployments, for choosing a rollback target."""

    avoid: frozenset[str] = frozenset()  # rolled back from: never a target
    healthy: frozenset[str] = frozenset()  # seen serving after an incident resolved


def history(book: Book, service: ServiceName) -> History:
    return History(known_bad(book, service), known_healthy(book, service))


def known_healthy(book: Book, service: ServiceName) -> frozenset[str]:
    """The deployments of `service` seen serving when an incident on it had resolved, but for
    those rolled back from since (a release can be healthy for one load and not another)."""
    seen = {d for g in book.groups.values() for d in g.healthy.get(service, ())}
    return frozenset(seen - known_bad(book, service))


def restore(records: Iterable[Mapping[str, Any]]) -> Book:
    """The last state of each group in the audit records (a snapshot replaces all before it)."""
    groups: dict[str, GroupState] = {}
    heard: dict[str, float] = {}
    for record in records:
        if record.get("event") == "snapshot":
            groups = {}
            for state in record.get("groups", []):
                _load(groups, state)
        elif "state" in record:
            _load(groups, record["state"])
        key, epoch = record.get("groupKey"), record.get("epoch")
        if isinstance(key, str) and isinstance(epoch, int | float):
            heard[key] = max(heard.get(key, 0.0), float(epoch))
    for key, group in groups.items():
        group.seen = max(group.seen, heard.get(key, 0.0))
    return Book(groups)


def _load(groups: dict[str, GroupState], state: Any) -> None:
    try:
        group = GroupState.model_validate(state)
    except ValidationError:
        return  # a record this version cannot read is no reason to refuse to start
    known = groups.get(group.key)
    if known is None or known.version <= group.version:
        groups[group.key] = group


def pruned(book: Book, now: float, lockout: float) -> Book:
    """Without the groups that have nothing left to remember."""
    horizon = max(lockout, MEMORY)

    def keep(g: GroupState) -> bool:
        return bool(
            g.active
            or g.freeze_retry
            or any(now - at < horizon for at in g.rolled_back.values())
            or (g.healthy_at is not None and now - g.healthy_at < MEMORY)
            or (g.phase != "resolved" and now - g.seen < STALE)
        )

    return Book({k: g for k, g in book.groups.items() if keep(g)})


def snapshot(book: Book) -> list[dict[str, Any]]:
    return [g.record() for g in book.groups.values()]


def busy(book: Book) -> int:
    return sum(1 for g in book.groups.values() if g.active)


class Ledger:
    """The book behind a lock: `apply` runs one step at a time, so two webhooks about the same
    service never both take it."""

    PRUNE_EVERY = 60.0

    def __init__(self, context: Context, now: Callable[[], float], book: Book | None = None
                 ) -> None:  # fmt: skip
        self.context = context
        self._now = now
        self._lock = threading.Lock()
        self._book = pruned(book or Book(), now(), context.lockout)
        self._pruned = now()

    def apply(self, event: Event) -> Outcome:
        with self._lock:
            now = self._now()
            outcome = step(self._book, event, now, self.context)
            book = outcome.book
            if now - self._pruned >= self.PRUNE_EVERY:
                book, self._pruned = pruned(book, now, self.context.lockout), now
            self._book = book
            return outcome

    @property
    def book(self) -> Book:
        with self._lock:
            return self._book

    def state(self, key: str) -> GroupState | None:
        return self.book.groups.get(key)
