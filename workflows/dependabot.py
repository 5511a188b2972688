"""`.github/dependabot.yml`: weekly (or as the stack says) grouped update pull requests for every
npm and pip folder, every Dockerfile and the workflows' actions. Dependabot keeps an action
pinned by SHA as a SHA and updates its version comment (github.blog/changelog/2022-10-31-
dependabot-now-updates-comments-in-github-actions-workflows-referencing-action-versions). Its pull
requests run the same CI, and the branch rulesets require the same check before they merge."""

from typing import Any

from workflows.config import WorkflowsConfig

PATH = ".github/dependabot.yml"
HEADER = """\
Dependency updates of the application: grouped pull requests on the stack's schedule; each one
runs CI like any pull request, and the branch rulesets require its check."""


def _folders(config: WorkflowsConfig, deploy_tools: str) -> list[tuple[str, str]]:
    """(ecosystem, directory), each once, in the services' order."""
    found: list[tuple[str, str]] = []
    for service in config.services.values():
        found.append(("npm" if service.language == "node" else "pip", f"/{service.root}"))
        if service.dockerfile:
            folder = "/".join([service.root, *service.dockerfile.split("/")[:-1]])
            found.append(("docker", f"/{folder}"))
    if not config.managed:  # else the pipeline owns them: an update here would be overwritten
        found += [("npm", f"/{deploy_tools}"), ("github-actions", "/")]
    return list(dict.fromkeys(found))


def dependabot(config: WorkflowsConfig, deploy_tools: str) -> dict[str, Any]:
    updates = config.app_ci.dependency_updates
    schedule: dict[str, Any] = {"interval": updates.interval}
    if updates.interval == "weekly":
        schedule["day"] = updates.day
    schedule.update({"time": updates.time, "timezone": updates.timezone})
    entries = []
    for ecosystem, directory in _folders(config, deploy_tools):
        entry: dict[str, Any] = {
            "package-ecosystem": ecosystem,
            "directory": directory,
            "schedule": schedule,
            "open-pull-requests-limit": updates.open_pull_requests_limit,
            "cooldown": {"default-days": updates.cooldown_days},
            # One pull request per folder and kind: minor and patch updates together; a major
            # one alone, since it is the one that breaks.
            "groups": {
                f"{ecosystem}-minor-and-patch": {
                    "patterns": ["*"],
                    "update-types": ["minor", "patch"],
                }
            },
        }
        if updates.target_branch:
            entry["target-branch"] = updates.target_branch
        entries.append(entry)
    return {"version": 2, "updates": entries}
