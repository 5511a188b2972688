"""What the application repository gets from a stack: its workflows, rendered by the pure
`workflows` package from the stack's config, and the names of the secrets and variables they
read, which the GitHub component declares (so one list serves both, and a test can hold them
together). `problems` is the consistency check the program runs before any resource."""

from __future__ import annotations

from collections.abc import Mapping

from components.config import PROJECT, StackConfig
from workflows import Declared, WorkflowsConfig, check, render
from workflows.consistency import DeclaredEnvironment

# The GitHub environment's secrets and variables (components/pipeline.py sets their values).
FREEZE_READER = "FREEZE_READ_TOKEN"  # reads the environment's variables: the freeze, afresh
SECRETS = ("RAILWAY_TOKEN", "VERCEL_TOKEN", FREEZE_READER)
VARIABLES = (
    "ENVIRONMENT",
    "FRONTEND_URL",
    "API_URL",
    "WORKER_URL",
    "VERCEL_PROJECT_ID",
    "VERCEL_ORG_ID",
)
FREEZE = "DEPLOY_FREEZE"  # set at run time by the rollback service, read by the freeze gate


def workflows_config(config: StackConfig) -> WorkflowsConfig:
    gh = config.github
    shared_staging = config.vercel.layout == "shared" and not config.is_production
    return WorkflowsConfig.model_validate(
        {
            "environments": [
                {
                    "name": config.environment,
                    "githubEnvironment": gh.environment,
                    "branch": gh.branch,
                    "vercelTarget": "preview" if shared_staging else "production",
                    "smokeTest": not config.is_production,
                }
            ],
            "pipelineRepository": config.rollback.repository,
            "pipelineRef": config.rollback.branch,
            "frontendRoot": config.vercel.root_directory,
            "backendRoot": config.railway.backend_root_directory,
            "nodeVersion": config.vercel.node_version,
            "requiredCheck": gh.required_checks[0],
            "services": config.monitoring.services,
        }
    )


def files(config: StackConfig) -> dict[str, str]:
    """Path in the application repository -> content."""
    return render(workflows_config(config))


def problems(config: StackConfig, rendered: Mapping[str, str]) -> list[str]:
    """Every way the `rendered` workflows and what the stack declares disagree, as config
    errors."""
    declared = Declared(
        required_checks=tuple(config.github.required_checks),
        environments={
            config.github.environment: DeclaredEnvironment(
                secrets=frozenset(SECRETS), variables=frozenset({*VARIABLES, FREEZE})
            )
        },
        freeze_variable=FREEZE,
        freeze_token=FREEZE_READER,
    )
    found = check(rendered, declared)
    stack = config.environment
    lines = []
    for problem in found:
        fix = problem.fix
        if problem.key.startswith("github."):  # a stack key: say it as pulumi config does
            fix = f"{fix} (pulumi config set --path '{problem.key}' VALUE --stack {stack})"
        lines += [f"  - {PROJECT}:{problem.key}: {problem.message}", f"      fix: {fix}"]
    return lines
