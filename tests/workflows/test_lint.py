"""The rendered workflows for both stacks' configs, and for a config whose services run the images
CI built (`deploy: built`, which no stack under test may use): GitHub's workflow schema, zizmor
(no finding; the one silenced audit is justified on its line), shellcheck on every script and
`run:` block."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import (
    run_blocks,
    schema_check,
    shellcheck_findings,
    workflow_schema_check,
    zizmor_findings,
)
from tests.workflows.conftest import CONFIGS, STACK_CONFIGS, workflow_files
from workflows import WorkflowsConfig

LINTED = {**STACK_CONFIGS, "built images": CONFIGS["built images"]}


@pytest.fixture(params=sorted(LINTED))
def config(request: pytest.FixtureRequest) -> WorkflowsConfig:
    """Each config of the stack files under test, and one with built images (the `tree`'s)."""
    return LINTED[request.param]


SILENCED = re.compile(r"# zizmor: ignore\[([^\]]+)\] (\S.*)$")


def test_workflows_match_the_github_actions_schema(tree: Path) -> None:
    files = workflow_files(tree)
    assert len(files) >= 3
    result = workflow_schema_check(files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_config_matches_its_schema(tree: Path) -> None:
    dependabot = tree / ".github" / "dependabot.yml"
    result = schema_check("vendor.dependabot", [dependabot])
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_even_as_an_auditor(tree: Path) -> None:
    dependabot = tree / ".github" / "dependabot.yml"
    findings = zizmor_findings([*workflow_files(tree), dependabot], "--persona", "auditor")
    assert [f"{f['ident']}: {f['desc']}" for f in findings] == []


def test_the_only_silenced_audit_is_the_self_repository_one_with_its_reason(tree: Path) -> None:
    silenced = [
        (path.name, *match.groups())
        for path in workflow_files(tree)
        for line in path.read_text(encoding="utf-8").splitlines()
        if (match := SILENCED.search(line))
    ]
    assert silenced, "the deploy workflows call ci.yml with ./ and say why zizmor may not mind"
    for name, audit, reason in silenced:
        assert name.startswith("deploy-") and audit == "self-repository", name
        assert "documented" in reason


def test_every_run_block_passes_shellcheck(tree: Path) -> None:
    blocks = run_blocks(workflow_files(tree))
    assert len(blocks) >= 10
    assert shellcheck_findings(blocks) == ""


def test_every_script_passes_shellcheck(tree: Path, config: WorkflowsConfig) -> None:
    scripts = sorted((tree / ".github" / "scripts").glob("*.sh"))
    built = any(s.deploy == "built" for s in config.services.values())
    assert [s.name for s in scripts] == [
        "freeze-gate.sh",
        "health-check.sh",
        *(["railway-deploy-image.sh"] if built else []),
        "railway-deploy.sh",
        "railway-lib.sh",  # sourced by the two before it
    ]
    texts = {s.name: s.read_text(encoding="utf-8") for s in scripts}
    assert shellcheck_findings(texts, tree / ".github" / "scripts") == ""
