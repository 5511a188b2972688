"""What the application repository gets from a stack: its workflows, rendered by the pure
`workflows` package from the stack's config, and the names of the secrets and variables they
read, which the GitHub component declares (so one list serves both, and a test can hold them
together). `problems` is the consistency check the program runs before any resource."""

from __future__ import annotations

from collections.abc import Mapping

from components.config import StackConfig, project_name
from workflows import Declared, WorkflowsConfig, check, render
from workflows.config import AppService
from workflows.consistency import DeclaredEnvironment

# The GitHub environment's secrets and variables (components/pipeline.py sets their values).
FREEZE_READER = "FREEZE_READ_TOKEN"  # reads the environment's variables: the freeze, afresh
RAILWAY_DEPLOYER = "RAILWAY_TOKEN"
VERCEL_DEPLOYER = "VERCEL_TOKEN"
VERCEL_BYPASS = "VERCEL_AUTOMATION_BYPASS_SECRET"  # the deployed end-to-end tests' only secret
FREEZE = "DEPLOY_FREEZE"  # set at run time by the rollback service, read by the freeze gate


def secrets(config: StackConfig) -> tuple[str, ...]:
    """The environment's secrets: each platform's deploy token where the workflows deploy."""
    railway = any(s.deploy in ("workflow", "built") for s in config.of("railway").values())
    bypass = config.app_ci.playwright.protection_bypass and config.of("vercel")
    return (
        *((RAILWAY_DEPLOYER,) if railway else ()),
        *((VERCEL_DEPLOYER,) if config.of("vercel") else ()),
        FREEZE_READER,
        *((VERCEL_BYPASS,) if bypass else ()),
    )


def variables(config: StackConfig) -> tuple[str, ...]:
    """The environment's variables: its name, each service's url, the Vercel project's ids."""
    urls = [config.url_variable(name) for name, s in config.services.items() if s.url]
    vercel = ("VERCEL_PROJECT_ID", "VERCEL_ORG_ID") if config.of("vercel") else ()
    return ("ENVIRONMENT", *urls, *vercel)


def app_services(config: StackConfig) -> dict[str, AppService]:
    return {
        name: AppService.model_validate(
            {
                "platform": s.platform,
                "role": s.role,
                "root": s.root,
                "language": s.language,
                "python": s.python.model_dump() if s.python else None,
                "urlVariable": config.url_variable(name) if s.url else None,
                "healthPath": s.health_path,
                "deploy": s.deploy,
                "dockerfile": s.dockerfile,
                "rollback": s.does_rollback,
            }
        )
        for name, s in config.services.items()
    }


def workflows_config(config: StackConfig) -> WorkflowsConfig:
    gh = config.github
    shared = config.vercel is not None and config.vercel.layout == "shared"
    # The smoke after a deploy fails where the alerts would fire: the same p95 and error rate.
    performance = config.monitoring.triggers.performance
    return WorkflowsConfig.model_validate(
        {
            "environments": [
                {
                    "name": config.environment.name,
                    "kind": config.environment.kind,
                    "githubEnvironment": gh.environment,
                    "branch": gh.branch,
                    "vercelTarget": "preview"
                    if shared and not config.is_production
                    else "production",
                    "smokeTest": not config.is_production,
                }
            ],
            "pipelineRepository": config.rollback.repository,
            "pipelineRef": config.rollback.branch,
            "services": app_services(config),
            **({"nodeVersion": config.vercel.node_version} if config.vercel else {}),
            "requiredCheck": gh.required_checks[0],
            "smokeTest": {
                "maxFailureRatio": performance.error_rate,
                "maxP95Seconds": performance.response_time_p95.total_seconds(),
            },
            "appCi": config.app_ci.model_dump(by_alias=True),
            "managed": gh.workflows == "managed",
            "registry": f"ghcr.io/{gh.repository.lower()}",
        }
    )


def files(config: StackConfig) -> dict[str, str]:
    """Path in the application repository -> content."""
    return render(workflows_config(config))


def problems(
    config: StackConfig, rendered: Mapping[str, str], namespace: str | None = None
) -> list[str]:
    """Every way the `rendered` workflows and what the stack declares disagree, as config
    errors."""
    declared = Declared(
        required_checks=tuple(config.github.required_checks),
        environments={
            config.github.environment: DeclaredEnvironment(
                secrets=frozenset(secrets(config)),
                variables=frozenset({*variables(config), FREEZE}),
            )
        },
        freeze_variable=FREEZE,
        freeze_token=FREEZE_READER,
        app_secrets=frozenset({VERCEL_BYPASS}),
    )
    found = check(rendered, declared)
    stack = config.environment.name
    namespace = namespace or project_name()
    lines = []
    for problem in found:
        fix = problem.fix
        if problem.key.startswith("github."):  # a stack key: say it as pulumi config does
            fix = f"{fix} (pulumi config set --path '{problem.key}' VALUE --stack {stack})"
        lines += [f"  - {namespace}:{problem.key}: {problem.message}", f"      fix: {fix}"]
    return lines
