"""Each Vercel service: project, variables per target, feature flags, domain, GitHub wiring."""

from __future__ import annotations

from typing import Any

import pytest

from components.config import ConfigError, Service, flag_variable
from tests.conftest import NAMESPACE, SynthFn, validated_stack

PROJECT = "vercel:index/project:Project"
VARIABLE = "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable"
DOMAIN = "vercel:index/projectDomain:ProjectDomain"
GITHUB_VARIABLE = "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable"
CANARY = "canary-vercel-5b2e-do-not-leak"
# Where a public variable lands, by the environment's kind (project-per-stack layout): a
# production stack's in its project's production, another's in every target of its own project.
TARGETS = {
    "production": ["production"],
    "staging": ["production", "preview", "development"],
    "preview": ["production", "preview", "development"],
}


def vercel_service(stack: str) -> tuple[str, Service]:
    """The stack's Vercel service (one per stack)."""
    [(name, service)] = validated_stack(stack).of("vercel").items()
    return name, service


def variables(plan: Any) -> dict[str, dict[str, Any]]:
    return {r["inputs"]["key"]: r["inputs"] for r in plan.of_type(VARIABLE)}


def values(plan: Any) -> dict[str, str]:
    """Variable values as Vercel receives them."""
    return {
        plan.plaintext[r["urn"]]["key"]: plan.plaintext[r["urn"]]["value"]
        for r in plan.of_type(VARIABLE)
    }


def test_project_is_nextjs_linked_to_the_stack_branch(run_stack: SynthFn, stack: str) -> None:
    config = validated_stack(stack)
    _, service = vercel_service(stack)
    project = run_stack(stack).one(PROJECT)
    inputs = project["inputs"]
    assert service.vercel is not None and inputs["name"] == service.vercel.project
    assert inputs["framework"] == "nextjs"
    assert inputs["rootDirectory"] == service.root
    assert inputs["gitRepository"] == {
        "type": "github",
        "repo": config.github.repository,
        "productionBranch": config.github.branch,
    }
    assert inputs["vercelAuthentication"] == {"deploymentType": "standard_protection_new"}
    assert inputs["previewDeploymentsDisabled"] is config.is_production
    assert project["protect"] is config.is_production


def test_every_variable_has_explicit_sensitive_and_targets(run_stack: SynthFn, stack: str) -> None:
    config = validated_stack(stack)
    _, service = vercel_service(stack)
    assert service.vercel is not None
    plan = run_stack(stack)
    found = variables(plan)
    expected = {
        "NODE_ENV": "production",
        "NEXT_PUBLIC_ENVIRONMENT": config.environment.name,
        # Each public url it names, from the service it names.
        **{v: config.services[s].url for v, s in service.vercel.public_urls.items()},
        # Each feature flag, NEXT_PUBLIC_FEATURE_<UPPER_SNAKE>.
        **{flag_variable(f): str(on).lower() for f, on in config.feature_flags.items()},
    }
    public = {k: v for k, v in values(plan).items() if not found[k]["sensitive"]}
    assert public == expected
    # Its secretEnv names are there too, sensitive (test_secret_variables_are_sensitive...).
    assert set(found) - set(public) == set(service.secret_env)
    for inputs in found.values():
        if inputs["sensitive"]:
            continue
        # The provider marks every `value` secret; the plan shows what the program passed.
        assert inputs["value"] == expected[inputs["key"]]
        assert inputs["targets"] == TARGETS[config.environment.kind]
        assert "gitBranch" not in inputs


def test_a_flag_name_becomes_its_upper_snake_variable() -> None:
    assert flag_variable("newDashboard") == "NEXT_PUBLIC_FEATURE_NEW_DASHBOARD"
    assert flag_variable("checkout2") == "NEXT_PUBLIC_FEATURE_CHECKOUT2"
    assert flag_variable("aiAssistance") == "NEXT_PUBLIC_FEATURE_AI_ASSISTANCE"


def test_variables_are_replaced_delete_first(run_stack: SynthFn) -> None:
    plan = run_stack("production")
    assert all(r["deleteBeforeReplace"] for r in plan.of_type(VARIABLE))
    assert all(r["protect"] for r in plan.of_type(VARIABLE) + plan.of_type(DOMAIN))


def test_secret_variables_are_sensitive_and_never_reach_development(run_stack: SynthFn) -> None:
    name, _ = vercel_service("staging")

    def edit(config: dict[str, Any]) -> None:
        config[f"{NAMESPACE}:services"][name]["secretEnv"] = ["SENTRY_AUTH_TOKEN"]

    plan = run_stack("staging", edit, secrets={"env": {"SENTRY_AUTH_TOKEN": CANARY}})
    sentry = variables(plan)["SENTRY_AUTH_TOKEN"]
    assert sentry["sensitive"] is True
    assert sentry["value"] == "[secret]"
    assert sentry["targets"] == ["production", "preview"]
    assert CANARY not in str(plan.to_json())


def test_domain_is_the_host_of_its_url(run_stack: SynthFn, stack: str) -> None:
    _, service = vercel_service(stack)
    domain = run_stack(stack).one(DOMAIN)["inputs"]
    assert domain["domain"] == str(service.url).removeprefix("https://")
    assert "gitBranch" not in domain


def test_github_gets_the_vercel_ids_from_the_project(run_stack: SynthFn, stack: str) -> None:
    name, _ = vercel_service(stack)
    plan = run_stack(stack)
    github = {
        r["inputs"]["variableName"]: r["inputs"]["value"] for r in plan.of_type(GITHUB_VARIABLE)
    }
    # The mock runtime gives the project the id "<resource name>-id" and a team id.
    project = f"{name}-project-id"
    assert github["VERCEL_PROJECT_ID"] == project
    assert github["VERCEL_ORG_ID"] == "team_offline"
    output = plan.outputs["services"][name]
    assert (output["projectId"], output["teamId"]) == (project, "team_offline")
    assert output["domains"] == [plan.one(DOMAIN)["inputs"]["domain"]]


def test_shared_layout_puts_staging_in_production_project(run_stack: SynthFn) -> None:
    name, _ = vercel_service("staging")
    branch = validated_stack("staging").github.branch

    def edit(config: dict[str, Any]) -> None:
        config[f"{NAMESPACE}:vercel"]["layout"] = "shared"

    plan = run_stack("staging", edit)
    assert plan.of_type(PROJECT) == []
    reference = plan.one("pulumi:pulumi:StackReference")
    assert reference["inputs"]["name"] == f"organization/{NAMESPACE}/production"
    for inputs in variables(plan).values():
        assert inputs["targets"] == ["preview"]
        assert inputs["gitBranch"] == branch
        assert inputs["projectId"] == f"{name}-project-id"
    assert plan.one(DOMAIN)["inputs"]["gitBranch"] == branch


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"new_dashboard": True}, ["featureFlags.new_dashboard.[key]: String should match"]),
        ({"newDashboard": "yes"}, ["featureFlags.newDashboard: Input should be a valid boolean"]),
    ],
)
def test_flag_typos_and_non_booleans_fail_with_key_path(
    run_stack: SynthFn, flags: dict[str, Any], expected: list[str]
) -> None:
    def edit(config: dict[str, Any]) -> None:
        config[f"{NAMESPACE}:featureFlags"] = flags

    with pytest.raises(ConfigError) as caught:
        run_stack("production", edit)
    for line in expected:
        assert f"{NAMESPACE}:{line}" in str(caught.value)


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
