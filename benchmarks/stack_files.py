"""What a pathological stack file costs the offline synth: time, peak memory, size of the error.

    .venv/bin/python -m benchmarks.stack_files

Each case is the production stack file with one change (an alias bomb, a YAML date, a huge
integer, ...), synthesized in a fresh process (`python -m tools.synth --stack-file FILE`). Prints
a Markdown table: the file's size, the exit code, wall time, the process's peak resident memory,
the bytes it wrote to stderr, and whether that was a traceback.
"""

from __future__ import annotations

import os
import re
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


def measure(stack_file: Path, out: Path) -> tuple[int, float, int, bytes]:
    """Exit code, seconds, peak RSS in bytes and stderr of one synth of `stack_file`."""
    argv = [sys.executable, "-m", "tools.synth", "--stack", "production"]
    argv += ["--stack-file", str(stack_file), "--out", str(out)]
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        took = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        return process.returncode, took, usage.ru_maxrss * 1024, stderr.read()


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def main() -> None:
    print("| stack file | size | exit | time | peak memory | stderr | traceback |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in CASES.items():
            path = Path(tmp) / "Pulumi.production.yaml"
            path.write_text(text)
            code, took, rss, err = measure(path, Path(tmp) / "out")
            traceback = "yes" if b"Traceback" in err else "no"
            row = [name, _size(len(text.encode())), str(code), f"{took:.2f} s", _size(rss)]
            print("| " + " | ".join([*row, _size(len(err)), traceback]) + " |")


if __name__ == "__main__":
    main()
