"""From a webhook to actions: decide (pure), step the ledger (pure), then apply its effects:
write each audit record with its metric counts and its message (`emit`, the one place that does
all three), run plans in the background within the strategy's timeout, and schedule watches and
freeze retries.

The webhook answer never waits for a rollback: Alertmanager's call would time out and be
re-sent. Steps of one plan run in parallel, so one slow platform does not eat the others' time.
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

from rollback.alerts import Webhook
from rollback.audit import AuditLog
from rollback.http import PermanentError, TransientError
from rollback.ledger import (
    MAX_RESUMES,
    Attempting,
    Book,
    Effect,
    Event,
    Finished,
    Fired,
    FreezeTried,
    History,
    Ledger,
    Observe,
    Report,
    Resolved,
    Resumed,
    RetryFreeze,
    Run,
    Served,
    Step,
    StepDone,
    StopWatch,
    Tell,
    Watch,
    WatchOver,
    history,
)
from rollback.metrics import Metrics
from rollback.notify import Message, Sender
from rollback.outbox import Outbox
from rollback.plan import Plan, Skip, decide
from rollback.policy import Channel, Policy, ServiceName

__all__ = ["MAX_RESUMES", "Actions", "Executor", "Options", "Scheduler", "Timers"]


class Actions(Protocol):
    """The platforms. `timeout` bounds each request; errors are Transient or Permanent.
    `rollback` goes back from `before` (what served when the plan began) to the newest deployment
    older than it of `known.healthy` (seen serving when an incident had resolved), never to one
    of `known.avoid` (releases rolled back before)."""

    def current(self, service: str, timeout: float) -> str | None: ...
    def rollback(self, service: str, before: str | None, known: History, timeout: float) -> str: ...
    def freeze(self, timeout: float) -> str: ...


class Scheduler(Protocol):
    """Calls `fn` at `epoch` (the ledger's clock); returns what cancels it."""

    def call_at(self, epoch: float, fn: Callable[[], None]) -> Callable[[], None]: ...


@dataclass
class Timers:
    """The real scheduler: a daemon timer per call."""

    now: Callable[[], float] = time.time

    def call_at(self, epoch: float, fn: Callable[[], None]) -> Callable[[], None]:
        timer = threading.Timer(max(0.0, epoch - self.now()), fn)
        timer.daemon = True
        timer.start()
        return timer.cancel


_Task = tuple[str, str, Callable[[float], str]]  # (action, service, one attempt)


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
    scheduler: Scheduler = field(default_factory=Timers)
    _pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(8, thread_name_prefix="rollback")
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _futures: set[Future[None]] = field(default_factory=set)
    _watches: dict[str, Callable[[], None]] = field(default_factory=dict)
    _retries: dict[str, Callable[[], None]] = field(default_factory=dict)
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
        if isinstance(decision, Plan):
            return self.apply(Fired(decision, arrived))
        if decision.decision == "resolved":
            return self.apply(Resolved(decision.group_key, decision.reason))
        self._skipped(decision)
        return decision.decision

    def _skipped(self, skip: Skip) -> None:
        self.emit(
            Report(skip.decision, skip.group_key, {"detail": skip.reason},
                   counts=(("decisions", ("", skip.decision)),))
        )  # fmt: skip

    def apply(self, event: Event) -> str:
        """One ledger step, then its effects, in order."""
        outcome = self.ledger.apply(event)
        self._effects(outcome.effects)
        return outcome.decision

    def _effects(self, effects: Iterable[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Report):
                self.emit(effect)
            elif isinstance(effect, Run):
                arrived = effect.arrived if effect.arrived >= 0 else self.options.clock()
                self._start(effect.key, arrived)
            elif isinstance(effect, Watch):
                self._schedule(self._watches, effect.key, effect.until, self._watch_over)
            elif isinstance(effect, StopWatch):
                self._cancel(self._watches, effect.key)
            elif isinstance(effect, RetryFreeze):
                self._schedule(self._retries, effect.key, effect.at, self._retry_freeze)
            elif isinstance(effect, Observe) and self.actions and not self.options.dry_run:
                self._background(self._observe, effect)

    def emit(self, report: Report) -> None:
        """The one place that writes an audit record, its metric counts and its message."""
        if report.event is not None:
            fields = dict(report.fields)
            if report.state is not None:
                fields["state"] = report.state.record()
            self.audit.write(report.event, groupKey=report.key, **fields)
        for metric, labels in report.counts:
            getattr(self.metrics, metric).labels(*labels).inc()
        if report.tell is not None:
            self._notify(report.tell)

    # --- watches, runs and retries ---------------------------------------------------------
    def _schedule(
        self, table: dict[str, Callable[[], None]], key: str, at: float,
        then: Callable[[str], None],
    ) -> None:  # fmt: skip
        def fire() -> None:
            with self._lock:
                if table.get(key) is not cancel_box[0]:
                    return  # cancelled or replaced
            try:
                then(key)
            finally:
                with self._lock:
                    if table.get(key) is cancel_box[0]:
                        del table[key]

        cancel_box: list[Callable[[], None]] = []
        with self._lock:
            old = table.pop(key, None)
            cancel = self.scheduler.call_at(at, fire)
            cancel_box.append(cancel)
            table[key] = cancel
        if old is not None:
            old()

    def _cancel(self, table: dict[str, Callable[[], None]], key: str) -> None:
        with self._lock:
            cancel = table.pop(key, None)
        if cancel is not None:
            cancel()

    def _watch_over(self, key: str) -> None:
        self.apply(WatchOver(key))

    def _start(self, key: str, arrived: float) -> None:
        with self._lock:
            if key in self._running:
                return
            self._running.add(key)
        self._background(self._run, key, arrived)

    def resume_all(self) -> None:
        """At start: every plan the audit log shows unfinished, watched, or retrying a freeze."""
        for group in list(self.ledger.book.groups.values()):
            if group.active is not None and group.active.watch_until is None:
                self.apply(Resumed(group.key))
                self._start(group.key, self.options.clock())
            elif group.active is not None and group.active.watch_until is not None:
                until = group.active.watch_until
                self._schedule(self._watches, group.key, until, self._watch_over)
            if group.freeze_retry is not None:
                at = group.freeze_retry.next
                self._schedule(self._retries, group.key, at, self._retry_freeze)

    def _background(self, fn: Callable[..., None], *args: Any) -> None:
        with self._lock:
            future = self._pool.submit(fn, *args)
            self._futures.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def _observe(self, effect: Observe) -> None:
        """What serves each service now that the group resolved: known healthy (the ledger)."""
        assert self.actions is not None
        for service in effect.services:
            try:
                deployment = self.actions.current(service, self.options.request_timeout)
            except (TransientError, PermanentError) as error:
                self.audit.write("healthy_unknown", groupKey=effect.key, service=service,
                                 detail=str(error))  # fmt: skip
                continue
            self.apply(Served(effect.key, service, deployment))

    # --- background: act within the timeout ------------------------------------------------
    def _run(self, key: str, arrived: float) -> None:
        try:
            state = self.ledger.state(key)
            assert state is not None and state.active is not None
            plan, active = state.plan, state.active
            deadline = arrived + plan.timeout.total_seconds()
            book = self.ledger.book
            steps: list[_Task] = [
                ("rollback", s, self._rollback_step(key, s, active.before, book))
                for s in active.services
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
            with self._lock:  # at once: a plan admitted right after this must start
                outcome = self.ledger.apply(Finished(key, self.options.clock() - arrived))
                self._running.discard(key)
            self._effects(outcome.effects)
        except Exception as error:  # a bug: the plan stays unfinished, a re-send carries on
            self.audit.write(
                "interrupted", groupKey=key,
                detail=f"unexpected {type(error).__name__}; a re-send of the group carries on",
            )  # fmt: skip
        finally:
            with self._lock:
                self._running.discard(key)

    def _rollback_step(
        self,
        key: str,
        service: ServiceName,
        served: dict[ServiceName, str | None],
        book: Book,
    ) -> Callable[[float], str]:
        """What served when the plan started is written down before the first rollback call:
        a retry, or the same plan resumed after a restart, never goes further back."""
        before: list[str | None] = [served[service]] if service in served else []
        known = history(book, service)

        def step(timeout: float) -> str:
            assert self.actions is not None
            if not before:
                before.append(self.actions.current(service, timeout))
                self.apply(Attempting(key, service, before[0]))
            return self.actions.rollback(service, before[0], known, timeout)

        return step

    def _freeze_step(self) -> Callable[[float], str]:
        def step(timeout: float) -> str:
            assert self.actions is not None
            return self.actions.freeze(timeout)

        return step

    def _step(self, plan: Plan, task: _Task, arrived: float, deadline: float) -> None:
        action, service, attempt = task
        self.metrics.reaction.labels(plan.strategy).observe(self.options.clock() - arrived)
        result = self.attempts(action, service, attempt, deadline, plan.timeout.total_seconds())
        self.apply(StepDone(plan.group_key, action, service, result))

    def attempts(
        self, action: str, service: str, attempt: Callable[[float], str], deadline: float,
        budget: float,
    ) -> Step:  # fmt: skip
        """`attempt` retried with backoff while it fails transiently and time is left."""
        if self.options.dry_run:
            return Step(outcome="dry_run", attempts=0, detail=f"dry run: would {action} {service}")
        clock = self.options.clock
        attempts = 0

        def once() -> str:
            nonlocal attempts
            attempts += 1
            remaining = deadline - clock()
            if remaining <= 0:
                raise PermanentError("the strategy's timeout has passed")
            return attempt(min(self.options.request_timeout, remaining))

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
            detail, outcome = retrying(once), "succeeded"
        except (TransientError, PermanentError) as error:
            detail = f"{error} (gave up after {attempts} attempt(s) within the {budget:g}s "
            detail += "timeout)"
        except Exception as error:  # a bug must be reported, not lose the audit record
            detail = f"unexpected {type(error).__name__}"
        return Step(outcome=outcome, attempts=attempts, detail=detail)

    def _retry_freeze(self, key: str) -> None:
        """One more round of the deploy freeze, within the freeze's strategy timeout."""
        state = self.ledger.state(key)
        if state is None or state.freeze_retry is None:
            return
        budget = state.plan.timeout.total_seconds()
        result = self.attempts(
            "freeze", "all", self._freeze_step(), self.options.clock() + budget, budget
        )
        self.apply(FreezeTried(key, result))

    # --- notifications ---------------------------------------------------------------------
    def _notify(self, tell: Tell) -> None:
        """Queue the text on the strategy's channels (the outbox sends it within its cap); an
        escalation also goes where the most urgent strategy goes (the pager, where it pages)."""
        text = tell.text
        problem = self.audit.problem()
        if problem is not None:
            text += f"\nWARNING: {problem}"
        strategies = self.policy.strategies
        channels = list(strategies.of(tell.plan.strategy).notifications)
        if tell.page:
            channels += [c for c in strategies.immediate.notifications if c not in channels]
        message = Message(tell.plan.group_key, tell.plan.strategy, text, escalation=tell.page)
        self.tell(channels, message)

    def tell(self, channels: Iterable[Channel], message: Message) -> None:
        """Queue `message` on `channels` (the outbox sends it within each channel's cap)."""
        for channel in channels:
            self._outbox.post(channel, message)

    def _notified(self, channel: Channel, batch: list[Message], outcome: str, detail: str) -> None:
        for message in batch:
            self.emit(
                Report(
                    "notification", message.group_key,
                    {"channel": channel, "outcome": outcome, "detail": detail,
                     "text": message.text},
                    counts=(("notifications", (channel, outcome)),),
                )
            )  # fmt: skip

    # --- lifecycle -------------------------------------------------------------------------
    def wait_idle(self, timeout: float) -> bool:
        """True when nothing runs or is watched and every message is sent (tests and shutdown);
        a freeze retry waiting for its time does not count."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                busy = self._futures or self._watches or self._running
                if not busy and self._outbox.idle():
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        with self._lock:
            cancels = [*self._watches.values(), *self._retries.values()]
            self._watches.clear()
            self._retries.clear()
        for cancel in cancels:
            cancel()
        self._pool.shutdown(wait=True)
        self._outbox.close()
