"""`promtool test rules`: every alert fires when its trigger is crossed and stays quiet otherwise,
for the spec's config and for a config with every threshold changed."""

from pathlib import Path

import pytest

from monitoring.rules import alert_rules
from tests.conftest import (
    STACKS,
    business_metrics,
    monitoring_config,
    target_of,
    validated_stack,
)
from tests.monitoring.conftest import STACK_TARGETS
from tests.monitoring.promtool import run_promtool
from tests.monitoring.rule_cases import cases_for

FIRST = STACKS[0]
PRODUCTION = next(s for s in STACKS if validated_stack(s).environment.kind == "production")
SERVICES = validated_stack(FIRST).services
BUSINESS = validated_stack(FIRST).monitoring.business
# Another service with metrics than the one the stack names exports the business metrics; and
# a service with a health check (a non-critical one where the stack has it) gets another health
# path and becomes critical.
OTHER_METRICS = next(
    n for n, s in SERVICES.items() if s.metrics_path and (not BUSINESS or n != BUSINESS.service)
)
CHANGED_HEALTH = sorted((s.critical, n) for n, s in SERVICES.items() if s.health_path)[0][1]

# A service of the stack whose metrics Prometheus scrapes: the custom objectives are its.
SLO_SERVICE = sorted(target_of(FIRST).scraped())[0]
CUSTOM = monitoring_config(
    {
        "probeInterval": "10s",
        "evaluationInterval": "5s",
        "scrapeInterval": "10s",
        "scrapeTimeout": "5s",
        "absentFor": "3m",
        "triggers": {
            "healthCheck": {"consecutiveFailures": 4, "failureWindow": "1m", "probeTimeout": "3s"},
            "performance": {
                "responseTimeP95": "1s",
                "responseTimeP99": "2500ms",
                "errorRate": 0.1,
                "throughputDrop": 0.5,
                "evaluationWindow": "2m",
                "consecutiveViolations": 3,
                "comparisonOffset": "30m",
                "minRequestRate": 1,
            },
            "business": {
                "conversionDrop": 0.2,
                "window": "30m",
                "sustainedFor": "10m",
                "comparisonOffset": "2h",
            },
        },
        "business": {"service": OTHER_METRICS, "metrics": business_metrics(FIRST)},
        "infrastructure": {"cpuUsage": 0.8, "cpuLimitCores": 2, "memoryUsage": 0.75},
        # Its own tiers and objectives: the SLO dashboard draws these (test_render).
        "sloAlerting": {
            "tiers": [
                {"factor": 12, "longWindow": "2h", "shortWindow": "10m", "action": "page"},
                {"factor": 2, "longWindow": "1d", "shortWindow": "2h", "action": "ticket"},
            ]
        },
        "slos": {
            SLO_SERVICE: [
                {
                    "name": "availability",
                    "objective": 99.5,
                    "window": "14d",
                    "sli": {"kind": "availability"},
                },
                {
                    "name": "latency",
                    "objective": 97,
                    "window": "14d",
                    "sli": {"kind": "latency", "threshold": "2500ms"},
                },
            ]
        },
    }
)
CUSTOM_TARGET = target_of(FIRST, **{CHANGED_HEALTH: {"health_path": "/ready", "critical": True}})
CONFIGS = {"spec": monitoring_config(stack=PRODUCTION), "custom": CUSTOM}
TARGETS = {"spec": STACK_TARGETS[PRODUCTION], "custom": CUSTOM_TARGET}


@pytest.mark.parametrize("stack", sorted(STACK_TARGETS))
def test_every_alert_fires_and_stays_quiet_as_the_spec_config_says(
    stack: str, tmp_path: Path
) -> None:
    run_promtool(monitoring_config(stack=stack), STACK_TARGETS[stack], tmp_path)


def test_every_alert_follows_changed_thresholds(tmp_path: Path) -> None:
    # Rules differ between stacks only in labels and URLs: one stack proves the derivation.
    run_promtool(CUSTOM, CUSTOM_TARGET, tmp_path)


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
def test_every_alert_has_a_firing_and_a_quiet_case(config_name: str) -> None:
    config, target = CONFIGS[config_name], TARGETS[config_name]
    rules = alert_rules(config, target)
    cases = cases_for(rules, config, target)
    for rule in rules:
        outcomes = {c.fires for case in cases if case.rule == rule for c in case.checks}
        assert outcomes == {True, False}, f"{rule.name}/{rule.service}"


def test_health_cases_cover_the_exact_boundary_of_consecutive_failures() -> None:
    config, target = CUSTOM, CUSTOM_TARGET
    health = [r for r in alert_rules(config, target) if r.kind == "health"]
    checks = {(c.at, c.fires) for case in cases_for(health, config, target) for c in case.checks}
    n = config.triggers.health_check.consecutive_failures
    assert ((n - 1) * config.probe_interval, True) in checks
    assert ((n - 2) * config.probe_interval, False) in checks


def test_disabled_triggers_render_no_rollback_alerts() -> None:
    config = monitoring_config(
        {"triggers": {k: {"enabled": False} for k in ("healthCheck", "performance", "business")}}
    )
    rules = alert_rules(config, STACK_TARGETS[FIRST])
    assert rules
    assert all(rule.strategy is None for rule in rules)
