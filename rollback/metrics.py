"""The service's own Prometheus metrics, in a registry of its own (served on /metrics).

A labelled counter has no series until its labels are first used, and Prometheus' `increase()`
needs two samples: a failure counter that appears at 1 reads as no increase, and its alert never
fires. So every failure series the policy can produce exists at 0 from the start (`zeros`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from rollback.policy import STRATEGIES, Policy

WEBHOOK_OUTCOMES = ("accepted", "unauthorized", "too_large", "invalid")


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
            "Decisions on alert groups (act, waiting, duplicate, escalated, resolved, ignored, "
            "cancelled)",
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
        self.tickets = Counter(
            "rollback_tickets",
            "GitHub issues of the service level objectives opened, updated or closed, by outcome",
            ["service", "outcome"],
            registry=r,
        )
        self.in_progress = Gauge(
            "rollback_plans_in_progress", "Plans being executed or watched", registry=r
        )

    def zeros(self, policy: Policy) -> None:
        """Create at 0 every series an alert watches: each action on each service the policy
        can act on, by outcome; each webhook outcome; each channel's failures."""
        for action, service in acted_on(policy):
            for outcome in ("succeeded", "failed"):
                self.actions.labels(action, service, outcome)
        for service in {s.service for s in policy.slos if s.tickets}:
            for outcome in ("succeeded", "failed"):
                self.tickets.labels(service, outcome)
        for outcome in WEBHOOK_OUTCOMES:
            self.webhooks.labels(outcome)
        for channel in {c for s in STRATEGIES for c in policy.strategies.of(s).notifications}:
            for outcome in ("sent", "failed"):
                self.notifications.labels(channel, outcome)


def acted_on(policy: Policy) -> list[tuple[str, str]]:
    """(action, service) pairs some strategy of `policy`, or its error-budget policy, acts on."""
    found: set[tuple[str, str]] = set()
    for name in STRATEGIES:
        actions = set(policy.strategies.of(name).actions)
        if "rollback_all_services" in actions:
            found |= {("rollback", s) for s in policy.services}
        if actions & {"rollback_affected_service", "rollback_if_needed"}:
            found |= {("rollback", a.service) for a in policy.alerts if a.strategy == name}
        if "freeze_deployments" in actions:
            found.add(("freeze", "all"))
    found |= {("freeze", s.service) for s in policy.slos if s.freeze}  # rollback.budget
    return sorted(found)
