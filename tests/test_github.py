"""The GitHub environment, its secrets, variables and branch ruleset, for both stacks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import SynthFn, stack_config
from tools import mockrun

ENV = "github:index/repositoryEnvironment:RepositoryEnvironment"
POLICY = "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"
SECRET = "github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret"
VARIABLE = "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable"
RULESET = "github:index/repositoryRuleset:RepositoryRuleset"
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


def test_teams_are_resolved_to_integer_ids(run_stack: SynthFn) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["autonomica-pipeline:github"]["reviewers"] = [
            {"user": "alice"},
            {"team": "platform"},
        ]

    env = run_stack("production", edit).one(ENV)["inputs"]
    assert env["reviewers"] == [
        {
            "users": [mockrun.mock_id("user", "alice")],
            "teams": [mockrun.mock_id("team", "platform")],
        }
    ]


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
    assert sorted(secrets) == ["RAILWAY_TOKEN", "VERCEL_TOKEN"]
    for inputs in secrets.values():
        assert inputs["value"] == "[secret]"
        assert "plaintextValue" not in inputs
        assert inputs["environment"] == stack


def test_variables_carry_the_stack_urls(run_stack: SynthFn, stack: str) -> None:
    plan = run_stack(stack)
    variables = {r["inputs"]["variableName"]: r["inputs"]["value"] for r in plan.of_type(VARIABLE)}
    urls = stack_config(stack)["autonomica-pipeline:urls"]
    assert variables == {
        "ENVIRONMENT": stack,
        "FRONTEND_URL": urls["frontend"],
        "API_URL": urls["api"],
        "WORKER_URL": urls["worker"],
        "VERCEL_PROJECT_ID": "frontend-project-id",
        "VERCEL_ORG_ID": "team_offline",
    }
    assert variables["FRONTEND_URL"] == EXPECTED[stack]["frontend"]


def rulesets(plan: Any) -> dict[str, dict[str, Any]]:
    return {r["inputs"]["name"].split("-")[0]: r["inputs"] for r in plan.of_type(RULESET)}


def test_branch_rulesets_require_checks_and_reviews(run_stack: SynthFn, stack: str) -> None:
    found = rulesets(run_stack(stack))
    assert sorted(found) == ["deploy", "review"]
    for ruleset in found.values():
        assert ruleset["conditions"]["refName"]["includes"] == [
            f"refs/heads/{EXPECTED[stack]['branch']}"
        ]
        assert ruleset["enforcement"] == "active"
    checks, review = found["deploy"]["rules"], found["review"]["rules"]
    assert checks["requiredStatusChecks"]["requiredChecks"] == [{"context": "test-and-quality"}]
    assert checks["deletion"] is True and checks["nonFastForward"] is True
    assert "pullRequest" not in checks
    assert review["pullRequest"]["requiredApprovingReviewCount"] == 1
    assert "requiredStatusChecks" not in review


def test_admins_are_bound_in_production_only(run_stack: SynthFn) -> None:
    # Only the app that commits the managed workflows may push to production's branch.
    committer = {"actorType": "Integration", "actorId": 1234567, "bypassMode": "always"}
    production = rulesets(run_stack("production"))
    assert production["deploy"]["bypassActors"] == [committer]  # the checks bind everyone else
    maintainer = {
        "actorType": "User",
        "actorId": mockrun.mock_id("user", "jairodriguez"),
        "bypassMode": "pull_request",
    }
    assert production["review"]["bypassActors"] == [committer, maintainer]
    admin = {"actorType": "RepositoryRole", "actorId": 5, "bypassMode": "always"}
    for ruleset in rulesets(run_stack("staging")).values():
        assert ruleset["bypassActors"] == [admin, committer]


@pytest.mark.parametrize(("stack_name", "protected"), [("staging", False), ("production", True)])
def test_production_resources_are_protected(
    run_stack: SynthFn, stack_name: str, protected: bool
) -> None:
    plan = run_stack(stack_name)
    github_resources = [r for r in plan.resources if r["type"].startswith("github:")]
    files = plan.of_type("github:index/repositoryFile:RepositoryFile")
    assert len(github_resources) == 12 + len(files) and files  # and the committed workflows
    assert all(r["protect"] is protected for r in github_resources)


def test_provider_owner_comes_from_the_repository(run_stack: SynthFn) -> None:
    assert run_stack("staging").one("pulumi:providers:github")["inputs"]["owner"] == "jairodriguez"
