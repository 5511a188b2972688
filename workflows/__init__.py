"""The application repository's GitHub Actions workflows and their scripts, from typed config.

Pure Python (never imports pulumi). `render` is deterministic: the same config gives
byte-identical files. No rendered file holds a secret value, only the names of the secrets and
variables the GitHub environments hold. `usage` reports what the rendered workflows read and
`check` compares that with what the GitHub component declares.
"""

from pathlib import Path

from monitoring.cache import by_json
from workflows import ci, dependabot, deploy, e2e, manual_rollback
from workflows.config import DeployEnvironment, WorkflowsConfig
from workflows.consistency import Declared, Problem, Usage, check, usage
from workflows.yamltext import dump

__all__ = [
    "Declared",
    "DeployEnvironment",
    "Problem",
    "Usage",
    "WorkflowsConfig",
    "check",
    "render",
    "usage",
]

SCRIPTS = Path(__file__).parent / "scripts"
# Committed scripts -> where the workflows find them in the application repository.
SCRIPT_FILES = {
    "freeze-gate.sh": deploy.FREEZE_GATE,
    "health-check.sh": deploy.HEALTH_CHECK,
    "railway-deploy.sh": deploy.RAILWAY_DEPLOY,
    "railway-deploy-image.sh": deploy.RAILWAY_DEPLOY_IMAGE,
    "railway-lib.sh": deploy.RAILWAY_LIB,
    "locustfile.py": deploy.LOCUSTFILE,
    "deploy-tools/package.json": f"{deploy.DEPLOY_TOOLS}/package.json",
    "deploy-tools/package-lock.json": f"{deploy.DEPLOY_TOOLS}/package-lock.json",
}


@by_json
def render(config: WorkflowsConfig) -> dict[str, str]:
    """Path in the application repository -> content."""
    files = {ci.PATH: dump(ci.ci_workflow(config), ci.HEADER)}
    for environment in config.environments:
        files[deploy.path(environment)] = dump(
            deploy.deploy_workflow(config, environment),
            deploy.header(config, environment),
            deploy.NOTES,
        )
        files[manual_rollback.path(environment)] = dump(
            manual_rollback.rollback_workflow(config, environment),
            manual_rollback.header(config, environment),
        )
    if config.app_ci.dependency_updates.enabled:
        files[dependabot.PATH] = dump(
            dependabot.dependabot(config, deploy.DEPLOY_TOOLS), dependabot.HEADER
        )
    if config.e2e_service():
        files[e2e.CONFIG] = e2e.config_file(config.app_ci.playwright)
    for name, target in SCRIPT_FILES.items():
        if target != deploy.RAILWAY_DEPLOY_IMAGE or deploy.built(config):
            files[target] = (SCRIPTS / name).read_text(encoding="utf-8")
    return dict(sorted(files.items()))
