"""Assemble the service from its settings: policy, audit log, ledger, notifier, executor."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rollback.audit import AuditLog
from rollback.executor import Actions, Executor, Options
from rollback.ledger import Ledger
from rollback.metrics import Metrics
from rollback.notify import Notifier
from rollback.platforms import LiveActions
from rollback.policy import Policy, load_policy, read_policy
from rollback.settings import Settings


@dataclass
class Service:
    settings: Settings
    policy: Policy
    executor: Executor
    notifier: Notifier
    metrics: Metrics
    audit: AuditLog
    restored: int  # alert groups the audit log still had something to remember of

    def close(self) -> None:
        self.executor.close()
        self.notifier.close()


def policy_of(settings: Settings) -> Policy:
    if settings.config_yaml is not None:
        return load_policy(settings.config_yaml)
    assert settings.config_file is not None
    return read_policy(settings.config_file)


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


def build_service(
    settings: Settings,
    *,
    actions: Actions | None = None,
    now: Callable[[], float] = time.time,
    options: Options | None = None,
) -> Service:
    """`actions` replaces the live platforms (tests); ignored in dry_run, which never acts."""
    policy = policy_of(settings)
    metrics = Metrics()
    audit = AuditLog(
        settings.audit_log,
        now,
        dry_run=settings.dry_run,
        max_bytes=settings.audit_max_bytes,
        on_failure=metrics.audit_failures.inc,
    )
    audit.open()
    ledger = Ledger(settings.cooldown, settings.lockout, now)
    restored = ledger.restore(audit.records())
    audit.snapshot = ledger.snapshot
    notifier = Notifier(settings, policy.environment)
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
        now=now,
    )
    metrics.in_progress.set_function(ledger.busy)
    audit.write(
        "started",
        groupKey=None,
        environment=policy.environment,
        restoredGroups=restored,
        channels=sorted(notifier.senders),
    )
    executor.resume_all()
    return Service(settings, policy, executor, notifier, metrics, audit, restored)
