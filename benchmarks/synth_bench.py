"""How much the program adds on top of importing pulumi and the provider SDKs, and its memory.

    .venv/bin/python -m benchmarks.synth_bench [--runs 11]

Each figure is the median wall time of fresh processes: the floor imports pulumi and every provider
SDK the program uses; the synth runs the whole program for a stack under the mock runtime and
writes its plan. The commands take turns, run by run, so a busy machine slows them all alike.
Both sides load compiled bytecode, as on a user's second run: pip compiled the SDKs at install,
and one warm-up run compiles our modules. PYTHONDONTWRITEBYTECODE, which some machines set, is
dropped for the runs: with it, every run would recompile our modules. Peak memory is each
process's own high-water mark (VmHWM), the largest of the runs. Exits non-zero, measuring
nothing, when a synth fails. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

from benchmarks import measure

FLOOR = "import pulumi, pulumi.runtime.mocks, pulumi_github, pulumiverse_vercel, pulumi_command"
STACKS = ("staging", "production")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    runs = parser.parse_args().runs
    measure.require("pulumi", "pulumi_github", "pulumiverse_vercel", "pulumi_command", "pydantic")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as out:
        commands = {f"floor: `{FLOOR}`": ["-c", FLOOR]}
        for stack in STACKS:
            synth = ["-m", "tools.synth", "--stack", stack, "--out", f"{out}/{stack}"]
            commands[f"`python -m tools.synth --stack {stack}`"] = synth
        times: dict[str, list[float]] = {name: [] for name in commands}
        peaks: dict[str, list[int]] = {name: [] for name in commands}
        for run in range(runs + 1):
            for name, command in commands.items():
                result = measure.check(measure.run(command, env), name)
                if run:  # run 0 is the warm-up
                    times[name].append(result.seconds)
                    peaks[name].append(result.peak_bytes)
    medians = {name: statistics.median(t) for name, t in times.items()}
    floor = next(iter(medians.values()))
    print(f"| what | median of {runs} runs | ratio to floor | peak memory |")
    print("| --- | --- | --- | --- |")
    for name, median in medians.items():
        peak = measure.size(max(peaks[name]))
        print(f"| {name} | {median:.2f} s | {median / floor:.2f} | {peak} |")


if __name__ == "__main__":
    main()
