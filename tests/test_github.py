"""The GitHub environment, its secrets, variables and branch ruleset, for both stacks."""

from __future__ import annotations

from typing import Any

import pytest

from components import app_repository
from components.github import ADMIN_ROLE_ID, GITHUB_ACTIONS_APP_ID
from policy import rules
from tests.conftest import SynthFn, validated_stack
from tools import mockrun

ENV = "github:index/repositoryEnvironment:RepositoryEnvironment"
POLICY = "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"
SECRET = "github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret"
VARIABLE = "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable"
RULESET = "github:index/repositoryRuleset:RepositoryRuleset"
TEAM_ACCESS = "github:index/teamRepository:TeamRepository"
EXPECTED = {
    "staging": {"branch": "develop", "wait": 0, "frontend": "https://staging.autonomica.app"},
    "production": {"branch": "main", "wait": 5, "frontend": "https://autonomica.app"},
}


def test_environment_has_reviewers_wait_timer_and_custom_branch_policy(
    run_stack: SynthFn, stack: str
) -> None:
    plan = run_stack(stack)
    env = plan.one(ENV)["inputs"]
    assert env["environment"] == stack
    assert env["repository"] == "autonomica"
    assert env["waitTimer"] == EXPECTED[stack]["wait"]
    assert env["reviewers"] == [{"users": [mockrun.mock_id("user", "jairodriguez")], "teams": []}]
    assert env["deploymentBranchPolicy"] == {
        "customBranchPolicies": True,
        "protectedBranches": False,
    }
    assert env["preventSelfReview"] is False
    policy = plan.one(POLICY)["inputs"]
    assert policy == {
        "repository": "autonomica",
        "environment": stack,
        "branchPattern": EXPECTED[stack]["branch"],
    }


def test_teams_are_resolved_to_integer_ids_and_granted_read_access(run_stack: SynthFn) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["autonomica-pipeline:github"]["reviewers"] = [
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
        "repository": "autonomica",
        "permission": "pull",
    }
    assert grant["protect"] is True


def test_protected_branches_mode_has_no_custom_policy(run_stack: SynthFn) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["autonomica-pipeline:github"]["deploymentBranchPolicy"] = "protected"

    plan = run_stack("staging", edit)
    assert plan.one(ENV)["inputs"]["deploymentBranchPolicy"] == {
        "customBranchPolicies": False,
        "protectedBranches": True,
    }
    assert plan.of_type(POLICY) == []


def test_no_reviewers_means_no_reviewer_block(run_stack: SynthFn) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["autonomica-pipeline:github"]["reviewers"] = []

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
            f"refs/heads/{EXPECTED[stack]['branch']}"
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
    assert rules.ProtectionSettings().checks_integration_id == GITHUB_ACTIONS_APP_ID
    review = found["review"]["rules"]
    assert list(review) == ["pullRequest"]
    assert review["pullRequest"]["requiredApprovingReviewCount"] == 1


def test_who_may_bypass_what(run_stack: SynthFn) -> None:
    """Nobody deletes or force-pushes a deploy branch. Only the stack's own App pushes past the
    checks and the review rule (always: it commits the workflows); maintainers and, where the
    stack does not bind them, admins only by merging a pull request."""
    production = rulesets(run_stack("production"))
    app = {
        "actorType": "Integration",
        "actorId": validated_stack("production").github.committer_app_id,
        "bypassMode": "always",
    }
    maintainer = {
        "actorType": "User",
        "actorId": mockrun.mock_id("user", "jairodriguez"),
        "bypassMode": "pull_request",
    }
    assert "bypassActors" not in production["branch"]
    assert production["checks"]["bypassActors"] == [app]
    assert production["review"]["bypassActors"] == [app, maintainer]

    staging = rulesets(run_stack("staging"))
    admin = {"actorType": "RepositoryRole", "actorId": ADMIN_ROLE_ID, "bypassMode": "pull_request"}
    app["actorId"] = validated_stack("staging").github.committer_app_id
    assert "bypassActors" not in staging["branch"]
    assert staging["checks"]["bypassActors"] == staging["review"]["bypassActors"] == [admin, app]


@pytest.mark.parametrize(("stack_name", "protected"), [("staging", False), ("production", True)])
def test_production_resources_are_protected(
    run_stack: SynthFn, stack_name: str, protected: bool
) -> None:
    plan = run_stack(stack_name)
    github_resources = [r for r in plan.resources if r["type"].startswith("github:")]
    files = plan.of_type("github:index/repositoryFile:RepositoryFile")
    config = validated_stack(stack_name)
    declared = len(app_repository.secrets(config)) + len(app_repository.variables(config))
    # environment, branch policy, three rulesets, the secrets and variables, the workflows
    assert len(github_resources) == 5 + declared + len(files) and files
    assert all(r["protect"] is protected for r in github_resources)


def test_provider_owner_comes_from_the_repository(run_stack: SynthFn) -> None:
    assert run_stack("staging").one("pulumi:providers:github")["inputs"]["owner"] == "jairodriguez"
