"""The stack deploys the rollback service on Railway and points Alertmanager at it."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
import yaml

import rollback.deploy
from components.config import ConfigError
from components.railway.stack import ACTING_VARIABLES, PLATFORM_TOKENS, rollback_service
from tests.conftest import SynthFn, key, merged, validated_stack
from tools import synth

COMMAND = "command:local:Command"
CANARY = "canary-rollback-0c4d-do-not-leak-token"
TOKENS = {"RAILWAY_TOKEN", "VERCEL_TOKEN", "GITHUB_TOKEN"}


def rollback_command(plan: Any) -> dict[str, Any]:
    command: dict[str, Any] = next(c for c in plan.of_type(COMMAND) if c["name"] == "rollback")
    return command


def rollback_spec(plan: Any) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(rollback_command(plan)["inputs"]["stdin"])
    return spec


def test_rollback_service_runs_with_every_setting_it_requires(
    run_stack: SynthFn, stack: str
) -> None:
    plan = run_stack(stack)
    service = rollback_spec(plan)["service"]
    config = validated_stack(stack)
    platforms = frozenset(s.platform for s in config.services.values() if s.does_rollback)
    channels = ("slack", "pagerduty", "email") if config.pages else ("slack", "email")
    expected = rollback.deploy.service_spec(notifications=channels, platforms=platforms)
    declared = {*service["variables"], *service["secretVariables"]}
    # PagerDuty's key only where critical alerts page: a stack that pages nobody never holds it.
    assert ("PAGERDUTY_ROUTING_KEY" in declared) is config.pages
    dry_run = validated_stack(stack).rollback.dry_run
    needed = set(expected.required_variables) - (ACTING_VARIABLES if dry_run else set())
    assert needed - {"RAILWAY_API_TOKEN"} <= declared  # RAILWAY_TOKEN stands for it
    assert set(service["secretVariables"]) == set(expected.secret_variables) & declared
    assert service["settings"]["startCommand"] == expected.start_command
    assert service["settings"]["healthcheckPath"] == expected.health_path
    assert service["volumes"] == [{"mountPath": expected.volume_mount}]
    assert service["variables"]["ROLLBACK_DRY_RUN"] == str(dry_run).lower()
    files = synth.monitoring_files(plan)
    assert service["variables"]["ROLLBACK_CONFIG"] == files["rollback-config.yml"]
    assert service["variables"]["ROLLBACK_SERVICES"] == files["rollback-services.yml"]
    for name in config.of("vercel"):  # the project of the one Vercel service, if any
        project = plan.outputs["services"][name]["projectId"]
        assert service["variables"]["VERCEL_PROJECT_ID"] == project


def test_it_is_built_only_by_the_pipeline_deploy_job_and_stays_private(
    run_stack: SynthFn, stack: str
) -> None:
    """No repository or branch for Railway to build on push: its code arrives only from the
    pipeline repository's own deploy workflow, which runs behind the stack's reviewers."""
    plan = run_stack(stack)
    service = rollback_spec(plan)["service"]
    pipeline = validated_stack(stack).rollback.repository
    assert service["source"] == {"deployedBy": f"{pipeline}: .github/workflows/deploy.yml"}
    assert service["domains"] == [] and service.get("serviceDomain") is not True
    private = f"http://rollback.railway.internal:{rollback.deploy.PORT}"
    assert plan.outputs["rollback"]["url"] == private


def test_a_public_rollback_service_is_the_stacks_choice(run_stack: SynthFn) -> None:
    def public(config: dict[str, Any]) -> None:
        config[key("rollback")]["public"] = True

    plan = run_stack("production", public)
    origin = plan.outputs["urls"]["rollback"]
    assert rollback_spec(plan)["service"]["domains"] == [origin.removeprefix("https://")]
    assert plan.outputs["rollback"]["url"] == origin


@pytest.mark.parametrize(("stack_name", "held"), [("staging", set()), ("production", TOKENS)])
def test_it_holds_only_the_tokens_its_mode_needs(
    run_stack: SynthFn, stack_name: str, held: set[str]
) -> None:
    """Dry run: none. Acting: a project token of this environment (never an account-wide
    RAILWAY_API_TOKEN), the Vercel token and the app repository's GitHub token."""
    service = rollback_spec(run_stack(stack_name))["service"]
    assert PLATFORM_TOKENS & set(service["secretVariables"]) == held


def test_a_dry_run_service_given_a_token_is_a_bug_caught_before_any_resource() -> None:
    with pytest.raises(ValueError, match=r"holds RAILWAY_TOKEN in dry run"):
        rollback_service(
            project_id="p",
            environment="staging",
            product="fixture",
            platforms=frozenset({"railway", "vercel"}),
            repository="o/pipeline",
            public_url=None,
            variables=dict.fromkeys(
                {*rollback.deploy.REQUIRED, "RAILWAY_TOKEN"} - ACTING_VARIABLES, "x"
            )
            | {"RAILWAY_TOKEN": "t"},
            dry_run=True,
            protect=False,
            pages=False,
        )


def webhook_url(plan: Any) -> str:
    alertmanager = yaml.safe_load(synth.monitoring_files(plan)["alertmanager/alertmanager.yml"])
    receiver = next(r for r in alertmanager["receivers"] if r["name"] == "rollback-webhook")
    [webhook] = receiver["webhook_configs"]
    return str(webhook["url"])


def test_alertmanager_posts_to_the_rollback_service_over_the_private_network(
    run_stack: SynthFn, stack: str
) -> None:
    plan = run_stack(stack)
    port = rollback.deploy.PORT
    assert webhook_url(plan) == f"http://rollback.railway.internal:{port}/v1/alertmanager"
    service = rollback_spec(plan)["service"]
    assert service["variables"]["PORT"] == str(port)
    assert service["settings"]["startCommand"].endswith("--host ::")  # IPv6 and IPv4 alike


def test_an_external_alertmanager_posts_to_the_public_url(run_stack: SynthFn) -> None:
    def edit(config: dict[str, Any]) -> None:
        config[key("monitoring")] = merged(
            config[key("monitoring")], {"servers": {"hosting": "external"}}
        )

    plan = run_stack("staging", edit)
    assert webhook_url(plan) == plan.outputs["urls"]["rollback"] + rollback.deploy.WEBHOOK_PATH
    assert plan.outputs["monitoring"]["services"] == {}


def test_rollback_secrets_travel_only_in_the_secret_environment(run_stack: SynthFn) -> None:
    secrets = {
        "rollbackWebhookToken": CANARY,
        "rollbackGithubToken": CANARY,
        "slackApiUrl": CANARY,
        "smtpPassword": CANARY,
    }
    plan = run_stack("production", secrets=secrets)
    command = rollback_command(plan)
    environment = plan.plaintext[command["urn"]]["environment"]
    assert environment["PIPELINE_SECRET_ROLLBACK_WEBHOOK_TOKEN"] == CANARY  # Railway gets it
    assert set(command["inputs"]["environment"].values()) == {"[secret]"}
    assert CANARY not in json.dumps(plan.to_json())


def test_the_webhook_url_is_typed_once(run_stack: SynthFn) -> None:
    def edit(config: dict[str, Any]) -> None:
        config[key("monitoring")] = merged(
            config[key("monitoring")],
            {"receivers": {"rollbackWebhookUrl": "https://elsewhere.example/v1/alertmanager"}},
        )

    derived = r"monitoring: Value error, monitoring\.receivers\.rollbackWebhookUrl is derived"
    with pytest.raises(ConfigError, match=derived):
        run_stack("staging", edit)


def test_a_short_webhook_token_is_refused(run_stack: SynthFn) -> None:
    with pytest.raises(ConfigError, match=r"secrets\.rollbackWebhookToken"):
        run_stack("staging", secrets={"rollbackWebhookToken": "short"})


def test_the_service_listens_on_ipv6_and_ipv4_alike() -> None:
    """`--host ::`: legacy Railway environments are IPv6-only, newer ones also IPv4."""
    from rollback.__main__ import listen

    with listen("::", 0) as sock:
        port = sock.getsockname()[1]
        for host in ("::1", "127.0.0.1"):
            socket.create_connection((host, port), timeout=2).close()
