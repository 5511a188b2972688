"""What a pathological stack file costs the offline synth: time, peak memory, size of the error.

    .venv/bin/python -m benchmarks.stack_files [--runs 3]

Each case is the production stack file with one change (an alias bomb, a YAML date, a huge
integer, ...), synthesized in a fresh process (`python -m tools.synth --stack-file FILE`); the
first row is the committed file, a whole synth, for scale. Prints a Markdown table: the file's
size, the exit code, the median wall time of the runs, the largest peak resident memory of the
process, the bytes it wrote to stderr, and whether that was a traceback.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = (ROOT / "Pulumi.production.yaml").read_text()
FLAGS = "  autonomica-pipeline:featureFlags:\n"


def _github(extra: str) -> str:
    """The production file with lines added at the end of its `github` mapping."""
    return PRODUCTION.replace("    enforceAdmins: true\n", f"    enforceAdmins: true\n{extra}")


def _wait_timer(value: str) -> str:
    return PRODUCTION.replace("waitTimer: 5", f"waitTimer: {value}")


LOOK_ALIKE = "branch: m\u0430in"  # a Cyrillic a


def _alias_bomb(levels: int = 7) -> str:
    # The billion laughs: each level lists the one before nine times, so the last holds 9**7.
    lines = ['    l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        items = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"    l{level}: &l{level} [{items}]")
    return _github("\n".join(lines) + "\n")


CASES: dict[str, str] = {
    "alias bomb": _alias_bomb(),
    "YAML date (`waitTimer: 2024-01-01`)": _wait_timer("2024-01-01"),
    "huge integer (5,000 digits)": _wait_timer("1" + "0" * 5000),
    "duration that overflows (`scrapeInterval: 99999999999999d`)": PRODUCTION.replace(
        FLAGS, "  autonomica-pipeline:monitoring:\n    scrapeInterval: 99999999999999d\n" + FLAGS
    ),
    "nesting 5,000 deep": _github("    typo: " + "[" * 5000 + "]" * 5000 + "\n"),
    "duplicate key (`waitTimer` twice)": _github("    waitTimer: 0\n"),
    "`waitTimer: true`": _wait_timer("true"),
    "look-alike branch (Cyrillic a in `main`)": PRODUCTION.replace("branch: main", LOOK_ALIKE, 1),
    "port 99999 in `urls.frontend`": re.sub(
        r"(frontend: https://[a-z.]+)", r"\1:99999", PRODUCTION, count=1
    ),
    "10 MB of comments": PRODUCTION + ("# " + "x" * 98 + "\n") * 100_000,
}


# Runs the synth and, at exit, writes the process's peak resident memory (VmHWM, kB) to a file.
# The kernel's own figure for a child (wait4's ru_maxrss) would also count the parent's memory,
# which a vfork'd child shares until it execs.
PEAK = """
import atexit, runpy, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(
    next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).split()[1]))
sys.argv[0] = "tools.synth"
runpy.run_module("tools.synth", run_name="__main__", alter_sys=True)
"""


def measure(stack_file: Path, out: Path) -> tuple[int, float, int, bytes]:
    """Exit code, seconds, peak RSS in bytes and stderr of one synth of `stack_file`."""
    peak = out.with_suffix(".peak")
    argv = [sys.executable, "-c", PEAK, str(peak), "--stack", "production"]
    argv += ["--stack-file", str(stack_file), "--out", str(out)]
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, check=False)
    took = time.perf_counter() - start
    return result.returncode, took, int(peak.read_text()) * 1024, result.stderr


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    print(
        f"| stack file | size | exit | time (median of {runs}) | peak memory | stderr | traceback |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in {"the committed production file": PRODUCTION, **CASES}.items():
            path = Path(tmp) / "Pulumi.production.yaml"
            path.write_text(text)
            times, peaks = [], []
            for _ in range(runs):
                code, took, peak, err = measure(path, Path(tmp) / "out")
                times.append(took)
                peaks.append(peak)
            traceback = "yes" if b"Traceback" in err else "no"
            row = [name, _size(len(text.encode())), str(code), f"{statistics.median(times):.2f} s"]
            print("| " + " | ".join([*row, _size(max(peaks)), _size(len(err)), traceback]) + " |")
            del err


if __name__ == "__main__":
    main()
