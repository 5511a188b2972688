"""The benchmarks' one timing loop: the commands take turns, the warm-up round is not kept,
and a command that does not exit as expected stops the benchmark instead of being timed."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import measure


def _appends(log: Path, name: str, code: int = 0) -> measure.Command:
    script = f"open({str(log)!r}, 'a').write({name!r}); raise SystemExit({code})"
    return measure.Command(["-c", script], code)


def test_commands_take_turns_and_the_warm_up_is_not_kept(tmp_path: Path) -> None:
    log = tmp_path / "order"
    commands = {"a": _appends(log, "a"), "b": _appends(log, "b", code=2)}

    results = measure.interleaved(commands, runs=2)

    assert log.read_text() == "ababab"  # one warm-up round, then two kept
    assert {name: len(runs) for name, runs in results.items()} == {"a": 2, "b": 2}
    assert set(measure.medians(results)) == {"a", "b"}


def test_an_unexpected_exit_stops_the_benchmark(tmp_path: Path) -> None:
    wrong = measure.Command(["-c", "raise SystemExit(3)"])
    with pytest.raises(SystemExit, match="exit 3, expected 0"):
        measure.interleaved({"wrong": wrong}, runs=1)
