"""`promtool test rules`: every alert fires when its trigger is crossed and stays quiet otherwise,
for the spec's config and for a config with every threshold changed."""

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from monitoring import MonitoringConfig, Target, render
from monitoring.durations import format_duration
from monitoring.rules import alert_rules
from tests.conftest import monitoring_config, target_of
from tests.monitoring.conftest import STACK_TARGETS, require_tool, write_tree
from tests.monitoring.rule_cases import Case, cases_for, promtool_tests

# A service of the stack whose metrics Prometheus scrapes: the custom objectives are its.
SLO_SERVICE = sorted(target_of("staging").scraped())[0]
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
        # Another service exports the business metrics.
        "business": {"service": "frontend"},
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
                {"name": "availability", "objective": 99.5, "window": "14d",
                 "sli": {"kind": "availability"}},
                {"name": "latency", "objective": 97, "window": "14d",
                 "sli": {"kind": "latency", "threshold": "2500ms"}},
            ]
        },
    }
)  # fmt: skip
# The stack's worker with another health path, and critical.
CUSTOM_TARGET = target_of("staging", worker={"health_path": "/ready", "critical": True})
CONFIGS = {"spec": monitoring_config(stack="production"), "custom": CUSTOM}
TARGETS = {"spec": STACK_TARGETS["production"], "custom": CUSTOM_TARGET}


def _promtool_files(config: MonitoringConfig, target: Target, tmp_path: Path) -> list[Path]:
    """One test file per (alert group, evaluation step). Each loads the rendered recording
    rules and only its own group of the rendered alerts, which keeps promtool fast."""
    tree = write_tree(render(config, target), tmp_path / "monitoring")
    recording = tree / "prometheus/rules/recording.yml"
    alerts = yaml.safe_load((tree / "prometheus/rules/alerts.yml").read_text())
    cases = cases_for(alert_rules(config, target), config, target)
    batches: dict[tuple[str, timedelta], list[Case]] = {}
    for case in cases:
        batches.setdefault((case.rule.group, case.evaluation_interval), []).append(case)
    files = []
    for (group, interval), batch in sorted(batches.items()):
        group_file = tmp_path / f"alerts-{group}.yml"
        rendered = [g for g in alerts["groups"] if g["name"] == f"{target.product.name}-{group}"]
        group_file.write_text(yaml.safe_dump({"groups": rendered}, sort_keys=False))
        test_file = tmp_path / f"test-{group}-{format_duration(interval)}.yml"
        test_file.write_text(
            yaml.safe_dump(
                {
                    "rule_files": [str(recording), str(group_file)],
                    "evaluation_interval": format_duration(interval),
                    "tests": promtool_tests(batch, config, target),
                },
                sort_keys=False,
            )
        )
        files.append(test_file)
    return files


def _run_promtool(config: MonitoringConfig, target: Target, tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    files = _promtool_files(config, target, tmp_path)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = pool.map(
            lambda f: subprocess.run(
                [promtool, "test", "rules", str(f)], capture_output=True, text=True, check=False
            ),
            files,
        )
        failures = [r.stdout + r.stderr for r in results if r.returncode != 0]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("stack", sorted(STACK_TARGETS))
def test_every_alert_fires_and_stays_quiet_as_the_spec_config_says(
    stack: str, tmp_path: Path
) -> None:
    _run_promtool(monitoring_config(stack=stack), STACK_TARGETS[stack], tmp_path)


def test_every_alert_follows_changed_thresholds(tmp_path: Path) -> None:
    # Rules differ between stacks only in labels and URLs: one stack proves the derivation.
    _run_promtool(CUSTOM, CUSTOM_TARGET, tmp_path)


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
    rules = alert_rules(config, STACK_TARGETS["staging"])
    assert rules
    assert all(rule.strategy is None for rule in rules)
