"""The GitHub environment, its secrets, variables and branch ruleset, for both stacks."""

from __future__ import annotations

from typing import Any

from components import app_repository
from components.config import StackConfig
from components.config.schema import TeamReviewer, UserReviewer
from components.github import ADMIN_ROLE_ID, GITHUB_ACTIONS_APP_ID
from policy.checks.branch import ProtectionSettings
from tests.conftest import SynthFn, key, validated_stack
from tools import mockrun

ENV = "github:index/repositoryEnvironment:RepositoryEnvironment"
POLICY = "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"
SECRET = "github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret"
VARIABLE = "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable"
RULESET = "github:index/repositoryRuleset:RepositoryRuleset"
TEAM_ACCESS = "github:index/teamRepository:TeamRepository"


def reviewer_ids(config: StackConfig) -> list[dict[str, list[int]]]:
    """The stack's reviewers as the environment names them: users' and teams' ids."""
    users = [r.user for r in config.github.reviewers if isinstance(r, UserReviewer)]
    teams = [r.team for r in config.github.reviewers if isinstance(r, TeamReviewer)]
    return [
        {
            "users": [mockrun.mock_id("user", u) for u in users],
            "teams": [mockrun.mock_id("team", t) for t in teams],
        }
    ]


def test_environment_has_reviewers_wait_timer_and_branch_policy(
    run_stack: SynthFn, stack: str
) -> None:
    plan = run_stack(stack)
    github = validated_stack(stack).github
    env = plan.one(ENV)["inputs"]
    assert env["environment"] == github.environment
    assert env["repository"] == github.name
    assert env["waitTimer"] == github.wait_timer
    assert env["reviewers"] == reviewer_ids(validated_stack(stack))
    custom = github.deployment_branch_policy == "custom"
    assert env["deploymentBranchPolicy"] == {
        "customBranchPolicies": custom,
        "protectedBranches": not custom,
    }
    assert env["preventSelfReview"] is github.prevent_self_review
    if not custom:  # protected branches: GitHub takes them, no policy of ours
        assert plan.of_type(POLICY) == []
        return
    policy = plan.one(POLICY)["inputs"]
    assert policy == {
        "repository": github.name,
        "environment": github.environment,
        "branchPattern": github.branch,
    }


def test_teams_are_resolved_to_integer_ids_and_granted_read_access(run_stack: SynthFn) -> None:
    def edit(config: dict[str, Any]) -> None:
        config[key("github")]["reviewers"] = [
            {"user": "alice"},
            {"team": "platform"},
        ]

    plan = run_stack("production", edit)
    env = plan.one(ENV)["inputs"]
    assert env["reviewers"] == [
        {
            "users": [mockrun.mock_id("user", "alice")],
            "teams": [mockrun.mock_id("team", "platform")],
        }
    ]
    # GitHub lets a team review deployments only once it can read the repository.
    grant = plan.one(TEAM_ACCESS)
    assert grant["inputs"] == {
        "teamId": str(mockrun.mock_id("team", "platform")),
        "repository": validated_stack("production").github.name,
        "permission": "pull",
    }
    assert grant["protect"] is True


def test_protected_branches_mode_has_no_custom_policy(run_stack: SynthFn) -> None:
    def edit(config: dict[str, Any]) -> None:
        config[key("github")]["deploymentBranchPolicy"] = "protected"

    plan = run_stack("staging", edit)
    assert plan.one(ENV)["inputs"]["deploymentBranchPolicy"] == {
        "customBranchPolicies": False,
        "protectedBranches": True,
    }
    assert plan.of_type(POLICY) == []


def test_no_reviewers_means_no_reviewer_block(run_stack: SynthFn) -> None:
    def edit(config: dict[str, Any]) -> None:
        config[key("github")]["reviewers"] = []

    assert "reviewers" not in run_stack("staging", edit).one(ENV)["inputs"]


def test_secrets_use_value_and_stay_secret(run_stack: SynthFn, stack: str) -> None:
    plan = run_stack(stack)
    secrets = {r["inputs"]["secretName"]: r["inputs"] for r in plan.of_type(SECRET)}
    assert sorted(secrets) == sorted(app_repository.secrets(validated_stack(stack)))
    for inputs in secrets.values():
        assert inputs["value"] == "[secret]"
        assert "plaintextValue" not in inputs
        assert inputs["environment"] == stack


def test_variables_carry_the_stack_urls(run_stack: SynthFn, stack: str) -> None:
    plan = run_stack(stack)
    variables = {r["inputs"]["variableName"]: r["inputs"]["value"] for r in plan.of_type(VARIABLE)}
    config = validated_stack(stack)
    # Each service's url under its urlVariable, and the Vercel service's project and team.
    [vercel] = config.of("vercel")
    assert variables == {
        "ENVIRONMENT": config.environment.name,
        **{config.url_variable(n): s.url for n, s in config.services.items() if s.url},
        "VERCEL_PROJECT_ID": plan.outputs["services"][vercel]["projectId"],
        "VERCEL_ORG_ID": plan.outputs["services"][vercel]["teamId"],
    }


def rulesets(plan: Any) -> dict[str, dict[str, Any]]:
    return {r["inputs"]["name"].split("-")[0]: r["inputs"] for r in plan.of_type(RULESET)}


def test_branch_rulesets_forbid_force_pushes_and_require_checks_and_reviews(
    run_stack: SynthFn, stack: str
) -> None:
    found = rulesets(run_stack(stack))
    assert sorted(found) == ["branch", "checks", "review"]
    for ruleset in found.values():
        assert ruleset["conditions"]["refName"]["includes"] == [
            f"refs/heads/{validated_stack(stack).github.branch}"
        ]
        assert ruleset["enforcement"] == "active"
    assert found["branch"]["rules"] == {"deletion": True, "nonFastForward": True}
    checks = found["checks"]["rules"]
    assert list(checks) == ["requiredStatusChecks"]
    # Bound to GitHub Actions: a status or another app's check of the same name does not count.
    required = validated_stack(stack).github.required_checks
    assert checks["requiredStatusChecks"]["requiredChecks"] == [
        {"context": name, "integrationId": GITHUB_ACTIONS_APP_ID} for name in required
    ]
    # ... the app the policy pack expects them from, by default
    assert ProtectionSettings().checks_integration_id == GITHUB_ACTIONS_APP_ID
    review = found["review"]["rules"]
    assert list(review) == ["pullRequest"]
    assert review["pullRequest"]["requiredApprovingReviewCount"] == 1


def test_who_may_bypass_what(run_stack: SynthFn, stack: str) -> None:
    """Nobody deletes or force-pushes a deploy branch. Only the stack's own App pushes past the
    checks and the review rule (always: it commits the workflows); maintainers and, where the
    stack does not bind them, admins only by merging a pull request."""
    found = rulesets(run_stack(stack))
    github = validated_stack(stack).github
    admin = {"actorType": "RepositoryRole", "actorId": ADMIN_ROLE_ID, "bypassMode": "pull_request"}
    app = {"actorType": "Integration", "actorId": github.committer_app_id, "bypassMode": "always"}
    maintainers = [
        {
            "actorType": "User",
            "actorId": mockrun.mock_id("user", login),
            "bypassMode": "pull_request",
        }
        for login in github.merge_bypass
    ]
    both = [
        *([] if github.enforce_admins else [admin]),
        *([app] if github.committer_app_id else []),
    ]
    assert "bypassActors" not in found["branch"]
    assert found["checks"].get("bypassActors") == (both or None)
    assert found["review"].get("bypassActors") == ([*both, *maintainers] or None)


def test_the_committer_app_and_admins_are_bypass_actors_where_the_stack_says(
    run_stack: SynthFn,
) -> None:
    """The same rule on a stack edited to have both (the committed one may have neither)."""

    def edit(config: dict[str, Any]) -> None:
        config[key("github")].update(workflows="managed", committerAppId=4242, enforceAdmins=False)

    found = rulesets(run_stack("staging", edit))
    admin = {"actorType": "RepositoryRole", "actorId": ADMIN_ROLE_ID, "bypassMode": "pull_request"}
    app = {"actorType": "Integration", "actorId": 4242, "bypassMode": "always"}
    assert "bypassActors" not in found["branch"]
    assert found["checks"]["bypassActors"] == found["review"]["bypassActors"] == [admin, app]


def test_production_resources_are_protected(run_stack: SynthFn, stack: str) -> None:
    plan = run_stack(stack)
    github_resources = [r for r in plan.resources if r["type"].startswith("github:")]
    files = plan.of_type("github:index/repositoryFile:RepositoryFile")
    config = validated_stack(stack)
    declared = len(app_repository.secrets(config)) + len(app_repository.variables(config))
    teams = len([r for r in config.github.reviewers if isinstance(r, TeamReviewer)])
    # environment, branch policy, three rulesets, the secrets and variables, the workflows
    # (committed by pulumi up where they are managed), each reviewing team's access
    assert len(github_resources) == 5 + declared + len(files) + teams
    assert bool(files) is (config.github.workflows == "managed")
    protected = config.environment.kind == "production"
    assert all(r["protect"] is protected for r in github_resources)


def test_provider_owner_comes_from_the_repository(run_stack: SynthFn) -> None:
    owner = validated_stack("staging").github.owner
    assert run_stack("staging").one("pulumi:providers:github")["inputs"]["owner"] == owner
