"""Assemble the service from its settings: policy, audit log, ledger, notifier, executor."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rollback import messages
from rollback.audit import AuditLog
from rollback.budget import Budget, BudgetActions
from rollback.executor import Actions, Executor, Options, Scheduler, Timers
from rollback.ledger import Context, Ledger, Memory, busy, restore, snapshot
from rollback.metrics import Metrics
from rollback.notify import Notifier
from rollback.platforms import LiveActions
from rollback.policy import Policy, load_policy
from rollback.settings import Settings

FREEZE_RETRY_MAX = 30 * 60.0  # seconds: the longest wait between two tries of a failed freeze


@dataclass
class Service:
    settings: Settings
    policy: Policy
    executor: Executor
    notifier: Notifier
    metrics: Metrics
    audit: AuditLog
    restored: int  # alert groups the audit log still had something to remember of
    memory: Memory
    budget: Budget
    closed: bool = False

    def close(self) -> None:
        """Stop, then write `stopped`: the next start knows the log is whole. If the record
        cannot be written (a full volume), the next start knows it may not be."""
        if self.closed:
            return
        self.closed = True
        self.budget.close()
        self.executor.close()
        self.notifier.close()
        self.audit.write("stopped", groupKey=None, detail="stopped cleanly")


def policy_of(settings: Settings) -> Policy:
    config = settings.config_yaml
    if config is None:
        assert settings.config_file is not None
        config = settings.config_file.read_text()
    services = settings.services_yaml
    if services is None:
        assert settings.services_file is not None
        services = settings.services_file.read_text()
    return load_policy(config, services)


def options_of(settings: Settings, **overrides: Any) -> Options:
    """The executor's options from the settings; `overrides` replace some (tests)."""
    given: dict[str, Any] = {
        "dry_run": settings.dry_run,
        "gradual_watch": settings.gradual_watch,
        "request_timeout": settings.request_timeout.total_seconds(),
        "notify_limit": settings.notify_limit,
        "notify_window": settings.notify_window.total_seconds(),
    }
    return Options(**{**given, **overrides})


def whole(records: Iterable[Mapping[str, Any]]) -> bool:
    """Whether the log holds every record of the runs before, as far as it can tell: none ran
    yet, or the last one wrote `stopped` after all it held (`manual` records do not count)."""
    last = ""
    for record in records:
        if record.get("event") in ("started", "stopped"):
            last = str(record["event"])
    return last in ("", "stopped")


def build_service(
    settings: Settings,
    *,
    actions: Actions | None = None,
    now: Callable[[], float] = time.time,
    options: Options | None = None,
    scheduler: Scheduler | None = None,
) -> Service:
    """`actions` replaces the live platforms (tests); ignored in dry_run, which never acts."""
    policy = policy_of(settings)
    metrics = Metrics()
    metrics.zeros(policy)
    audit = AuditLog(
        settings.audit_log,
        now,
        dry_run=settings.dry_run,
        max_bytes=settings.audit_max_bytes,
        on_failure=metrics.audit_failures.inc,
    )
    audit.open()
    records = list(audit.records())
    book = restore(records)
    notifier = Notifier(settings, policy.environment)
    audit.write(
        "started",
        groupKey=None,
        environment=policy.environment,
        restoredGroups=len(book.groups),
        channels=sorted(notifier.senders),
    )
    # A volume that fails now may have failed before the last stop too: records may be lost.
    memory = Memory(
        started=now(),
        whole=whole(records) and audit.problem() is None,
        recorded=audit.pending() == 0,  # else a restart could not know this run: it never acts
    )
    if not memory.whole:
        audit.write("memory_gap", groupKey=None, detail=messages.memory_gap(memory.started))
    context = Context(
        environment=policy.environment,
        dry_run=settings.dry_run,
        lockout=settings.lockout.total_seconds(),
        settle=settings.settle.total_seconds(),
        freeze_retry=settings.freeze_retry.total_seconds(),
        freeze_retry_max=max(FREEZE_RETRY_MAX, settings.freeze_retry.total_seconds()),
        memory=memory,
    )
    ledger = Ledger(context, now, book)
    restored = len(ledger.book.groups)
    audit.snapshot = lambda: snapshot(ledger.book)
    if settings.dry_run:
        actions = None
    elif actions is None:
        actions = LiveActions(settings, policy)
    executor = Executor(
        policy=policy,
        options=options or options_of(settings),
        actions=actions,
        audit=audit,
        ledger=ledger,
        metrics=metrics,
        senders=notifier.senders,
        scheduler=scheduler or Timers(now),
    )
    metrics.in_progress.set_function(lambda: busy(ledger.book))
    executor.resume_all()
    budget = Budget(
        policy,
        actions if isinstance(actions, BudgetActions) else None,
        executor,
        audit,
        metrics,
        records=records,
        now=now,
        dry_run=settings.dry_run,
    )
    return Service(settings, policy, executor, notifier, metrics, audit, restored, memory, budget)
