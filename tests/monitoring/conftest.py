"""Shared fixtures: the two stacks' targets, rendered trees on disk, and tool lookup."""

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import components.monitoring
from monitoring import Target, render
from tests.conftest import STACKS, monitoring_config, skip_or_fail, validated_stack

# The committed stacks' own targets (URLs, private addresses, the rollback service), as the
# program derives them: what promtool and amtool check is what `pulumi up` ships.
STACK_TARGETS = {stack: components.monitoring.target(validated_stack(stack)) for stack in STACKS}


def require_tool(name: str) -> str:
    """Path of an external tool. Missing: skip with the reason (a failure when CI=true)."""
    path = shutil.which(name)
    if path is None:
        skip_or_fail(
            f"{name} not found in PATH (Debian: apt-get install busybox prometheus "
            "prometheus-alertmanager prometheus-blackbox-exporter; .ci/run does)"
        )
    assert path is not None
    return path


def write_tree(files: dict[str, str], root: Path) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


@pytest.fixture(params=sorted(STACK_TARGETS))
def stack_target(request: pytest.FixtureRequest) -> Target:
    return STACK_TARGETS[request.param]


@pytest.fixture
def rendered_tree(tmp_path: Path, stack_target: Target) -> Path:
    """The stack's own monitoring rendered for it, written under a temporary folder."""
    config = monitoring_config(stack=stack_target.environment)
    return write_tree(render(config, stack_target), tmp_path / "monitoring")


@pytest.fixture
def tool() -> Callable[[str], str]:
    return require_tool
