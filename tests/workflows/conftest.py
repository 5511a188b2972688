"""Configs like the two stacks', the rendered files on disk, and tool lookup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components import app_repository
from tests.conftest import STACKS, validated_stack
from tests.monitoring.conftest import write_tree
from tests.railway.conftest import schema, standin  # noqa: F401  (fixtures of the stand-ins)
from tests.rollback.conftest import github, railway, vercel  # noqa: F401
from workflows import Declared, WorkflowsConfig, render
from workflows.consistency import DeclaredEnvironment

# What the GitHub component declares per environment (one list: components/app_repository.py),
# plus the freeze variable that the rollback service sets. Both stacks have the same shape.
DECLARED_SECRETS = frozenset(app_repository.secrets(validated_stack(STACKS[0])))
DECLARED_VARIABLES = frozenset(
    {*app_repository.variables(validated_stack(STACKS[0])), app_repository.FREEZE}
)


def stack_workflows_config(*stacks: str) -> WorkflowsConfig:
    """The workflows config the program derives from a stack file; for several stacks, the
    first one's with every stack's environment."""
    configs = [app_repository.workflows_config(validated_stack(stack)) for stack in stacks]
    environments = [e.model_dump(by_alias=True) for c in configs for e in c.environments]
    first = configs[0].model_dump(by_alias=True)
    return WorkflowsConfig.model_validate({**first, "environments": environments})


def declared_for(config: WorkflowsConfig) -> Declared:
    environments = {
        e.github_environment: DeclaredEnvironment(DECLARED_SECRETS, DECLARED_VARIABLES)
        for e in config.environments
    }
    return Declared(required_checks=(config.required_check,), environments=environments)


def built_images(config: WorkflowsConfig) -> WorkflowsConfig:
    """`config` with each service that has a Dockerfile running its pushed image (`built`)."""
    data = config.model_dump(by_alias=True)
    for name in config.images():
        data["services"][name]["deploy"] = "built"
    return WorkflowsConfig.model_validate(data)


CONFIGS = {
    **{stack: stack_workflows_config(stack) for stack in STACKS},
    "both": stack_workflows_config(*STACKS),
    "built images": built_images(stack_workflows_config(*STACKS)),
}


@pytest.fixture(params=sorted(CONFIGS))
def config(request: pytest.FixtureRequest) -> WorkflowsConfig:
    return CONFIGS[request.param]


@pytest.fixture
def tree(tmp_path: Path, config: WorkflowsConfig) -> Path:
    """The rendered application repository files under a temporary folder."""
    return write_tree(render(config), tmp_path / "app")


def workflow_files(root: Path) -> list[Path]:
    return sorted((root / ".github" / "workflows").glob("*.yml"))


def load(text: str) -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load(text)
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data
