"""CPU-seconds per test file in a run of the test command: where the suite's time goes.

    rm -rf build/cpu
    CPU_LOG=build/cpu PYTHONPATH=. PYTEST_PLUGINS=benchmarks.cpu_per_test bash tools/check
    .venv/bin/python -m benchmarks.cpu_per_test build/cpu [--top 15]

As a pytest plugin (every process of the run loads it, pytest-xdist workers and the
`examples/shop` pass included) it writes one JSON line per test to a file per process under
`$CPU_LOG`: the process's own CPU (user + sys, `getrusage`) and its children's (the tools and
servers a test starts and waits for) across the test's setup, call and teardown, and its wall
time. Run as a module, it prints the totals per pass and the files that took the most, as a
Markdown table. A process's start-up and collection are outside every test: the whole command's
`/usr/bin/time` minus these totals. Exits non-zero, printing nothing, when the folder holds no
record.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Generator
from pathlib import Path
from typing import IO, Any

import pytest

_logs: dict[str, IO[str]] = {}  # this process's file, opened at its first test


def _cpu() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    folder = os.environ.get("CPU_LOG")
    if not folder:
        yield
        return
    if folder not in _logs:
        Path(folder).mkdir(parents=True, exist_ok=True)
        _logs[folder] = open(Path(folder) / f"{os.getpid()}.jsonl", "a")  # noqa: SIM115
    before, started = _cpu(), time.monotonic()
    yield
    after = _cpu()
    record = {
        "test": item.nodeid,
        "pass": os.environ.get("PIPELINE_PROJECT_DIR", "main"),
        "self": after[0] - before[0],
        "children": after[1] - before[1],
        "wall": time.monotonic() - started,
    }
    _logs[folder].write(json.dumps(record) + "\n")
    _logs[folder].flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    records: list[dict[str, Any]] = [
        json.loads(line) for log in args.folder.glob("*.jsonl") for line in log.open()
    ]
    if not records:
        sys.exit(f"no test records under {args.folder}: run the command with the plugin first")
    per_pass: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])  # tests, CPU-s
    per_file: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for record in records:
        passed = per_pass[record["pass"]]
        passed[0] += 1
        passed[1] += record["self"] + record["children"]
        totals = per_file[(record["pass"], record["test"].split("::")[0])]
        totals[0] += record["self"]
        totals[1] += record["children"]
        totals[2] += 1
    print("| pass | tests | CPU-seconds |\n| --- | --- | --- |")
    for name, (count, cpu) in per_pass.items():
        print(f"| {name} | {count:.0f} | {cpu:.1f} |")
    print(
        "\n| pass | file | tests | CPU-s, own | CPU-s, children |\n| --- | --- | --- | --- | --- |"
    )
    largest = sorted(per_file.items(), key=lambda item: -(item[1][0] + item[1][1]))
    for (name, path), (own, children, count) in largest[: args.top]:
        print(f"| {name} | `{path}` | {count:.0f} | {own:.1f} | {children:.1f} |")


if __name__ == "__main__":
    main()
