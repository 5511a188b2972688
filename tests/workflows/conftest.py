"""Configs like the two stacks', the rendered files on disk, and tool lookup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import STACKS, stack_config
from tests.railway.conftest import schema, standin  # noqa: F401  (fixtures of the stand-ins)
from tests.rollback.conftest import github, railway, vercel  # noqa: F401
from workflows import Declared, WorkflowsConfig, render
from workflows.consistency import DeclaredEnvironment

# What components/github.py declares per environment (pipeline.py's secrets and variables),
# plus the freeze variable that the rollback service sets.
DECLARED_SECRETS = frozenset({"RAILWAY_TOKEN", "VERCEL_TOKEN"})
DECLARED_VARIABLES = frozenset(
    {
        "ENVIRONMENT",
        "FRONTEND_URL",
        "API_URL",
        "WORKER_URL",
        "VERCEL_PROJECT_ID",
        "VERCEL_ORG_ID",
        "DEPLOY_FREEZE",
    }
)


def environment_of(stack: str) -> dict[str, Any]:
    raw = stack_config(stack)
    repository = raw["autonomica-pipeline:github"]
    layout = raw["autonomica-pipeline:vercel"].get("layout")
    shared_staging = layout == "shared" and stack == "staging"
    return {
        "name": stack,
        "githubEnvironment": repository["environment"],
        "branch": repository["branch"],
        "vercelTarget": "preview" if shared_staging else "production",
        "smokeTest": stack == "staging",
    }


def stack_workflows_config(*stacks: str) -> WorkflowsConfig:
    """The workflows config a stack file gives (the first stack's shared values)."""
    raw = stack_config(stacks[0])
    frontend = raw["autonomica-pipeline:vercel"]
    return WorkflowsConfig.model_validate(
        {
            "environments": [environment_of(stack) for stack in stacks],
            "pipelineRepository": raw["autonomica-pipeline:rollback"]["repository"],
            "frontendRoot": frontend.get("rootDirectory", "autonomica-frontend"),
            "backendRoot": raw["autonomica-pipeline:railway"]["backendRootDirectory"],
            "nodeVersion": frontend.get("nodeVersion", "22.x"),
            "requiredCheck": raw["autonomica-pipeline:github"]["requiredChecks"][0],
        }
    )


def declared_for(config: WorkflowsConfig) -> Declared:
    environments = {
        e.github_environment: DeclaredEnvironment(DECLARED_SECRETS, DECLARED_VARIABLES)
        for e in config.environments
    }
    return Declared(required_checks=(config.required_check,), environments=environments)


CONFIGS = {
    **{stack: stack_workflows_config(stack) for stack in STACKS},
    "both": stack_workflows_config(*STACKS),
}


@pytest.fixture(params=sorted(CONFIGS))
def config(request: pytest.FixtureRequest) -> WorkflowsConfig:
    return CONFIGS[request.param]


def write_tree(files: dict[str, str], root: Path) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root


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
