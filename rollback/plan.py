"""What to do about one webhook: a pure function of the payload and the policy.

The strategy's `actions` in rollback-config.yml decide the steps:
rollback_all_services / rollback_affected_service -> roll back those services now;
monitor + rollback_if_needed -> watch, then roll back the affected services if still firing;
freeze_deployments -> set the deploy freeze; reduce_traffic and investigate_cause -> notes for
the people notified (neither Railway nor Vercel can shift a share of traffic back).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel, ConfigDict

from monitoring.durations import Duration
from rollback.alerts import Alert, Webhook
from rollback.policy import STRATEGIES, Policy, ServiceName, StrategyName

URGENCY: dict[StrategyName, int] = {"immediate": 0, "fast": 1, "gradual": 2}

NOTES = {
    "reduce_traffic": "reduce_traffic: Railway and Vercel cannot split traffic by version; "
    "watching instead",
    "investigate_cause": "investigate_cause: compare the rolled-back release with the previous "
    "one (runbook link in the alert)",
}


class Plan(BaseModel):
    """What the group's firing alerts ask for; the ledger decides how much of it is done now.
    Stored in the audit log (durations as "5m"), so a restart knows it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group_key: str
    strategy: StrategyName
    timeout: Duration
    alerts: tuple[tuple[str, str], ...]  # (alertname, service) of the firing alerts acted on
    rollback: tuple[ServiceName, ...]
    freeze: bool
    watch: Duration | None  # gradual: roll back only if not resolved within this time
    notes: tuple[str, ...]
    runbooks: tuple[str, ...] = ()  # the alerts' runbook_url annotations, for escalations
    # The earliest startsAt (epoch) of the alerts acted on; None when a sender gave none.
    started: float | None = None

    def describe(self) -> str:
        """ "fast rollback for HighErrorRate/backend": how people are told which alert it is."""
        alerts = ", ".join(f"{name}/{service}" for name, service in self.alerts)
        return f"{self.strategy} rollback for {alerts}"


@dataclass(frozen=True)
class Skip:
    group_key: str
    decision: str  # resolved | ignored
    reason: str


def decide(webhook: Webhook, policy: Policy, gradual_watch: timedelta) -> Plan | Skip:
    key = webhook.group_key
    if webhook.status == "resolved" or not webhook.firing:
        return Skip(key, "resolved", "resolved alerts never trigger an action")
    usable = [
        a
        for a in webhook.firing
        if a.labels.get("rollback_strategy") in STRATEGIES
        and a.labels.get("service") in policy.services
        and a.labels.get("environment", policy.environment) == policy.environment
    ]
    if not usable:
        return Skip(
            key,
            "ignored",
            f"no firing alert with a known rollback_strategy and service for environment "
            f"{policy.environment}",
        )
    strategy: StrategyName = min(
        (_strategy(a.labels["rollback_strategy"]) for a in usable), key=URGENCY.__getitem__
    )
    chosen = [a for a in usable if a.labels["rollback_strategy"] == strategy]
    affected = tuple(s for s in policy.services if any(a.labels["service"] == s for a in chosen))
    config = policy.strategies.of(strategy)
    actions = set(config.actions)
    rollback: tuple[ServiceName, ...] = ()
    if "rollback_all_services" in actions:
        rollback = policy.rollbackable
    elif actions & {"rollback_affected_service", "rollback_if_needed"}:
        rollback = affected
    watch = None
    if "monitor" in actions and "rollback_all_services" not in actions:
        # Half the timeout at most: the rollback after the watch must fit in the timeout too.
        watch = min(gradual_watch, config.timeout / 2)
    return Plan(
        group_key=key,
        strategy=strategy,
        timeout=config.timeout,
        alerts=tuple(
            sorted({(a.labels.get("alertname", "?"), a.labels["service"]) for a in chosen})
        ),
        rollback=rollback,
        freeze="freeze_deployments" in actions,
        watch=watch,
        notes=tuple(NOTES[a] for a in config.actions if a in NOTES),
        runbooks=tuple(sorted({u for a in chosen if (u := a.annotations.get("runbook_url"))})),
        started=_earliest(chosen),
    )


def _earliest(alerts: list[Alert]) -> float | None:
    """When the first of `alerts` began firing; unknown if any has no startsAt (the ledger then
    takes the reading that never acts twice)."""
    starts = [a.starts_at for a in alerts]
    if not starts or any(s is None for s in starts):
        return None
    return min(s.timestamp() for s in starts if s is not None)


def _strategy(value: str) -> StrategyName:
    return next(s for s in STRATEGIES if s == value)
