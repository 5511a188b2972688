"""The benchmarks that start the rollback service and the monitoring servers still run their
subject: one trial each, as the README's commands run them (their figures are not judged here).
They build on the tests' stand-ins and settings, so a change to those that a benchmark misses
would otherwise surface only when someone re-measures."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks.detection_latency import TOOLS
from tests.conftest import ROOT, tool
from tests.railway.conftest import schema_path

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("module", "prerequisites"),
    [
        ("benchmarks.rollback_latency", ()),
        (
            "benchmarks.detection_latency",
            TOOLS,
        ),
    ],
)
def test_the_benchmark_runs_its_subject(module: str, prerequisites: tuple[str, ...]) -> None:
    for name in prerequisites:
        tool(name)
    if schema_path() is None:
        pytest.fail("Railway's schema not found: the benchmark would measure nothing")
    done = subprocess.run(
        [sys.executable, "-m", module, "--trials", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    # Exit 1 with its goal line is a measurement whose goal this (maybe busy) machine missed;
    # a crash exits 1 without one, and a missing prerequisite exits 2.
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "median" in done.stdout, done.stderr[-3000:]
    if done.returncode == 1:
        assert "NOT met" in done.stdout, done.stderr[-3000:]
