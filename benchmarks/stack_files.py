"""What a pathological stack file costs the offline synth: time, peak memory, size of the error.

    .venv/bin/python -m benchmarks.stack_files [--runs 3]

Each case is the production stack file with one change (an alias bomb, a YAML date, a huge
integer, ...), synthesized in a fresh process (`python -m tools.synth --stack-file FILE`); the
first row is the committed file, a whole synth, for scale. Prints a Markdown table: the file's
size, the exit code, the median wall time of the runs, the largest peak resident memory of the
process, the bytes it wrote to stderr, and whether that was a traceback. Stops non-zero, with
no table, when the committed file itself does not synthesize (a missing SDK would otherwise
show as a table of crashes).
"""

from __future__ import annotations

import argparse
import functools
import re
import statistics
import tempfile
from pathlib import Path

from benchmarks import measure

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = (ROOT / "Pulumi.production.yaml").read_text()


def _under(key: str, lines: str, text: str = PRODUCTION) -> str:
    """`text` with `lines` first under its top-level `key` (a mapping it gets if it has none)."""
    head = f"  {measure.namespace()}:{key}:\n"
    if head in text:
        return text.replace(head, head + lines, 1)
    return text.replace("config:\n", f"config:\n{head}{lines}", 1)


def _github(extra: str) -> str:
    return _under("github", extra)


def _wait_timer(*values: str) -> str:
    """The production file with `github.waitTimer: VALUE` (each value a line), written as is."""
    without = re.sub(r"^    waitTimer: .*\n", "", PRODUCTION, flags=re.MULTILINE)
    return _under("github", "".join(f"    waitTimer: {value}\n" for value in values), without)


LOOK_ALIKE = "branch: m\u0430in"  # a Cyrillic a


def _alias_bomb(levels: int = 7) -> str:
    # The billion laughs: each level lists the one before nine times, so the last holds 9**7.
    lines = ['    l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        items = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"    l{level}: &l{level} [{items}]")
    return _github("\n".join(lines) + "\n")


@functools.cache
def cases() -> dict[str, str]:
    """Each case's name -> its file."""
    return {
        "alias bomb": _alias_bomb(),
        "YAML date (`waitTimer: 2024-01-01`)": _wait_timer("2024-01-01"),
        "huge integer (5,000 digits)": _wait_timer("1" + "0" * 5000),
        "duration that overflows (`scrapeInterval: 99999999999999d`)": _under(
            "monitoring", "    scrapeInterval: 99999999999999d\n"
        ),
        "nesting 5,000 deep": _github("    typo: " + "[" * 5000 + "]" * 5000 + "\n"),
        "duplicate key (`waitTimer` twice)": _wait_timer("0", "0"),
        "`waitTimer: true`": _wait_timer("true"),
        "look-alike branch (Cyrillic a in `main`)": _under(
            "github",
            f"    {LOOK_ALIKE}\n",
            re.sub(r"^    branch: .*\n", "", PRODUCTION, flags=re.M),
        ),
        "port 99999 in a service's `url`": re.sub(
            r"(url: https://[a-z.-]+)", r"\1:99999", PRODUCTION, count=1
        ),
        "10 MB of comments": PRODUCTION + ("# " + "x" * 98 + "\n") * 100_000,
    }


def measure_synth(stack_file: Path, out: Path) -> measure.Run:
    """One synth of `stack_file` in a fresh process."""
    args = ["--stack", "production", "--stack-file", str(stack_file), "--out", str(out)]
    return measure.run(["-m", "tools.synth", *args])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    measure.require("pulumi", "pulumi_github", "pulumiverse_vercel", "pulumi_command", "pydantic")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in {"the committed production file": PRODUCTION, **cases()}.items():
            path = Path(tmp) / "Pulumi.production.yaml"
            path.write_text(text)
            results = [measure_synth(path, Path(tmp) / "out") for _ in range(runs)]
            if not rows:  # the scale every other row is read against: without it, no table
                measure.check(results[0], "the synth of the committed production file")
            last = results[-1]
            took = statistics.median(r.seconds for r in results)
            peak = max(r.peak_bytes for r in results)
            traceback = "yes" if b"Traceback" in last.stderr else "no"
            size, err = measure.size(len(text.encode())), measure.size(len(last.stderr))
            row = [name, size, str(last.returncode), f"{took:.2f} s", measure.size(peak), err]
            rows.append([*row, traceback])
    print(
        f"| stack file | size | exit | time (median of {runs}) | peak memory | stderr | traceback |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
