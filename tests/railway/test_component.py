"""RailwayService under Pulumi's mock runtime: commands, stdin secrecy, triggers, options."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from components import app_repository
from components.railway.component import RailwayService, RailwayServiceArgs
from components.railway.spec import ImageSource, RepoSource, Settings, Spec
from tests.conftest import STACKS, SynthFn, validated_stack
from tools import mockrun

CANARY = "canary-secret-5d1e"
COMMAND = "command:local:Command"
STATE = {
    "schemaVersion": 1,
    "projectId": "proj-1",
    "environmentId": "env-1",
    "environment": "staging",
    "serviceId": "svc-42",
    "service": "worker",
    "variables": [],
    "customDomains": [],
    "serviceDomain": {"id": "sd-1", "domain": "worker-staging.up.railway.app"},
    "deploymentId": "dep-1",
    "url": "https://worker-staging.up.railway.app",
}


class CommandMocks(mockrun.Mocks):
    """A Command's stdout is what the converge tool would print."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        id_, outputs = super().new_resource(args)
        if args.typ == COMMAND:
            outputs["stdout"] = json.dumps(STATE)
        return id_, outputs


class OptionsMonitor(mockrun.RecordingMonitor):
    """Also records replaceOnChanges, which the plan does not carry."""

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations[-1]["replaceOnChanges"] = list(request.replaceOnChanges)
        return response


def backend_args(**overrides: Any) -> RailwayServiceArgs:
    fields: dict[str, Any] = {
        "project_id": "proj-1",
        "environment": "production",
        "service": "backend",
        "product": "fixture",
        "source": RepoSource(repo="fixture-owner/app", branch="main", root_directory="backend"),
        "settings": Settings(healthcheck_path="/health"),
        "domains": ["api.fixture.example.test"],
        "variables": {"LOG_LEVEL": "info"},
        "secrets": {"DATABASE_URL": pulumi.Output.secret(CANARY)},
        "retain_on_delete": True,
        "protect": True,
    }
    fields.update(overrides)
    return RailwayServiceArgs(**fields)


def plan_of(make_args: Callable[[], RailwayServiceArgs], stack: str = "production") -> mockrun.Plan:
    """Outputs (secrets) must be made inside the program: each run has its own event loop."""

    def program() -> None:
        args = make_args()
        service = RailwayService(args.service, args)
        pulumi.export("service_id", service.service_id)
        pulumi.export("public_url", service.public_url)
        pulumi.export("state", service.state)

    return mockrun.run(program, stack=stack, config={}, monitor=OptionsMonitor(CommandMocks()))


def test_commands_run_the_converge_tool_by_a_relative_interpreter() -> None:
    plan = plan_of(backend_args)
    inputs = plan.one(COMMAND)["inputs"]
    assert inputs["create"] == ".venv/bin/python -m components.railway apply"
    assert inputs["update"] == inputs["create"]
    assert inputs["delete"] == ".venv/bin/python -m components.railway delete"
    assert inputs["addPreviousOutputInEnv"] is True
    assert inputs["logging"] == "stderr"
    text = json.dumps(plan.to_json())
    assert sys.executable not in text
    assert "/work/" not in text and "/home/" not in text
    # Only the secret variables' values: the Railway token comes from the ambient environment.
    assert inputs["environment"] == {"PIPELINE_SECRET_DATABASE_URL": mockrun.SECRET}
    assert "TOKEN" not in text


def test_secret_values_travel_only_in_the_environment_and_stdin_stays_readable() -> None:
    plan = plan_of(backend_args)
    command = plan.one(COMMAND)
    spec = Spec.model_validate_json(command["inputs"]["stdin"])
    assert spec.environment == "production"
    assert spec.service.variables == {"LOG_LEVEL": "info"}
    assert spec.service.secret_variables == ("DATABASE_URL",)
    assert spec.service.settings.healthcheck_path == "/health"
    assert spec.service.domains == ("api.fixture.example.test",)
    assert plan.plaintext[command["urn"]]["environment"] == {"PIPELINE_SECRET_DATABASE_URL": CANARY}
    assert CANARY not in json.dumps(plan.to_json())


def test_a_service_without_secrets_sends_no_environment() -> None:
    inputs = plan_of(lambda: backend_args(secrets={})).one(COMMAND)["inputs"]
    assert "environment" not in inputs
    assert "secretVariables" not in inputs["stdin"]


def test_only_identity_triggers_a_replacement_deleted_first() -> None:
    command = plan_of(backend_args).one(COMMAND)
    assert command["inputs"]["triggers"] == ["proj-1", "production", "backend"]
    assert command["replaceOnChanges"] == ["triggers[*]"]
    assert command["deleteBeforeReplace"] is True


@pytest.mark.parametrize("keep", [True, False])
def test_retain_and_protect_follow_the_args(keep: bool) -> None:
    command = plan_of(lambda: backend_args(retain_on_delete=keep, protect=keep)).one(COMMAND)
    assert command["protect"] is keep
    assert command["retainOnDelete"] is keep


def test_outputs_come_from_the_printed_state() -> None:
    args: dict[str, Any] = dict(
        service="worker",
        environment="staging",
        source=ImageSource(image="ghcr.io/fixture-owner/worker:1"),
        domains=[],
        service_domain=True,
    )
    plan = plan_of(lambda: backend_args(**args), stack="staging")
    assert plan.outputs["service_id"] == "svc-42"
    assert plan.outputs["public_url"] == "https://worker-staging.up.railway.app"
    assert plan.outputs["state"]["serviceDomain"]["domain"] == "worker-staging.up.railway.app"


def test_custom_domain_gives_the_public_url() -> None:
    assert plan_of(backend_args).outputs["public_url"] == "https://api.fixture.example.test"


def test_component_parents_its_command() -> None:
    plan = plan_of(backend_args)
    component = plan.one("pipeline:railway:Service")
    assert plan.one(COMMAND)["parent"] == component["urn"]


def test_bad_spec_fails_before_anything_runs() -> None:
    with pytest.raises(ValueError, match="domains"):
        plan_of(lambda: backend_args(domains=["not a domain"]))


@pytest.mark.parametrize("stack", STACKS)
def test_each_railway_service_of_the_stack_is_declared_as_its_map_says(
    run_stack: SynthFn, stack: str
) -> None:
    config = validated_stack(stack)
    railway = config.of("railway")
    env = {name: f"{CANARY}-{name}" for s in railway.values() for name in s.secret_env}
    plan = run_stack(stack, secrets={"env": env})
    commands = {c["name"]: c for c in plan.of_type(COMMAND) if c["name"] in railway}
    assert sorted(commands) == sorted(railway)
    project_id = plan.outputs["railway"]["projectId"]
    registry = app_repository.workflows_config(config).registry  # where CI pushes what it built
    for name, command in commands.items():
        service = railway[name]
        assert command["inputs"]["triggers"] == [project_id, config.environment.name, name]
        assert command["retainOnDelete"] is config.is_production
        assert command["protect"] is config.is_production
        spec = json.loads(command["inputs"]["stdin"])
        assert spec["product"] == config.product.name  # names it in Railway's commit messages
        # Connected to no branch: only the deploy workflow (behind its gates) ships code, from
        # the service's folder or as the image CI built; an image service runs its image.
        shipped = (
            {"imageRepository": f"{registry}/{name}"}
            if service.deploy == "built"
            else {"rootDirectory": service.root}
        )
        deployed_by = f".github/workflows/deploy-{config.environment.name}.yml"
        assert spec["service"]["source"] == (
            {"image": service.image}
            if service.image
            else {"deployedBy": f"{config.github.repository}: {deployed_by}", **shipped}
        )
        settings = spec["service"]["settings"]
        if service.role == "cron":  # runs on its schedule, never restarted when it exits
            assert settings["cronSchedule"] == service.schedule
            assert settings["restartPolicyType"] == "NEVER"
            assert "healthcheckPath" not in settings
        else:
            assert settings.get("healthcheckPath") == service.health_path
            assert settings["restartPolicyType"] == "ON_FAILURE"
        assert spec["service"]["variables"] == {
            "ENVIRONMENT": config.environment.name,
            **({"PORT": str(service.port)} if service.port else {}),
        }
        assert spec["service"].get("secretVariables", []) == sorted(service.secret_env)
        secret = {mockrun.SECRET} if service.secret_env else set()
        assert set((command["inputs"].get("environment") or {}).values()) == secret
        hosts = [str(service.url).removeprefix("https://")] if service.url else []
        assert spec["service"]["domains"] == hosts
        assert plan.outputs["services"][name]["url"] == service.url
    assert CANARY not in json.dumps(plan.to_json())
