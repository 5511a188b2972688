"""The Vercel frontend: project, variables per target, feature flags, domain, GitHub wiring."""

from __future__ import annotations

from typing import Any

import pytest

from components.config import ConfigError
from tests.conftest import SynthFn

PROJECT = "vercel:index/project:Project"
VARIABLE = "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable"
DOMAIN = "vercel:index/projectDomain:ProjectDomain"
GITHUB_VARIABLE = "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable"
CANARY = "canary-vercel-5b2e-do-not-leak"
FLAGS = {
    "staging": {"NEW_DASHBOARD": "true", "ADVANCED_ANALYTICS": "true", "AI_ASSISTANCE": "true"},
    "production": {
        "NEW_DASHBOARD": "true",
        "ADVANCED_ANALYTICS": "false",
        "AI_ASSISTANCE": "false",
    },
}
TARGETS = {
    "staging": ["production", "preview", "development"],
    "production": ["production"],
}


def variables(plan: Any) -> dict[str, dict[str, Any]]:
    return {r["inputs"]["key"]: r["inputs"] for r in plan.of_type(VARIABLE)}


def values(plan: Any) -> dict[str, str]:
    """Variable values as Vercel receives them."""
    return {
        plan.plaintext[r["urn"]]["key"]: plan.plaintext[r["urn"]]["value"]
        for r in plan.of_type(VARIABLE)
    }


def test_project_is_nextjs_linked_to_the_stack_branch(run_stack: SynthFn, stack: str) -> None:
    project = run_stack(stack).one(PROJECT)
    inputs = project["inputs"]
    assert inputs["framework"] == "nextjs"
    assert inputs["rootDirectory"] == "autonomica-frontend"
    assert inputs["gitRepository"] == {
        "type": "github",
        "repo": "jairodriguez/autonomica",
        "productionBranch": {"staging": "develop", "production": "main"}[stack],
    }
    assert inputs["vercelAuthentication"] == {"deploymentType": "standard_protection_new"}
    assert inputs["previewDeploymentsDisabled"] is (stack == "production")
    assert project["protect"] is (stack == "production")


def test_every_variable_has_explicit_sensitive_and_targets(run_stack: SynthFn, stack: str) -> None:
    plan = run_stack(stack)
    found = variables(plan)
    api = {
        "staging": "https://staging-api.autonomica.app",
        "production": "https://api.autonomica.app",
    }
    expected = {
        "NODE_ENV": "production",
        "NEXT_PUBLIC_ENVIRONMENT": stack,
        "NEXT_PUBLIC_API_URL": api[stack],
        **{f"NEXT_PUBLIC_FEATURE_{k}": v for k, v in FLAGS[stack].items()},
    }
    assert values(plan) == expected
    for inputs in found.values():
        # The provider marks every `value` secret; the plan shows what the program passed.
        assert inputs["value"] == expected[inputs["key"]]
        assert inputs["sensitive"] is False
        assert inputs["targets"] == TARGETS[stack]
        assert "gitBranch" not in inputs


def test_variables_are_replaced_delete_first(run_stack: SynthFn) -> None:
    plan = run_stack("production")
    assert all(r["deleteBeforeReplace"] for r in plan.of_type(VARIABLE))
    assert all(r["protect"] for r in plan.of_type(VARIABLE) + plan.of_type(DOMAIN))


def test_secret_variables_are_sensitive_and_never_reach_development(run_stack: SynthFn) -> None:
    plan = run_stack("staging", secrets={"frontendEnv": {"SENTRY_AUTH_TOKEN": CANARY}})
    sentry = variables(plan)["SENTRY_AUTH_TOKEN"]
    assert sentry["sensitive"] is True
    assert sentry["value"] == "[secret]"
    assert sentry["targets"] == ["production", "preview"]
    assert CANARY not in str(plan.to_json())


def test_domain_is_the_frontend_host(run_stack: SynthFn, stack: str) -> None:
    domain = run_stack(stack).one(DOMAIN)["inputs"]
    assert (
        domain["domain"]
        == {"staging": "staging.autonomica.app", "production": "autonomica.app"}[stack]
    )
    assert "gitBranch" not in domain


def test_github_gets_the_vercel_ids_from_the_project(run_stack: SynthFn, stack: str) -> None:
    plan = run_stack(stack)
    github = {
        r["inputs"]["variableName"]: r["inputs"]["value"] for r in plan.of_type(GITHUB_VARIABLE)
    }
    # The mock runtime gives the project the id "<resource name>-id" and a team id.
    assert github["VERCEL_PROJECT_ID"] == "frontend-project-id"
    assert github["VERCEL_ORG_ID"] == "team_offline"
    frontend = plan.outputs["frontend"]
    assert (frontend["projectId"], frontend["teamId"]) == ("frontend-project-id", "team_offline")
    assert frontend["domains"] == [plan.one(DOMAIN)["inputs"]["domain"]]


def test_shared_layout_puts_staging_in_production_project(run_stack: SynthFn) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["autonomica-pipeline:vercel"]["layout"] = "shared"

    plan = run_stack("staging", edit)
    assert plan.of_type(PROJECT) == []
    reference = plan.one("pulumi:pulumi:StackReference")
    assert reference["inputs"]["name"] == "organization/autonomica-pipeline/production"
    for inputs in variables(plan).values():
        assert inputs["targets"] == ["preview"]
        assert inputs["gitBranch"] == "develop"
        assert inputs["projectId"] == "frontend-project-id"
    assert plan.one(DOMAIN)["inputs"]["gitBranch"] == "develop"


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (
            {"newDashbord": True, "advancedAnalytics": True, "aiAssistance": True},
            [
                "autonomica-pipeline:featureFlags.newDashbord: Extra inputs are not permitted",
                "autonomica-pipeline:featureFlags.newDashboard: Field required",
            ],
        ),
        (
            {"newDashboard": "yes", "advancedAnalytics": True, "aiAssistance": True},
            ["autonomica-pipeline:featureFlags.newDashboard: Input should be a valid boolean"],
        ),
    ],
)
def test_flag_typos_and_non_booleans_fail_with_key_path(
    run_stack: SynthFn, flags: dict[str, Any], expected: list[str]
) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["autonomica-pipeline:featureFlags"] = flags

    with pytest.raises(ConfigError) as caught:
        run_stack("production", edit)
    for line in expected:
        assert line in str(caught.value)


def test_a_sensitive_variable_stays_masked_even_when_given_a_plain_value() -> None:
    """`sensitive: true` keeps the inputs the provider declares secret masked, whatever the
    program passed; a plain value the program passed to a non-sensitive one shows."""
    import pulumiverse_vercel as vercel

    from tools import mockrun

    def program() -> None:
        for key, sensitive in (("SENTRY_AUTH_TOKEN", True), ("NEXT_PUBLIC_FLAG", False)):
            vercel.ProjectEnvironmentVariable(
                key.lower(), project_id="p", key=key, value=f"{CANARY}-{key}", sensitive=sensitive,
                targets=["production"],
            )  # fmt: skip

    plan = mockrun.run(program, stack="staging", config={})
    shown = {r["inputs"]["key"]: r["inputs"]["value"] for r in plan.of_type(VARIABLE)}
    public = f"{CANARY}-NEXT_PUBLIC_FLAG"
    assert shown == {"SENTRY_AUTH_TOKEN": "[secret]", "NEXT_PUBLIC_FLAG": public}
    assert f"{CANARY}-SENTRY_AUTH_TOKEN" not in str(plan.to_json())
