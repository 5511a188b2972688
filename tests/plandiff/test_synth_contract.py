"""The real offline synth's output is what the plan diff reads (catches contract drift)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_synth_output_diffs_cleanly_with_itself_and_shows_a_change(tmp_path: Path) -> None:
    synth = run("tools.synth", "--stack", "staging", "--out", tmp_path / "base" / "staging")
    assert synth.returncode == 0, synth.stderr

    same = run("tools.plandiff", tmp_path / "base", tmp_path / "base")
    assert same.returncode == 0, same.stderr
    assert "**No changes.**" in same.stdout

    shutil.copytree(tmp_path / "base", tmp_path / "head")
    plan_path = tmp_path / "head" / "staging" / "plan.json"
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    victim = next(r for r in plan["resources"] if r["custom"])
    plan["resources"].remove(victim)
    plan_path.write_text(json.dumps(plan), encoding="utf-8")
    changed = run("tools.plandiff", tmp_path / "base", tmp_path / "head")
    assert changed.returncode == 2, changed.stderr
    assert "will be deleted" in changed.stdout
    assert victim["name"] in changed.stdout
