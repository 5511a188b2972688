"""Each example product under examples/ (its own Pulumi.yaml and stack files, a shape unlike the
committed stacks') synths, passes the policy, and renders monitoring files and workflows that the
real tools accept. `tools/check` also runs the stack-file tests against examples/shop."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.config import project_name
from tests.projects import check_monitoring, check_workflows, command, example_stacks, synth


@pytest.mark.parametrize(
    ("project_dir", "stack"), example_stacks(), ids=lambda v: getattr(v, "name", v)
)
def test_an_example_product_synths_passes_the_policy_and_renders_valid_files(
    project_dir: Path, stack: str, tmp_path: Path
) -> None:
    plan = synth(project_dir, stack, tmp_path / "build")
    assert plan["project"] == project_name(project_dir)
    check_monitoring(tmp_path / "build" / "monitoring")
    check_workflows(project_dir, stack, tmp_path / "app")


def test_an_example_stack_lists_what_it_still_needs_and_fails_until_it_is_set(
    tmp_path: Path,
) -> None:
    project_dir, stack = example_stacks()[0]
    result = command(
        "tools.synth", "--missing", "--project-dir", project_dir, "--stack", stack, check=False
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"--path 'secrets.slackApiUrl' --stack {stack}" in result.stdout
    assert "gh secret set PULUMI_CONFIG_PASSPHRASE --env" in result.stdout
