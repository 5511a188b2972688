"""The service's own Prometheus metrics, in a registry of its own (served on /metrics)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.webhooks = Counter(
            "rollback_webhooks", "Webhook calls by outcome", ["outcome"], registry=r
        )
        self.decisions = Counter(
            "rollback_decisions",
            "Decisions on alert groups (act, waiting, duplicate, resolved, ignored, cancelled)",
            ["strategy", "decision"],
            registry=r,
        )
        self.actions = Counter(
            "rollback_actions",
            "Rollback and freeze actions by outcome (succeeded, failed, dry_run, waiting)",
            ["action", "service", "outcome"],
            registry=r,
        )
        self.notifications = Counter(
            "rollback_notifications",
            "Notifications by channel and outcome (sent, digest, failed, not_configured)",
            ["channel", "outcome"],
            registry=r,
        )
        self.reaction = Histogram(
            "rollback_reaction_seconds",
            "From webhook arrival to the first call of a rollback action",
            ["strategy"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
            registry=r,
        )
        self.audit_failures = Counter(
            "rollback_audit_write_failures",
            "Audit log writes that failed (the record is held in memory and retried)",
            registry=r,
        )
        self.in_progress = Gauge(
            "rollback_plans_in_progress", "Plans being executed or watched", registry=r
        )
