"""`promtool test rules` over a rendered config: a firing and a quiet case for every alert
(tests/monitoring/rule_cases.py), one test file per alert group and evaluation step."""

import os
import subprocess
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import yaml

from monitoring import MonitoringConfig, Target, render
from monitoring.durations import format_duration
from monitoring.rules import alert_rules
from tests.monitoring.conftest import require_tool, write_tree
from tests.monitoring.rule_cases import Case, cases_for, promtool_tests


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
