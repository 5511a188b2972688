"""Time the plan diff of two generated 2,000-resource plans (goal: under one second).

Run: .venv/bin/python benchmarks/plandiff_bench.py [--resources 2000] [--repeat 7]
Prints the median and best wall time of load + diff + render, per scenario, and of the
whole command line (`python -m tools.plandiff`, interpreter start-up included).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.plandiff import diff_sides, load_side, render  # noqa: E402


def make_plan(count: int, changed_every: int, revision: int) -> dict[str, Any]:
    """`count` resources with nested inputs; every `changed_every`-th one differs by revision."""
    resources = []
    for index in range(count):
        rev = revision if index % changed_every == 0 else 1
        resources.append(
            {
                "urn": f"urn:pulumi:staging::autonomica-pipeline::t:index:T::res-{index:05d}",
                "type": "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable",
                "name": f"res-{index:05d}",
                "parent": None,
                "custom": True,
                "protect": index % 50 == 0,
                "inputs": {
                    "repository": "autonomica",
                    "environment": "staging",
                    "variableName": f"VARIABLE_{index}",
                    "value": f"value-{index}-r{rev}",
                    "token": "[secret]" if index % 10 == 0 else f"public-{index}",
                    "spec": {
                        "replicas": 1 + rev,
                        "env": [{"name": f"E{i}", "value": f"v{i}-{rev}"} for i in range(5)],
                        "healthcheck": {"path": "/health", "timeoutSeconds": 30},
                    },
                },
            }
        )
    return {
        "project": "autonomica-pipeline",
        "stack": "staging",
        "resources": resources,
        "outputs": {"schemaVersion": 1, "revision": revision},
    }


def write(plan: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    return directory


def timed(repeat: int, action: Any) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def report(label: str, times: list[float]) -> None:
    print(f"{label:<58} median {statistics.median(times):.3f} s   best {min(times):.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    count = args.resources
    with tempfile.TemporaryDirectory() as tmp:
        base = write(make_plan(count, 1, revision=1), Path(tmp) / "base")
        scenarios = {"every resource changed": 1, "one resource in ten changed": 10}
        for label, every in scenarios.items():
            head = write(make_plan(count, every, revision=2), Path(tmp) / f"head-{every}")

            def run(head: Path = head) -> None:
                render(diff_sides(load_side(base), load_side(head)))

            report(f"{count} resources, {label} (in process)", timed(args.repeat, run))
        command = [
            sys.executable,
            "-m",
            "tools.plandiff",
            str(base),
            str(Path(tmp) / "head-1"),
            "--out",
            str(Path(tmp) / "plan-diff.md"),
        ]

        def run_command() -> None:
            # Exit code 2 means "changes", which is expected here.
            result = subprocess.run(command, cwd=ROOT, check=False, stdout=subprocess.DEVNULL)
            assert result.returncode == 2

        report(f"{count} resources, every changed (command line)", timed(args.repeat, run_command))


if __name__ == "__main__":
    main()
