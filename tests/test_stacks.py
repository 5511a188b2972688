"""`python -m tools.stacks`: which stacks the pipeline repository's workflows run, read from the
stack files (the deploy's matrix, the drift and preview matrices, the plan diff's loop)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from components import app_repository
from components.config import project_name
from tests.conftest import PROJECT_DIR, validated_stack
from tests.projects import EXAMPLES
from tools import stacks
from tools.synth import read_stack_file, validated


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


def test_stacks_of_one_branch_share_the_application_repository_without_fighting() -> None:
    """Two stacks deploying from one branch (examples/shop: production and production-eu on
    main) each commit their files to the one application repository: the files both write are
    the same, byte for byte (or each `pulumi up` would undo the other's), and each has its own
    deploy and rollback workflows."""
    shared_branches = 0
    for project in [PROJECT_DIR, *sorted(EXAMPLES.iterdir())]:
        namespace = project_name(project)
        configs = {
            stack: validated(stack, read_stack_file(project / f"Pulumi.{stack}.yaml"), namespace)
            for stack in stacks.stacks(project)
        }
        for branch in {c.github.branch for c in configs.values()}:
            together = [s for s, c in configs.items() if c.github.branch == branch]
            if len(together) < 2:
                continue
            shared_branches += 1
            rendered = {s: app_repository.files(configs[s]) for s in together}
            first, *others = together
            for other in others:
                both = rendered[first].keys() & rendered[other].keys()
                assert {p: rendered[first][p] for p in both} == {
                    p: rendered[other][p] for p in both
                }
            for stack in together:
                own = {
                    p
                    for p in rendered[stack]
                    if all(p not in rendered[o] for o in together if o != stack)
                }
                assert own == {
                    f".github/workflows/deploy-{stack}.yml",
                    f".github/workflows/rollback-{stack}.yml",
                }
    assert shared_branches >= 1  # examples/shop's main
