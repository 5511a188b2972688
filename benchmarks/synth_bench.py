"""How much the program adds on top of importing pulumi and the provider SDKs.

    .venv/bin/python -m benchmarks.synth_bench [--runs 7]

Each figure is the median wall time of fresh processes: the floor imports pulumi and every provider
SDK the program uses; the synth runs the whole program for a stack under the mock runtime and
writes its plan. The commands take turns, run by run, so a busy machine slows them all alike.
Both sides load compiled bytecode, as on a user's second run: pip compiled the SDKs at install,
and one warm-up run compiles our modules. PYTHONDONTWRITEBYTECODE, which some machines set, is
dropped for the runs: with it, every run would recompile our modules. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = "import pulumi, pulumi.runtime.mocks, pulumi_github, pulumiverse_vercel, pulumi_command"


def seconds(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as out:
        commands = {f"floor: `{FLOOR}`": [sys.executable, "-c", FLOOR]}
        for stack in ("staging", "production"):
            synth = ["-m", "tools.synth", "--stack", stack, "--out", f"{out}/{stack}"]
            commands[f"`python -m tools.synth --stack {stack}`"] = [sys.executable, *synth]
        times: dict[str, list[float]] = {name: [] for name in commands}
        for run in range(runs + 1):
            for name, argv in commands.items():
                took = seconds(argv, env)
                if run:  # run 0 is the warm-up
                    times[name].append(took)
    medians = {name: statistics.median(t) for name, t in times.items()}
    floor = next(iter(medians.values()))
    print(f"| what | median of {runs} runs | ratio to floor |")
    print("| --- | --- | --- |")
    for name, median in medians.items():
        print(f"| {name} | {median:.2f} s | {median / floor:.2f} |")


if __name__ == "__main__":
    main()
