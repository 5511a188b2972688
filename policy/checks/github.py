"""Production's GitHub environment and repository: reviewers, wait timer, branch policy,
the repository it acts on, the teams that review."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pydantic import Field

from policy.resources import (
    GITHUB_ENVIRONMENT,
    GITHUB_PROVIDER,
    GITHUB_TEAM_ACCESS,
    UNSET,
    Resource,
    is_known,
    railway_service,
)
from policy.rule import BranchSettings, NoSettings, Repository, Settings


class EnvironmentSettings(Settings):
    min_wait_timer: int = Field(
        5, ge=0, le=43200, description="minutes production deploys wait at least"
    )


class RepositorySettings(Settings):
    application_repository: Repository | None = Field(
        None,
        description="owner/name of the application repository production's GitHub resources "
        "protect (the stack's github.repository); unset: no repository is accepted",
    )


def environment_protection(resource: Resource, settings: EnvironmentSettings) -> Iterator[str]:
    if not resource.in_production:
        return
    env = resource.inputs.get("environment", resource.name)
    reviewers = resource.inputs.get("reviewers") or []
    ids = [i for r in reviewers for i in [*(r.get("users") or []), *(r.get("teams") or [])]]
    if not ids:
        yield (
            f"production environment '{env}' has no required reviewer: "
            "set github.reviewers in the stack file"
        )
    wait = resource.inputs.get("waitTimer", 0)
    if is_known(wait) and int(wait) < settings.min_wait_timer:
        yield (
            f"production environment '{env}' waits {wait} minutes before a deploy, "
            f"less than the minimum of {settings.min_wait_timer}: raise github.waitTimer"
        )


def deploys_only_from_branch(resource: Resource, settings: BranchSettings) -> Iterator[str]:
    if not resource.in_production:
        return
    branch = settings.production_branch
    if resource.type == GITHUB_ENVIRONMENT:
        policy = resource.inputs.get("deploymentBranchPolicy") or {}
        if policy.get("customBranchPolicies") is not True or policy.get("protectedBranches"):
            yield (
                f"production environment '{resource.inputs.get('environment')}' must deploy from "
                f"custom branch policies only (any protected branch, or any branch, could deploy): "
                "set github.deploymentBranchPolicy to custom"
            )
        return
    pattern = resource.inputs.get("branchPattern")
    if resource.inputs.get("tagPattern") or pattern != branch:
        shown = pattern or f"tag {resource.inputs.get('tagPattern')}"
        yield (
            f"production deploys from '{shown}', only '{branch}' is allowed: "
            f"set github.branch to {branch}"
        )


def admins_bypass_environment(resource: Resource, _: NoSettings) -> Iterator[str]:
    # GitHub's default when the input is absent is to let admins bypass.
    if resource.in_production and resource.inputs.get("canAdminsBypass", True) is not False:
        yield (
            "repository admins can deploy to production without the required review: set "
            "github.canAdminsBypass to false"
        )


def _repository_of(resource: Resource) -> str | None:
    if resource.type == GITHUB_PROVIDER:
        return f"{resource.inputs.get('owner')}/*"
    repository = resource.inputs.get("repository")
    if resource.type.startswith("github:") and isinstance(repository, str):
        return f"*/{repository}"
    variables = (railway_service(resource) or {}).get("variables") or {}
    target = variables.get("GITHUB_REPOSITORY")
    return target if isinstance(target, str) else None


def production_repository(resource: Resource, settings: RepositorySettings) -> Iterator[str]:
    """Production's GitHub protection and the rollback service's freeze act on the application
    repository, not on another one a changed github.repository points at."""
    target = _repository_of(resource)
    if not resource.in_production or target is None or not is_known(target):
        return
    if settings.application_repository is None:
        yield f"no applicationRepository in the policy settings: {UNSET}"
        return
    owner, name = settings.application_repository.split("/")
    want_owner, want_name = target.split("/", 1)
    if want_owner not in ("*", owner) or want_name not in ("*", name):
        shown = target.replace("*/", "").replace("/*", "")
        yield (
            f"production acts on the GitHub repository {shown!r}, not "
            f"{settings.application_repository}: its reviewers, rulesets and freeze would guard "
            f"another repository; set github.repository to {settings.application_repository}"
        )


def reviewer_teams_have_access(
    resources: Sequence[Resource], _: NoSettings
) -> Iterator[tuple[Resource, str]]:
    """GitHub lets a team review a deployment only with read access to the repository: each
    team reviewer of production's environment is granted it by the stack itself."""
    granted = {
        (str(r.inputs.get("teamId")), r.inputs.get("repository"))
        for r in resources
        if r.type == GITHUB_TEAM_ACCESS and r.in_production
    }
    for environment in resources:
        if environment.type != GITHUB_ENVIRONMENT or not environment.in_production:
            continue
        repository = environment.inputs.get("repository")
        teams = [t for r in environment.inputs.get("reviewers") or [] for t in r.get("teams") or []]
        for team in teams:
            if is_known(team) and (str(team), repository) not in granted:
                yield (
                    environment,
                    f"team {team} reviews production deployments but the stack grants it no "
                    f"access to {repository}: GitHub refuses or ignores such a reviewer; the "
                    "GitHub component grants each reviewing team read access (TeamRepository)",
                )


# --- Advisory: where a human should look ---------------------------------------------------


def self_review_allowed(resource: Resource, _: NoSettings) -> Iterator[str]:
    if resource.in_production and resource.inputs.get("preventSelfReview") is not True:
        yield (
            "the person who triggers a production deploy may approve it (preventSelfReview "
            "is off): fine with a single maintainer, worth a look once there are two"
        )
