"""The command line as the workflow uses it: layouts, --out, exit codes, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.plandiff import scenarios

ROOT = Path(__file__).resolve().parents[2]


def plandiff(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The command on the scenario product's plans, with its policy settings."""
    project = ["--project-dir", str(scenarios.PROJECT_DIR)]
    return subprocess.run(
        [sys.executable, "-m", "tools.plandiff", *map(str, args), *project],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def sides(case: scenarios.Case, tmp_path: Path) -> tuple[Path, Path]:
    base, head = case
    return (
        scenarios.write_side(base, tmp_path / "base"),
        scenarios.write_side(head, tmp_path / "head"),
    )


def test_no_change_exits_0_and_prints_markdown(tmp_path: Path) -> None:
    result = plandiff(*sides(scenarios.no_change(), tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("## Infrastructure preview")


def test_changes_exit_2_and_out_writes_the_file(tmp_path: Path) -> None:
    base, head = sides(scenarios.deleted_protected(), tmp_path)
    out = tmp_path / "report" / "plan-diff.md"
    result = plandiff(base, head, "--out", out)
    assert result.returncode == 2, result.stderr
    assert "production: 0 to create, 0 to update, 1 to delete" in result.stdout
    assert "> [!CAUTION]" in out.read_text(encoding="utf-8")


def test_single_stack_directories_are_compared_too(tmp_path: Path) -> None:
    base, head = scenarios.added_resource()
    base_dir = scenarios.write_stack(base["staging"], tmp_path / "base")
    head_dir = scenarios.write_stack(head["staging"], tmp_path / "head")
    result = plandiff(base_dir, head_dir)
    assert result.returncode == 2, result.stderr
    assert "| `staging` | 1 | 0 | 0 |" in result.stdout


def test_a_stack_only_in_head_is_all_creates(tmp_path: Path) -> None:
    base, head = scenarios.no_change()
    del base["production"]
    result = plandiff(*sides((base, head), tmp_path))
    assert result.returncode == 2
    assert "| `production` (new stack) | 7 | 0 | 0 |" in result.stdout


def test_missing_directory_is_an_error_without_traceback(tmp_path: Path) -> None:
    result = plandiff(tmp_path / "nope", tmp_path / "nope")
    assert result.returncode == 1
    assert "not a directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_empty_directory_explains_the_expected_layout(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "head").mkdir()
    result = plandiff(tmp_path / "base", tmp_path / "head")
    assert result.returncode == 1
    assert "<stack>/plan.json" in result.stderr


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda plan: plan["resources"][0].pop("urn"), "resources.0.urn: Field required"),
        (lambda plan: plan.update(surprise=1), "surprise: Extra inputs are not permitted"),
        (
            lambda plan: plan["resources"].append(plan["resources"][0]),
            "duplicate resource URNs",
        ),
    ],
)
def test_malformed_plan_is_an_error_naming_the_problem(
    tmp_path: Path, mutate: object, message: str
) -> None:
    base, head = sides(scenarios.no_change(), tmp_path)
    plan_path = head / "staging" / "plan.json"
    plan = json.loads(plan_path.read_text())
    mutate(plan)  # type: ignore[operator]
    plan_path.write_text(json.dumps(plan))
    result = plandiff(base, head)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_error_exits_1_not_2(tmp_path: Path) -> None:
    result = plandiff(tmp_path)
    assert result.returncode == 1
    assert "usage:" in result.stderr
