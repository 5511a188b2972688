"""How much the program adds on top of importing pulumi and the provider SDKs.

    .venv/bin/python -m benchmarks.synth_bench [--runs 7]

Each figure is the median wall time of fresh processes: the floor imports pulumi and every provider
SDK the program uses; the synth runs the whole program for a stack under the mock runtime and
writes its plan. Prints a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = "import pulumi, pulumi.runtime.mocks, pulumi_github, pulumiverse_vercel, pulumi_command"


def median_seconds(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    floor = median_seconds([sys.executable, "-c", FLOOR], runs)
    print(f"| what | median of {runs} runs | ratio to floor |")
    print("| --- | --- | --- |")
    print(f"| floor: `{FLOOR}` | {floor:.2f} s | 1.00 |")
    with tempfile.TemporaryDirectory() as out:
        for stack in ("staging", "production"):
            argv = [
                sys.executable,
                "-m",
                "tools.synth",
                "--stack",
                stack,
                "--out",
                f"{out}/{stack}",
            ]
            seconds = median_seconds(argv, runs)
            command = f"`python -m tools.synth --stack {stack}`"
            print(f"| {command} | {seconds:.2f} s | {seconds / floor:.2f} |")


if __name__ == "__main__":
    main()
