"""`python -m tools.stacks`: which stacks the pipeline repository's workflows run, read from the
stack files (the deploy's matrix, the drift and preview matrices, the plan diff's loop)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR, validated_stack
from tools import stacks


def _project(tmp_path: Path, *names: str) -> Path:
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    for name in names:
        shutil.copy(PROJECT_DIR / f"Pulumi.{name}.yaml", tmp_path / f"Pulumi.{name}.yaml")
    return tmp_path


def test_every_stack_file_is_listed_and_each_deploys_from_its_own_branch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = stacks.stacks(PROJECT_DIR)
    assert names == sorted(p.name[7:-5] for p in PROJECT_DIR.glob("Pulumi.*.yaml"))
    for name in names:
        branch = validated_stack(name).github.branch
        assert stacks.main(["--branch", branch, "--project-dir", str(PROJECT_DIR)]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert name in listed
        assert all(validated_stack(s).github.branch == branch for s in listed)


def test_a_file_name_that_is_no_stack_name_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path)
    (project / "Pulumi.x;rm -rf.yaml").write_text("config: {}\n")
    assert stacks.main(["--project-dir", str(project)]) == 2
    assert "Pulumi.x;rm -rf.yaml" in capsys.readouterr().err


def test_a_stack_file_that_does_not_validate_stops_the_branch_listing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (name,) = stacks.stacks(PROJECT_DIR)[:1]
    project = _project(tmp_path, name)
    path = project / f"Pulumi.{name}.yaml"
    path.write_text(path.read_text() + "  not-a-namespace-key: 1\n")
    assert stacks.main(["--branch", "main", "--project-dir", str(project)]) == 2
    assert "not-a-namespace-key" in capsys.readouterr().err
