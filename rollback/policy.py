"""The stack's rollback-config.yml and rollback-services.yml (rendered by `monitoring.render`), as
far as the service acts on them: the environment, each strategy's timeout, actions and channels,
the alert table, and the services it may roll back with the platform each runs on."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from monitoring import yamlfile
from monitoring.config import Action, Channel, ServiceName, StrategyName
from monitoring.durations import Duration
from monitoring.rollback import RollbackServices, RollbackTarget

__all__ = [
    "Action",
    "Channel",
    "Policy",
    "ServiceName",
    "StrategyName",
    "load_policy",
    "read_policy",
]

STRATEGIES: tuple[StrategyName, ...] = ("immediate", "fast", "gradual")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StrategyPolicy(_Model):
    timeout: Duration = Field(gt=timedelta(0))
    actions: tuple[Action, ...] = Field(min_length=1)
    notifications: tuple[Channel, ...] = Field(min_length=1)


class AlertRoute(_Model):
    alertname: str
    service: ServiceName
    strategy: StrategyName


class Strategies(_Model):
    immediate: StrategyPolicy
    fast: StrategyPolicy
    gradual: StrategyPolicy

    def of(self, name: StrategyName) -> StrategyPolicy:
        strategy: StrategyPolicy = getattr(self, name)
        return strategy


class SloPolicy(_Model):
    """A service level objective (monitoring.slo.rollback_policy): tickets for its slow burns,
    and whether a spent budget freezes deploys here."""

    service: ServiceName
    slo: str
    objective: str  # for people: "99.9% of backend requests answered within 2s over 30d"
    tickets: bool
    freeze: bool


class Policy(_Model):
    environment: str
    # Thresholds are Prometheus' business; the service only needs the keys to exist.
    triggers: dict[str, Any]
    strategies: Strategies
    alerts: tuple[AlertRoute, ...]
    slos: tuple[SloPolicy, ...] = ()
    # From rollback-services.yml: the services it may roll back, and where each runs.
    services: dict[ServiceName, RollbackTarget] = Field(default_factory=dict)

    @property
    def rollbackable(self) -> tuple[str, ...]:
        return tuple(self.services)

    def platform(self, service: str) -> str:
        return self.services[service].platform

    def slo(self, service: str, name: str) -> SloPolicy | None:
        return next((s for s in self.slos if (s.service, s.slo) == (service, name)), None)


def load_policy(text: str, services: str) -> Policy:
    """The policy of rollback-config.yml's `text` and rollback-services.yml's `services`."""
    targets = RollbackServices.model_validate(yamlfile.load(services)).services
    return Policy.model_validate({**yamlfile.load(text), "services": targets})


def read_policy(path: Path, services: Path) -> Policy:
    return load_policy(path.read_text(), services.read_text())
