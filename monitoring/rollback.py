"""rollback-config.yml in the spec's shape, for the rollback automation that receives alerts, and
rollback-services.yml, the services it may act on and the platform of each."""

from typing import Any

from pydantic import Field

from monitoring.config import (
    ConfigModel,
    MonitoringConfig,
    Platform,
    ServiceName,
    StrategyName,
    Target,
)
from monitoring.durations import format_duration
from monitoring.rules import alert_rules
from monitoring.slo import rollback_policy


def rollback_config(config: MonitoringConfig, target: Target) -> dict[str, Any]:
    health = config.triggers.health_check
    perf = config.triggers.performance
    business = config.triggers.business
    names: tuple[StrategyName, ...] = ("immediate", "fast", "gradual")
    return {
        "environment": target.environment,
        "triggers": {
            "health_check": {
                "enabled": health.enabled,
                "thresholds": {
                    "consecutive_failures": health.consecutive_failures,
                    "failure_window": format_duration(health.failure_window),
                    "recovery_threshold": health.recovery_threshold,
                    "recovery_window": format_duration(health.recovery_window),
                },
                "probe_interval": format_duration(config.probe_interval),
                "endpoints": [
                    {
                        "name": service,
                        "url": url,
                        "critical": target.services[service].critical,
                        "strategy": "immediate" if target.services[service].critical else "fast",
                    }
                    for service, url in target.probed().items()
                ],
            },
            "performance": {
                "enabled": perf.enabled,
                "thresholds": {
                    "response_time_p95": format_duration(perf.response_time_p95),
                    "response_time_p99": format_duration(perf.response_time_p99),
                    "error_rate": perf.error_rate,
                    "throughput_drop": perf.throughput_drop,
                },
                "evaluation_window": format_duration(perf.evaluation_window),
                "consecutive_violations": perf.consecutive_violations,
                "strategy": "fast",
            },
            "business": {
                "enabled": business.enabled,
                "thresholds": {"conversion_drop": business.conversion_drop},
                "window": format_duration(business.window),
                "comparison_offset": format_duration(business.comparison_offset),
                "strategy": "gradual",
            },
        },
        "strategies": {
            name: {
                "timeout": format_duration(config.strategies.of(name).timeout),
                "actions": list(config.strategies.of(name).actions),
                "notifications": [
                    channel
                    for channel in config.strategies.of(name).notifications
                    if channel != "pagerduty" or target.pages(config.receivers)
                ],
            }
            for name in names
        },
        # Which alert (alertname, service) triggers which strategy: what the webhook acts on.
        "alerts": [
            {"alertname": rule.name, "service": rule.service, "strategy": rule.strategy}
            for rule in alert_rules(config, target)
            if rule.strategy is not None
        ],
        "slos": rollback_policy(config, target),
    }


class RollbackTarget(ConfigModel):
    """A service the rollback service may roll back, and where it runs."""

    platform: Platform


class RollbackServices(ConfigModel):
    """rollback-services.yml: the one model of the file, for the stack that renders it and the
    rollback service that reads it (its own file beside rollback-config.yml, so a rollback
    service of an earlier version, which refuses keys it does not know there, keeps starting
    while an upgrade of the stack is under way)."""

    services: dict[ServiceName, RollbackTarget] = Field(
        description="name -> platform, for every service with rollback on"
    )


def rollback_services(target: Target) -> RollbackServices:
    return RollbackServices(
        services={
            name: RollbackTarget(platform=service.platform)
            for name, service in target.services.items()
            if service.rollback
        }
    )
