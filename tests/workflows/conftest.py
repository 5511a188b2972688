"""The workflows configs: the stack files' under test (STACK_CONFIGS), and the fixture
product's (CONFIGS: a Vercel frontend, a critical backend, a worker) for the tests about that
shape, its jobs and steps by name; the rendered files on disk, and tool lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from components import app_repository
from tests.conftest import PROJECT_DIR, STACKS, THREE_SERVICES, validated_stack
from tests.monitoring.conftest import write_tree
from tests.railway.conftest import schema, standin  # noqa: F401  (fixtures of the stand-ins)
from tests.rollback.conftest import github, railway, vercel  # noqa: F401
from workflows import Declared, WorkflowsConfig, render
from workflows.consistency import DeclaredEnvironment
from workflows.yamltext import load  # noqa: F401 (the workflow tests read workflows with it)

FIXTURE_STACKS = ("staging", "production")
# What the GitHub component declares per environment of the fixture product (one list:
# components/app_repository.py), plus the freeze variable that the rollback service sets.
DECLARED_SECRETS = frozenset(app_repository.secrets(validated_stack("staging", THREE_SERVICES)))
DECLARED_VARIABLES = frozenset(
    {*app_repository.variables(validated_stack("staging", THREE_SERVICES)), app_repository.FREEZE}
)


def stack_workflows_config(*stacks: str, project_dir: Path = PROJECT_DIR) -> WorkflowsConfig:
    """The workflows config the program derives from a stack file; for several stacks, the
    first one's with every stack's environment."""
    configs = [
        app_repository.workflows_config(validated_stack(stack, project_dir)) for stack in stacks
    ]
    environments = [e.model_dump(by_alias=True) for c in configs for e in c.environments]
    first = configs[0].model_dump(by_alias=True)
    return WorkflowsConfig.model_validate({**first, "environments": environments})


def declared_for(config: WorkflowsConfig) -> Declared:
    environments = {
        e.github_environment: DeclaredEnvironment(DECLARED_SECRETS, DECLARED_VARIABLES)
        for e in config.environments
    }
    return Declared(required_checks=(config.required_check,), environments=environments)


def configs_of(stacks: tuple[str, ...], project_dir: Path) -> dict[str, WorkflowsConfig]:
    """Each stack's config, and "both": the stacks that can share one application repository,
    the first of each deployment branch (WorkflowsConfig refuses two environments deploying
    from one branch)."""
    first: dict[str, str] = {}
    for stack in stacks:
        first.setdefault(validated_stack(stack, project_dir).github.branch, stack)
    return {
        **{stack: stack_workflows_config(stack, project_dir=project_dir) for stack in stacks},
        "both": stack_workflows_config(*first.values(), project_dir=project_dir),
    }


def built_images(config: WorkflowsConfig) -> WorkflowsConfig:
    """`config` with each service that has a Dockerfile running its pushed image (`built`)."""
    data = config.model_dump(by_alias=True)
    for name in config.images():
        data["services"][name]["deploy"] = "built"
    return WorkflowsConfig.model_validate(data)


STACK_CONFIGS = configs_of(STACKS, PROJECT_DIR)
CONFIGS = configs_of(FIXTURE_STACKS, THREE_SERVICES)
CONFIGS["built images"] = built_images(CONFIGS["both"])


@pytest.fixture(params=sorted(STACK_CONFIGS))
def config(request: pytest.FixtureRequest) -> WorkflowsConfig:
    """Each config of the stack files under test."""
    return STACK_CONFIGS[request.param]


@pytest.fixture
def tree(tmp_path: Path, config: WorkflowsConfig) -> Path:
    """The rendered application repository files under a temporary folder."""
    return write_tree(render(config), tmp_path / "app")


def workflow_files(root: Path) -> list[Path]:
    return sorted((root / ".github" / "workflows").glob("*.yml"))
