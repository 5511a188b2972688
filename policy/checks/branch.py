"""The production branch's protection: rulesets or classic branch protection, the checks and
reviews they require together, and who may bypass them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import Field

from policy.resources import (
    GITHUB_BRANCH_PROTECTION,
    GITHUB_ENVIRONMENT,
    GITHUB_RULESET,
    Resource,
    is_known,
)
from policy.rule import BranchSettings, NoSettings


class ProtectionSettings(BranchSettings):
    required_checks: tuple[str, ...] = Field(
        ("test-and-quality",), description="CI checks the production branch requires"
    )
    min_approving_reviews: int = Field(1, ge=1, le=10)
    checks_integration_id: int = Field(
        15368,
        description="the app each required check must come from: GitHub Actions "
        "(`gh api /apps/github-actions`), which runs the CI",
    )
    deploy_app_id: int | None = Field(
        None,
        description="the only GitHub App that may push past production's checks and review "
        "rulesets (production's github.committerAppId); unset: any one App, on those only",
    )


def _ruleset_checks(inputs: Mapping[str, Any]) -> list[str | None]:
    rules = inputs.get("rules") or {}
    return [
        c.get("context")
        for c in (rules.get("requiredStatusChecks") or {}).get("requiredChecks") or []
    ]


def _ruleset_reviews(inputs: Mapping[str, Any]) -> Any:
    return ((inputs.get("rules") or {}).get("pullRequest") or {}).get(
        "requiredApprovingReviewCount", 0
    )


# What a rule on a ruleset is called in a message.
_RULES = {
    "deletion": "deletion",
    "nonFastForward": "force-pushes",
    "requiredStatusChecks": "the required checks",
    "pullRequest": "the review rule",
}
# Rules an App may push past to commit the workflows; nobody may delete or force-push.
_APP_BYPASSABLE = frozenset({"requiredStatusChecks", "pullRequest"})


def _rules_of(inputs: Mapping[str, Any]) -> list[str]:
    rules = inputs.get("rules") or {}
    return [name for name, value in rules.items() if value not in (None, False, {}, [])]


def _bypass_problem(
    actor: Mapping[str, Any], inputs: Mapping[str, Any], settings: ProtectionSettings
) -> str | None:
    """Who may bypass a production ruleset: the deploy App, and only past the checks and the
    review rule; a named maintainer merging their own pull request past a ruleset that requires
    no check (the checks still bind them). Anyone else, or any other way, is a problem."""
    kind, mode, actor_id = actor.get("actorType"), actor.get("bypassMode"), actor.get("actorId")
    if kind == "Integration":
        beyond = sorted(set(_rules_of(inputs)) - _APP_BYPASSABLE)
        if beyond:
            rules = ", ".join(_RULES.get(rule, rule) for rule in beyond)
            return f"GitHub App {actor_id} may bypass {rules}: no one may"
        if settings.deploy_app_id is not None and actor_id != settings.deploy_app_id:
            return (
                f"GitHub App {actor_id} may bypass it, not the deploy App "
                f"{settings.deploy_app_id}: set github.committerAppId"
            )
        return None
    if kind == "User" and mode == "pull_request" and not _ruleset_checks(inputs):
        return None
    return (
        f"{kind} {actor_id or ''} may bypass it ({mode}): admins and other bypass actors are not "
        "bound; remove bypassActors (enforceAdmins) or keep such a bypass to maintainers merging "
        "pull requests (github.mergeBypass)"
    ).replace("  ", " ")


def _ruleset_problems(inputs: Mapping[str, Any], settings: ProtectionSettings) -> Iterator[str]:
    """One ruleset alone; what all of the branch's rulesets require together is the stack rule's."""
    if inputs.get("enforcement") != "active":
        yield f"the ruleset is not enforced (enforcement: {inputs.get('enforcement')})"
    for actor in inputs.get("bypassActors") or []:
        problem = _bypass_problem(actor, inputs, settings)
        if problem:
            yield problem
    checks = ((inputs.get("rules") or {}).get("requiredStatusChecks") or {}).get("requiredChecks")
    for check in checks or []:
        app = check.get("integrationId")
        if is_known(app) and app != settings.checks_integration_id:
            yield (
                f"the required check {check.get('context')} is matched by name only"
                + (f" or comes from app {app}" if app else "")
                + f": any workflow or status of that name satisfies it; bind it to app "
                f"{settings.checks_integration_id} (GitHub Actions), as the stack does"
            )


def _branch_protection_problems(
    inputs: Mapping[str, Any], settings: ProtectionSettings
) -> Iterator[str]:
    checks = [c for s in inputs.get("requiredStatusChecks") or [] for c in s.get("contexts") or []]
    yield from _check_problems(checks, settings)
    reviews = [
        r.get("requiredApprovingReviewCount", 1)
        for r in (inputs.get("requiredPullRequestReviews") or [])
    ]
    yield from _review_problems(max(reviews, default=0), settings)
    if inputs.get("enforceAdmins") is not True:
        yield "admins are not bound: set enforceAdmins"


def _check_problems(checks: Sequence[str | None], settings: ProtectionSettings) -> Iterator[str]:
    if not checks:
        yield "no CI check is required"
    missing = [c for c in settings.required_checks if c not in checks]
    if missing:
        yield f"required CI checks missing: {', '.join(missing)}"


def _review_problems(reviews: Any, settings: ProtectionSettings) -> Iterator[str]:
    if is_known(reviews) and int(reviews) < settings.min_approving_reviews:
        yield (
            f"{reviews} approving reviews required, at least "
            f"{settings.min_approving_reviews} needed"
        )


def branch_protection(resource: Resource, settings: ProtectionSettings) -> Iterator[str]:
    if not resource.in_production:
        return
    if resource.type == GITHUB_RULESET:
        if resource.inputs.get("target", "branch") != "branch":
            return
        problems = list(_ruleset_problems(resource.inputs, settings))
    else:
        problems = list(_branch_protection_problems(resource.inputs, settings))
    for problem in problems:
        yield f"production branch protection is weakened: {problem}"


def _protected_refs(resource: Resource) -> list[str]:
    if resource.type == GITHUB_BRANCH_PROTECTION:
        return [f"refs/heads/{resource.inputs.get('pattern')}"]
    ref = (resource.inputs.get("conditions") or {}).get("refName") or {}
    excluded = ref.get("excludes") or []
    return [r for r in ref.get("includes") or [] if r not in excluded]


def production_branch_protected(
    resources: Sequence[Resource], settings: ProtectionSettings
) -> Iterator[tuple[Resource, str]]:
    """The production branch is covered, and its rulesets together require the CI checks and
    the approving reviews (one ruleset may hold the checks, another the review rule)."""
    environments = [r for r in resources if r.type == GITHUB_ENVIRONMENT and r.in_production]
    ref = f"refs/heads/{settings.production_branch}"
    covering = [
        r
        for r in resources
        if r.type in (GITHUB_RULESET, GITHUB_BRANCH_PROTECTION)
        and r.in_production
        and ref in _protected_refs(r)
    ]
    if not covering:
        for environment in environments:
            yield (
                environment,
                (
                    f"no ruleset or branch protection in this stack covers '{ref}', "
                    f"the branch production deploys from"
                ),
            )
        return
    rulesets = sorted(
        (
            r
            for r in covering
            if r.type == GITHUB_RULESET and r.inputs.get("target", "branch") == "branch"
        ),
        key=lambda r: r.name,
    )
    if not rulesets:
        return  # classic branch protection holds its checks and reviews: the resource rule
    checks = [c for r in rulesets for c in _ruleset_checks(r.inputs)]
    reviews = [_ruleset_reviews(r.inputs) for r in rulesets]
    known = [int(n) for n in reviews if is_known(n)]
    problems = list(_check_problems(checks, settings))
    if len(known) == len(reviews):
        problems += _review_problems(max(known, default=0), settings)
    for problem in problems:
        yield rulesets[0], f"the rulesets on '{ref}' together: {problem}"


def branch_bypass(resource: Resource, _: NoSettings) -> Iterator[str]:
    """Who may pass which of production's rules, in words a reviewer reads on every preview."""
    if not resource.in_production:
        return
    rules = " and ".join(_RULES.get(rule, rule) for rule in _rules_of(resource.inputs))
    branch = ", ".join(ref.removeprefix("refs/heads/") for ref in _protected_refs(resource))
    for actor in resource.inputs.get("bypassActors") or []:
        kind, mode, actor_id = (actor.get(k) for k in ("actorType", "bypassMode", "actorId"))
        if kind == "User" and mode == "pull_request":
            yield (
                f"GitHub user {actor_id} may merge their own pull requests into {branch} past "
                f"{rules} (github.mergeBypass), never push there directly; worth a look once there "
                "are two maintainers"
            )
        elif kind == "Integration":
            yield (
                f"the GitHub App {actor_id} may push to {branch} past {rules} ({mode}): keep it "
                "production's own App (github.committerAppId), installed on this repository only"
            )
