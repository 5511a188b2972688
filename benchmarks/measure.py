"""What the benchmarks share: a command in a fresh process with its wall time and its own peak
memory, and a loud stop when they cannot run what they measure."""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs a module (`-m NAME ARGS`) or code (`-c CODE`) and, at exit, writes the process's peak
# resident memory (VmHWM, kB) to a file. The kernel's own figure for a child (wait4's
# ru_maxrss) would also count the parent's memory, which a vfork'd child shares until it execs.
PEAK = """
import atexit, runpy, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(
    next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).split()[1]))
kind, target = sys.argv.pop(1), sys.argv.pop(1)
if kind == "-c":
    exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})
else:
    sys.argv[0] = target
    runpy.run_module(target, run_name="__main__", alter_sys=True)
"""


@dataclass(frozen=True)
class Run:
    returncode: int
    seconds: float
    peak_bytes: int
    stdout: bytes
    stderr: bytes


def run(command: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path = ROOT) -> Run:
    """`command` is `["-m", module, *args]` or `["-c", code]`, run by this interpreter."""
    with tempfile.NamedTemporaryFile(suffix=".peak") as peak:
        argv = [sys.executable, "-c", PEAK, peak.name, *command]
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
        took = time.perf_counter() - start
        written = Path(peak.name).read_text()
    return Run(done.returncode, took, int(written or 0) * 1024, done.stdout, done.stderr)


def require(*modules: str) -> None:
    """Stop, non-zero, when this interpreter lacks what the subject needs: a table measured
    without it would time crashes."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        sys.exit(
            f"{sys.executable} cannot import {', '.join(missing)}: run the benchmark with "
            "the project's interpreter, `.venv/bin/python -m benchmarks.NAME` "
            "(after `bash tools/venv`)"
        )


def namespace() -> str:
    """The project's name, every config key's namespace (Pulumi.yaml). Imported when asked: a
    bare `python` stops at `require` with its fix, not at an ImportError."""
    from components.config.loading import project_name

    return project_name(ROOT)


def check(result: Run, what: str, expected: int = 0) -> Run:
    """The run, or a loud stop with its stderr when it did not exit as `expected`."""
    if result.returncode != expected:
        sys.stderr.write(result.stderr.decode(errors="replace")[-4000:])
        sys.exit(f"{what}: exit {result.returncode}, expected {expected}; nothing measured")
    return result


def size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


@dataclass(frozen=True)
class Command:
    argv: Sequence[str]  # for `run`
    expected: int = 0  # its exit code


def runs_wanted(doc: str | None, default: int = 11) -> int:
    """`--runs N` from the command line (the benchmark's docstring is its --help)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=default)
    runs: int = parser.parse_args().runs
    return runs


def interleaved(
    commands: Mapping[str, Command], runs: int, env: Mapping[str, str] | None = None
) -> dict[str, list[Run]]:
    """Each command `runs` times, taking turns (a machine that slows down slows them all),
    after one warm-up round that is not kept; each run checked against its exit code."""
    kept: dict[str, list[Run]] = {name: [] for name in commands}
    for round_ in range(runs + 1):
        for name, command in commands.items():
            result = check(run(command.argv, env), name, command.expected)
            if round_:
                kept[name].append(result)
    return kept


def medians(results: Mapping[str, list[Run]]) -> dict[str, float]:
    """Median wall time per command, in the order given."""
    return {name: statistics.median(r.seconds for r in runs) for name, runs in results.items()}
