"""From a webhook to actions: decide (pure), admit once (ledger), then act in the background
within the strategy's timeout, writing every step to the audit log and the channels.

The webhook answer never waits for a rollback: Alertmanager's call would time out and be
re-sent. Steps of one plan run in parallel, so one slow platform does not eat the others' time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from tenacity import Retrying, retry_if_exception_type, stop_before_delay
from tenacity.wait import wait_exponential_jitter

from rollback.alerts import Webhook
from rollback.audit import AuditLog
from rollback.http import PermanentError, TransientError
from rollback.ledger import Admitted, Duplicate, Ledger
from rollback.metrics import Metrics
from rollback.notify import Message, Sender
from rollback.plan import Plan, Skip, decide
from rollback.policy import Channel, Policy


class Actions(Protocol):
    """The platforms. `timeout` bounds each request; errors are Transient or Permanent."""

    def current(self, service: str, timeout: float) -> str | None: ...
    def rollback(self, service: str, before: str | None, timeout: float) -> str: ...
    def freeze(self, timeout: float) -> str: ...


@dataclass(frozen=True)
class Outcome:
    action: str  # rollback | freeze
    service: str
    ok: bool
    attempts: int
    detail: str


@dataclass
class Options:
    dry_run: bool
    gradual_watch: timedelta
    request_timeout: float
    retry_initial: float = 0.2  # first backoff between attempts of a step
    retry_max: float = 5.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


@dataclass
class _Pending:
    timer: threading.Timer
    plan: Plan


@dataclass
class Executor:
    policy: Policy
    options: Options
    actions: Actions | None  # None only in dry_run
    audit: AuditLog
    ledger: Ledger
    metrics: Metrics
    senders: dict[Channel, Sender]
    _pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(8, thread_name_prefix="rollback")
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _futures: set[Future[None]] = field(default_factory=set)
    _pending: dict[str, _Pending] = field(default_factory=dict)

    # --- request path: fast, no I/O but the audit line ------------------------------------
    def handle(self, webhook: Webhook, arrived: float) -> str:
        """Decide and schedule; returns the decision for the HTTP answer."""
        decision = decide(webhook, self.policy, self.options.gradual_watch)
        if isinstance(decision, Skip):
            self._skip(decision)
            return decision.decision
        admission = self.ledger.admit(decision)
        if isinstance(admission, Duplicate):
            self.audit.write(
                "duplicate", groupKey=decision.group_key, strategy=decision.strategy,
                firstActedEpoch=round(admission.acted_at, 3),
            )  # fmt: skip
            self.metrics.decisions.labels(decision.strategy, "duplicate").inc()
            return "duplicate"
        self._admitted(admission, arrived)
        return "accepted"

    def _skip(self, skip: Skip) -> None:
        self.audit.write(skip.decision, groupKey=skip.group_key, detail=skip.reason)
        self.metrics.decisions.labels("", skip.decision).inc()
        if skip.decision == "resolved":
            self._cancel_watch(skip.group_key)

    def _admitted(self, admission: Admitted, arrived: float) -> None:
        plan = admission.plan
        self.audit.write(
            "admitted",
            groupKey=plan.group_key,
            strategy=plan.strategy,
            alerts=[list(a) for a in plan.alerts],
            rollback=list(plan.rollback),
            locked=list(admission.locked),
            freeze=plan.freeze,
            watchSeconds=plan.watch.total_seconds() if plan.watch else None,
            timeoutSeconds=plan.timeout.total_seconds(),
            notes=list(plan.notes),
        )
        self.metrics.decisions.labels(plan.strategy, "act").inc()
        for service in admission.locked:
            self.metrics.actions.labels("rollback", service, "locked").inc()
        self.metrics.in_progress.inc()
        if plan.watch is not None and plan.rollback:
            timer = threading.Timer(
                plan.watch.total_seconds(), self._submit, args=(plan, arrived, admission)
            )
            timer.daemon = True
            with self._lock:
                self._pending[plan.group_key] = _Pending(timer, plan)
            self._background(
                self._notify, plan, _announce(self.policy, admission, self.options.dry_run)
            )
            timer.start()
        else:
            self._submit(plan, arrived, admission, announce=True)

    def _submit(
        self, plan: Plan, arrived: float, admission: Admitted, announce: bool = False
    ) -> None:
        with self._lock:
            self._pending.pop(plan.group_key, None)
        self._background(self._run, plan, arrived, admission, announce)

    def _background(self, fn: Callable[..., None], *args: Any) -> None:
        with self._lock:
            future = self._pool.submit(fn, *args)
            self._futures.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def _cancel_watch(self, group_key: str) -> None:
        with self._lock:
            pending = self._pending.pop(group_key, None)
        if pending is None:
            return
        pending.timer.cancel()
        plan = pending.plan
        self.ledger.release(plan.group_key, plan.rollback)
        self.audit.write(
            "cancelled", groupKey=plan.group_key, strategy=plan.strategy,
            rollback=list(plan.rollback), detail="resolved while watched: no rollback",
        )  # fmt: skip
        self.metrics.decisions.labels(plan.strategy, "cancelled").inc()
        self.metrics.in_progress.dec()
        text = f"{_title(self.policy, plan)}: resolved while watched, no rollback"
        self._background(self._notify, plan, text)

    # --- background: act within the timeout ------------------------------------------------
    def _run(self, plan: Plan, arrived: float, admission: Admitted, announce: bool) -> None:
        try:
            if announce:
                self._notify(plan, _announce(self.policy, admission, self.options.dry_run))
            deadline = arrived + plan.timeout.total_seconds()
            steps: list[tuple[str, str, Callable[[float], str]]] = [
                ("rollback", s, self._rollback_step(s)) for s in plan.rollback
            ]
            if plan.freeze:
                steps.append(("freeze", "all", self._freeze_step()))
            outcomes: list[Outcome] = []
            threads = [
                threading.Thread(
                    target=lambda a=a, s=s, f=f: outcomes.append(
                        self._step(
                            plan, action=a, service=s, step=f, arrived=arrived, deadline=deadline
                        )
                    ),
                    daemon=True,
                )
                for a, s, f in steps
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            failed = [o for o in outcomes if not o.ok]
            self.audit.write(
                "finished", groupKey=plan.group_key, strategy=plan.strategy,
                outcome="failed" if failed else "succeeded",
                elapsedSeconds=round(self.options.clock() - arrived, 3),
            )  # fmt: skip
            self._notify(plan, _report(self.policy, plan, outcomes, self.options.dry_run))
        finally:
            self.metrics.in_progress.dec()

    def _rollback_step(self, service: str) -> Callable[[float], str]:
        before: list[str | None] = []

        def step(timeout: float) -> str:
            assert self.actions is not None
            if not before:  # what served when we started: a later attempt must not go further
                before.append(self.actions.current(service, timeout))
            return self.actions.rollback(service, before[0], timeout)

        return step

    def _freeze_step(self) -> Callable[[float], str]:
        def step(timeout: float) -> str:
            assert self.actions is not None
            return self.actions.freeze(timeout)

        return step

    def _step(
        self,
        plan: Plan,
        *,
        action: str,
        service: str,
        step: Callable[[float], str],
        arrived: float,
        deadline: float,
    ) -> Outcome:
        clock = self.options.clock
        if self.options.dry_run:
            detail = f"dry run: would {action} {service}"
            self.metrics.reaction.labels(plan.strategy).observe(clock() - arrived)
            return self._record(plan, Outcome(action, service, True, 0, detail), "dry_run")
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
        try:
            detail = retrying(attempt)
        except (TransientError, PermanentError) as error:
            timeout = plan.timeout.total_seconds()
            detail = (
                f"{error} (gave up after {attempts} attempt(s) within the {timeout:g}s timeout)"
            )
            return self._record(plan, Outcome(action, service, False, attempts, detail), "failed")
        except Exception as error:  # a bug must be reported, not lose the audit record
            detail = f"unexpected {type(error).__name__}"
            return self._record(plan, Outcome(action, service, False, attempts, detail), "failed")
        return self._record(plan, Outcome(action, service, True, attempts, detail), "succeeded")

    def _record(self, plan: Plan, outcome: Outcome, label: str) -> Outcome:
        self.audit.write(
            "action", groupKey=plan.group_key, strategy=plan.strategy, action=outcome.action,
            service=outcome.service, outcome=label, attempts=outcome.attempts,
            detail=outcome.detail,
        )  # fmt: skip
        self.metrics.actions.labels(outcome.action, outcome.service, label).inc()
        return outcome

    def _notify(self, plan: Plan, text: str) -> None:
        message = Message(plan.group_key, plan.strategy, text)
        for channel in self.policy.strategies.of(plan.strategy).notifications:
            sender = self.senders.get(channel)
            outcome, detail = "sent", ""
            if sender is None:
                outcome, detail = "not_configured", f"no settings for {channel}"
            else:
                try:
                    sender(message)
                except Exception as error:  # a channel failing must not stop the others
                    outcome, detail = "failed", _describe(error)
            self.metrics.notifications.labels(channel, outcome).inc()
            self.audit.write(
                "notification", groupKey=plan.group_key, channel=channel, outcome=outcome,
                detail=detail, text=text,
            )  # fmt: skip

    # --- lifecycle -------------------------------------------------------------------------
    def wait_idle(self, timeout: float) -> bool:
        """True when no plan is running or watched (tests and shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._futures and not self._pending:
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
        for item in pending:
            item.timer.cancel()
        self._pool.shutdown(wait=True)


def _describe(error: Exception) -> str:
    """Type and HTTP status only: an exception message may carry a webhook URL or a key."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    return type(error).__name__ + (f" (HTTP {status})" if status else "")


def _title(policy: Policy, plan: Plan) -> str:
    alerts = ", ".join(f"{name}/{service}" for name, service in plan.alerts)
    return f"[{policy.environment}] {plan.strategy} rollback for {alerts}"


def _announce(policy: Policy, admission: Admitted, dry_run: bool) -> str:
    plan = admission.plan
    lines = [("[DRY RUN] " if dry_run else "") + _title(policy, plan)]
    if plan.watch is not None and plan.rollback:
        lines.append(
            f"watching {plan.watch.total_seconds():g}s; then rolling back "
            f"{', '.join(plan.rollback)} unless resolved"
        )
    elif plan.rollback:
        lines.append(f"rolling back {', '.join(plan.rollback)}")
    if plan.freeze:
        lines.append("freezing deployments (a person lifts the freeze)")
    if admission.locked:
        lines.append(
            f"NOT rolling back {', '.join(admission.locked)} again: rolled back automatically "
            "a short while ago; a person must look"
        )
    lines.extend(plan.notes)
    return "\n".join(lines)


def _report(policy: Policy, plan: Plan, outcomes: list[Outcome], dry_run: bool) -> str:
    failed = [o for o in outcomes if not o.ok]
    head = "FAILED" if failed else "done"
    lines = [("[DRY RUN] " if dry_run else "") + f"{_title(policy, plan)}: {head}"]
    lines.extend(
        f"{'ok' if o.ok else 'FAILED'} {o.action} {o.service}: {o.detail}"
        for o in sorted(outcomes, key=lambda o: (o.action, o.service))
    )
    return "\n".join(lines)
