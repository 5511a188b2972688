"""`promtool test rules` over a rendered config: a firing and a quiet case for every alert
(tests/monitoring/rule_cases.py), one test file per alert name and evaluation step."""

import os
import subprocess
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from monitoring import MonitoringConfig, Target, render
from monitoring.durations import format_duration
from monitoring.rules import alert_rules
from monitoring.slo_promtool import rules_read_by
from monitoring.yamlfile import dump
from tests.monitoring.conftest import require_tool, write_tree
from tests.monitoring.rule_cases import Case, cases_for, promtool_tests


def _promtool_files(config: MonitoringConfig, target: Target, tmp_path: Path) -> list[Path]:
    """One test file per (alert name, evaluation step). Each loads only the rendered alerts of
    that name (every service's: one must not fire on another's series) and the rendered
    recording rules they read. promtool evaluates every loaded rule at every step but checks
    only the alerts a test names, so the others would change nothing and cost most of its time."""
    tree = write_tree(render(config, target), tmp_path / "monitoring")
    recording = _groups(tree / "prometheus/rules/recording.yml")
    alerts = _groups(tree / "prometheus/rules/alerts.yml")
    cases = cases_for(alert_rules(config, target), config, target)
    batches: dict[tuple[str, str, timedelta], list[Case]] = {}
    for case in cases:
        key = (case.rule.group, case.rule.name, case.evaluation_interval)
        batches.setdefault(key, []).append(case)
    files = []
    for (group, name, interval), batch in sorted(batches.items()):
        rendered = [
            {**g, "rules": [r for r in g["rules"] if r["alert"] == name]}
            for g in alerts
            if g["name"] == f"{target.product.name}-{group}"
        ]
        exprs = [r["expr"] for g in rendered for r in g["rules"]]
        read = [{**g, "rules": rules_read_by(exprs, g["rules"])} for g in recording]
        rule_file = tmp_path / f"rules-{group}-{name}.yml"
        groups = [g for g in (*read, *rendered) if g["rules"]]
        rule_file.write_text(dump({"groups": groups}))
        test_file = tmp_path / f"test-{name}-{format_duration(interval)}.yml"
        document = {
            "rule_files": [rule_file.name],
            "evaluation_interval": format_duration(interval),
            "tests": promtool_tests(batch, config, target),
        }
        test_file.write_text(dump(document))
        files.append(test_file)
    return files


def _groups(path: Path) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(path.read_text())["groups"]
    return groups


def run_promtool(config: MonitoringConfig, target: Target, tmp_path: Path) -> None:
    promtool_test(_promtool_files(config, target, tmp_path))


def promtool_test(files: Sequence[Path], cwd: Path | None = None) -> None:
    """`promtool test rules` over every file in one process: it runs each file's tests and exits
    non-zero if any fails, naming the file. One process instead of one per file saves about 15 %
    of promtool's CPU, and a lazier Go garbage collector (GOGC=400: these processes live a few
    seconds and hold little) about 15 % more; the suite's workers already fill both cores."""
    assert files, "no promtool test file: nothing would be checked"
    result = subprocess.run(
        [require_tool("promtool"), "test", "rules", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env={**os.environ, "GOGC": "400"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
