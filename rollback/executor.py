"""From a webhook to actions: decide (pure), admit (ledger), then act in the background within
the strategy's timeout, writing every step to the audit log and the channels.

The webhook answer never waits for a rollback: Alertmanager's call would time out and be
re-sent. Steps of one plan run in parallel, so one slow platform does not eat the others' time.
What waits for another group's claim or lock is looked at again as soon as that goes: when the
other plan finishes, its watch is called off, or the lock ends (`_wake`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol

from tenacity import Retrying, retry_if_exception_type, stop_before_delay
from tenacity.wait import wait_exponential_jitter

from rollback import messages
from rollback.alerts import Webhook
from rollback.audit import AuditLog
from rollback.http import PermanentError, TransientError
from rollback.ledger import Acting, Duplicate, GroupState, Ledger, Step
from rollback.metrics import Metrics
from rollback.notify import Message, Sender
from rollback.outbox import Outbox
from rollback.plan import Plan, Skip, decide
from rollback.policy import Channel, Policy, ServiceName


class Actions(Protocol):
    """The platforms. `timeout` bounds each request; errors are Transient or Permanent."""

    def current(self, service: str, timeout: float) -> str | None: ...
    def rollback(self, service: str, before: str | None, timeout: float) -> str: ...
    def freeze(self, timeout: float) -> str: ...


_Task = tuple[str, str, Callable[[float], str]]  # (action, service, one attempt)
MAX_RESUMES = 3  # a plan cut short by this many restarts is given up, not tried again


def _given_up(_timeout: float) -> str:
    raise PermanentError(f"cut short by {MAX_RESUMES} restarts of the service; not tried again")


@dataclass
class Options:
    dry_run: bool
    gradual_watch: timedelta
    request_timeout: float
    retry_initial: float = 0.2  # first backoff between attempts of a step
    retry_max: float = 5.0
    notify_limit: int = 10  # messages per channel and window (outbox)
    notify_window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


@dataclass
class Executor:
    policy: Policy
    options: Options
    actions: Actions | None  # None only in dry_run
    audit: AuditLog
    ledger: Ledger
    metrics: Metrics
    senders: dict[Channel, Sender]
    now: Callable[[], float] = time.time  # the ledger's clock (epoch)
    _pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(8, thread_name_prefix="rollback")
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _futures: set[Future[None]] = field(default_factory=set)
    _watches: dict[str, threading.Timer] = field(default_factory=dict)
    _wakes: dict[ServiceName, tuple[float, threading.Timer]] = field(default_factory=dict)
    _running: set[str] = field(default_factory=set)
    _outbox: Outbox = field(init=False)

    def __post_init__(self) -> None:
        o = self.options
        self._outbox = Outbox(
            self.senders, limit=o.notify_limit, window=o.notify_window, on_result=self._notified
        )

    # --- request path: fast, no I/O but the audit lines -----------------------------------
    def handle(self, webhook: Webhook, arrived: float) -> str:
        """Decide and schedule; returns the decision for the HTTP answer."""
        decision = decide(webhook, self.policy, self.options.gradual_watch)
        if isinstance(decision, Skip):
            self._skip(decision)
            return decision.decision
        return self.consider(decision, arrived)

    def consider(self, plan: Plan, arrived: float, *, resent: bool = True) -> str:
        """What a firing group gets now: accepted, waiting (for another group) or duplicate.
        `resent`: a webhook asks, rather than the end of what the group waited for."""
        result = self.ledger.admit(plan)
        if isinstance(result, Duplicate):
            if not resent:
                return "duplicate"
            self.audit.write(
                "duplicate", groupKey=plan.group_key, strategy=plan.strategy,
                firstActedEpoch=round(result.since, 3) if result.since is not None else None,
            )  # fmt: skip
            self.metrics.decisions.labels(plan.strategy, "duplicate").inc()
            if result.busy:
                self._resume(plan.group_key)  # a plan cut short in this process goes on
            return "duplicate"
        if not isinstance(result, Acting):
            state = result.state
            if result.news:
                self.audit.write(
                    "waiting", groupKey=plan.group_key, strategy=plan.strategy,
                    waiting=_reasons(state), state=state.record(),
                )  # fmt: skip
                for service in result.news:
                    self.metrics.actions.labels("rollback", service, "waiting").inc()
                self._notify(plan, messages.waiting(self._env, state, result.news, self._dry))
            self.metrics.decisions.labels(plan.strategy, "waiting").inc()
            return "waiting"
        self._admitted(result, arrived)
        return "accepted"

    def _admitted(self, acting: Acting, arrived: float) -> None:
        state = acting.state
        plan, active = state.plan, state.active
        assert active is not None
        self.audit.write(
            "admitted",
            groupKey=plan.group_key,
            strategy=plan.strategy,
            alerts=[list(a) for a in plan.alerts],
            rollback=list(active.services),
            freeze=active.freeze,
            waiting=_reasons(state),
            tookOver={w.key: list(s) for w, s in acting.took_over},
            watchSeconds=plan.watch.total_seconds() if plan.watch and active.watch_until else None,
            timeoutSeconds=plan.timeout.total_seconds(),
            notes=list(plan.notes),
            state=state.record(),
        )
        self.metrics.decisions.labels(plan.strategy, "act").inc()
        for service in state.waiting:
            self.metrics.actions.labels("rollback", service, "waiting").inc()
        for watch, services in acting.took_over:
            self._taken_over(watch, services, plan)
        announce = messages.announce(self._env, state, acting.took_over, self._dry)
        if active.watch_until is not None:
            self._notify(plan, announce)
            self._watch(plan.group_key, active.watch_until - self.now())
        else:
            self._start(plan.group_key, arrived, announce)

    def _taken_over(self, watch: GroupState, services: tuple[ServiceName, ...], by: Plan) -> None:
        """A more urgent plan took `services` from `watch`, which has not acted yet."""
        event = "preempted"
        if watch.active is None:
            event = "cancelled"
            self._stop_watch(watch.key)
            self.metrics.decisions.labels(watch.plan.strategy, "cancelled").inc()
        self.audit.write(
            event, groupKey=watch.key, strategy=watch.plan.strategy, rollback=list(services),
            detail=f"taken over by the {by.describe()}", byGroupKey=by.group_key,
            state=watch.record(),
        )  # fmt: skip
        self._notify(watch.plan, messages.taken_over(self._env, watch, services, by, self._dry))

    def _skip(self, skip: Skip) -> None:
        self.metrics.decisions.labels("", skip.decision).inc()
        if skip.decision != "resolved":
            self.audit.write(skip.decision, groupKey=skip.group_key, detail=skip.reason)
            return
        state, freed = self.ledger.resolve(skip.group_key)
        extra = {"state": state.record()} if state is not None else {}
        if not freed:
            self.audit.write("resolved", groupKey=skip.group_key, detail=skip.reason, **extra)
            return
        assert state is not None
        self._stop_watch(skip.group_key)
        self.audit.write(
            "cancelled", groupKey=skip.group_key, strategy=state.plan.strategy,
            rollback=list(freed), detail="resolved while watched: no rollback", **extra,
        )  # fmt: skip
        self.metrics.decisions.labels(state.plan.strategy, "cancelled").inc()
        self._notify(state.plan, messages.resolved_while_watched(self._env, state.plan, self._dry))
        self._wake(freed)

    # --- watches, runs and wake-ups --------------------------------------------------------
    def _watch(self, key: str, delay: float) -> None:
        timer = threading.Timer(max(0.0, delay), self._watch_over, args=(key,))
        timer.daemon = True
        with self._lock:
            self._watches[key] = timer
        timer.start()

    def _stop_watch(self, key: str) -> None:
        with self._lock:
            timer = self._watches.pop(key, None)
        if timer is not None:
            timer.cancel()

    def _watch_over(self, key: str) -> None:
        state = self.ledger.watch_over(key)
        if state is not None:
            self.audit.write(
                "watched", groupKey=key, strategy=state.plan.strategy,
                detail="still firing after the watch: acting", state=state.record(),
            )  # fmt: skip
            self._start(key, self.options.clock(), None)
        with self._lock:  # after _start: wait_idle never sees a gap between the two
            if self._watches.get(key) is threading.current_thread():
                del self._watches[key]

    def _start(self, key: str, arrived: float, announce: str | None) -> None:
        with self._lock:
            if key in self._running:
                return
            self._running.add(key)
        self._background(self._run, key, arrived, announce)

    def _resume(self, key: str) -> None:
        """Carry on with a group's plan that nothing in this process is watching or running
        (after a restart): a watch for what is left of it, or the steps without an outcome."""
        state = self.ledger.state(key)
        if state is None or state.active is None:
            return
        with self._lock:
            if key in self._running or key in self._watches:
                return
        if state.active.watch_until is not None:
            self._watch(key, state.active.watch_until - self.now())
        else:
            self._start(key, self.options.clock(), None)

    def resume_all(self) -> None:
        """At start: every plan the audit log shows unfinished, and the wake-ups for locks."""
        for state in self.ledger.active():
            if state.active is not None and state.active.watch_until is None:
                resumed = self.ledger.resumed(state.key)
                self.audit.write(
                    "resumed", groupKey=state.key, strategy=state.plan.strategy,
                    detail="unfinished when the service stopped: carrying on",
                    state=resumed.record(),
                )  # fmt: skip
            self._resume(state.key)
        for service, ends in self.ledger.lock_ends().items():
            self._wake_at(service, ends)

    def _wake_at(self, service: ServiceName, epoch: float) -> None:
        """Look at what waits for `service` when its lock ends."""
        delay = epoch - self.now()
        if delay <= 0:
            return
        timer = threading.Timer(delay, self._woken, args=(service,))
        timer.daemon = True
        with self._lock:
            old = self._wakes.pop(service, None)
            self._wakes[service] = (self.options.clock() + delay, timer)
        if old is not None:
            old[1].cancel()
        timer.start()

    def _woken(self, service: ServiceName) -> None:
        self._wake((service,))
        with self._lock:
            if self._wakes.get(service, (0.0, None))[1] is threading.current_thread():
                del self._wakes[service]

    def _wake(self, services: Iterable[ServiceName]) -> None:
        for plan in self.ledger.waiting_for(services):
            self.consider(plan, self.options.clock(), resent=False)

    def _background(self, fn: Callable[..., None], *args: Any) -> None:
        with self._lock:
            future = self._pool.submit(fn, *args)
            self._futures.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    # --- background: act within the timeout ------------------------------------------------
    def _run(self, key: str, arrived: float, announce: str | None) -> None:
        try:
            state = self.ledger.state(key)
            assert state is not None and state.active is not None
            plan, active = state.plan, state.active
            if announce:
                self._notify(plan, announce)
            deadline = arrived + plan.timeout.total_seconds()
            steps: list[_Task] = [
                ("rollback", s, self._rollback_step(key, s, active.before)) for s in active.services
            ]
            if active.freeze:
                steps.append(("freeze", "all", self._freeze_step()))
            if active.resumes > MAX_RESUMES:  # it may be what stops the service: give up
                steps = [(a, s, _given_up) for a, s, _ in steps]
            threads = [
                threading.Thread(target=self._step, args=(plan, t, arrived, deadline), daemon=True)
                for t in steps
                if f"{t[0]} {t[1]}" not in active.steps
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            done = self.ledger.state(key)
            assert done is not None and done.active is not None
            report = messages.report(self._env, plan, done.active, self._dry)
            with self._lock:  # at once: a plan admitted right after this must start
                state, finished = self.ledger.finish(key)
                self._running.discard(key)
            failed = any(s.outcome == "failed" for s in finished.steps.values())
            self.audit.write(
                "finished", groupKey=key, strategy=plan.strategy,
                outcome="failed" if failed else "succeeded",
                elapsedSeconds=round(self.options.clock() - arrived, 3), state=state.record(),
            )  # fmt: skip
            self._notify(plan, report)
            for service, ends in self.ledger.lock_ends().items():
                if service in finished.services:
                    self._wake_at(service, ends)
            self._wake(finished.services)
            if state.waiting:  # what it waited for may have gone while it acted
                self.consider(state.plan, self.options.clock(), resent=False)
        except Exception as error:  # a bug: the plan stays unfinished, a re-send carries on
            self.audit.write(
                "interrupted", groupKey=key,
                detail=f"unexpected {type(error).__name__}; a re-send of the group carries on",
            )  # fmt: skip
        finally:
            with self._lock:
                self._running.discard(key)

    def _rollback_step(
        self, key: str, service: ServiceName, known: dict[ServiceName, str | None]
    ) -> Callable[[float], str]:
        """What served when the plan started is written down before the first rollback call:
        a retry, or the same plan resumed after a restart, never goes further back."""
        before: list[str | None] = [known[service]] if service in known else []

        def step(timeout: float) -> str:
            assert self.actions is not None
            if not before:
                before.append(self.actions.current(service, timeout))
                state = self.ledger.record_before(key, service, before[0])
                self.audit.write(
                    "attempt", groupKey=key, action="rollback", service=service,
                    before=before[0], state=state.record(),
                )  # fmt: skip
            return self.actions.rollback(service, before[0], timeout)

        return step

    def _freeze_step(self) -> Callable[[float], str]:
        def step(timeout: float) -> str:
            assert self.actions is not None
            return self.actions.freeze(timeout)

        return step

    def _step(self, plan: Plan, task: _Task, arrived: float, deadline: float) -> None:
        action, service, step = task
        clock = self.options.clock
        if self.options.dry_run:
            self.metrics.reaction.labels(plan.strategy).observe(clock() - arrived)
            detail = f"dry run: would {action} {service}"
            self._record(plan, action, service, Step(outcome="dry_run", attempts=0, detail=detail))
            return
        attempts = 0

        def attempt() -> str:
            nonlocal attempts
            attempts += 1
            if attempts == 1:
                self.metrics.reaction.labels(plan.strategy).observe(clock() - arrived)
            remaining = deadline - clock()
            if remaining <= 0:
                raise PermanentError("the strategy's timeout has passed")
            return step(min(self.options.request_timeout, remaining))

        retrying = Retrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop_before_delay(max(0.0, deadline - clock())),
            wait=wait_exponential_jitter(
                multiplier=self.options.retry_initial,
                max=self.options.retry_max,
                jitter=self.options.retry_initial,
            ),
            sleep=self.options.sleep,
            reraise=True,
        )
        outcome: Literal["succeeded", "failed"] = "failed"
        try:
            detail, outcome = retrying(attempt), "succeeded"
        except (TransientError, PermanentError) as error:
            timeout = plan.timeout.total_seconds()
            detail = f"{error} (gave up after {attempts} attempt(s) within the {timeout:g}s "
            detail += "timeout)"
        except Exception as error:  # a bug must be reported, not lose the audit record
            detail = f"unexpected {type(error).__name__}"
        self._record(plan, action, service, Step(outcome=outcome, attempts=attempts, detail=detail))

    def _record(self, plan: Plan, action: str, service: str, step: Step) -> None:
        state = self.ledger.record_step(plan.group_key, f"{action} {service}", step)
        self.audit.write(
            "action", groupKey=plan.group_key, strategy=plan.strategy, action=action,
            service=service, outcome=step.outcome, attempts=step.attempts, detail=step.detail,
            state=state.record(),
        )  # fmt: skip
        self.metrics.actions.labels(action, service, step.outcome).inc()

    # --- notifications ---------------------------------------------------------------------
    @property
    def _env(self) -> str:
        return self.policy.environment

    @property
    def _dry(self) -> bool:
        return self.options.dry_run

    def _notify(self, plan: Plan, text: str) -> None:
        """Queue `text` on the strategy's channels (the outbox sends it within its cap)."""
        problem = self.audit.problem()
        if problem is not None:
            text += f"\nWARNING: {problem}"
        message = Message(plan.group_key, plan.strategy, text)
        for channel in self.policy.strategies.of(plan.strategy).notifications:
            self._outbox.post(channel, message)

    def _notified(self, channel: Channel, batch: list[Message], outcome: str, detail: str) -> None:
        for message in batch:
            self.metrics.notifications.labels(channel, outcome).inc()
            self.audit.write(
                "notification", groupKey=message.group_key, channel=channel, outcome=outcome,
                detail=detail, text=message.text,
            )  # fmt: skip

    # --- lifecycle -------------------------------------------------------------------------
    def wait_idle(self, timeout: float) -> bool:
        """True when nothing runs or is watched, and no lock ends within `timeout` with
        something waiting for it (tests and shutdown)."""
        clock = self.options.clock
        deadline = clock() + timeout
        while clock() < deadline:
            with self._lock:
                wakes = [s for s, (due, _) in self._wakes.items() if due < deadline]
                busy = self._futures or self._watches or self._running
                waking = wakes and self.ledger.waiting_for(wakes)
                if not busy and not waking and self._outbox.idle():
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        with self._lock:
            timers = [*self._watches.values(), *(t for _, t in self._wakes.values())]
            self._watches.clear()
            self._wakes.clear()
        for timer in timers:
            timer.cancel()
        self._pool.shutdown(wait=True)
        self._outbox.close()


def _reasons(state: GroupState) -> dict[str, dict[str, Any]]:
    return {s: r.model_dump(mode="json") for s, r in state.waiting.items()}
