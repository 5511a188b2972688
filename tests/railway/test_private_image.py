"""A private repository's images (stack `deploy: built`, `railway.registry`): apply gives Railway
the login it pulls them with, once, as a Pulumi secret that never shows; the deploy job's image
then runs. The stand-in refuses to pull a private image without that login, as the registry
would."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from components.config import ConfigError
from components.config.loading import raw_project_config, required_secrets, validate
from components.railway.component import RegistryLogin
from components.railway.spec import REGISTRY_PASSWORD_ENV, Spec
from tests.conftest import NAMESPACE, STACKS, built_service, config_error, key, stack_config
from tests.railway.registry import RegistryStandIn
from tests.railway.standin import RailwayStandIn
from tests.railway.test_cli import cli
from tests.railway.test_component import COMMAND, backend_args, plan_of
from tests.railway.test_deploy_image import (
    REPOSITORY,
    built_spec,
    deploy_image,
    push,
    pushed,
    running,
)
from tests.test_config import secrets_of
from tools import missing, mockrun, synth

pytestmark = pytest.mark.e2e  # starts the Railway stand-in on 127.0.0.1

USERNAME = "fixture-puller"
TOKEN = "ghp-canary-registry-token-8c21"  # a planted canary: it must show nowhere
LOGIN = "serviceInstanceUpdate"  # the mutation that carries registryCredentials


def stdin(**service: Any) -> str:
    spec = built_spec(registryCredentials={"username": USERNAME}, **service)
    return spec.model_dump_json(by_alias=True, exclude_none=True)


def apply(standin: RailwayStandIn, token: str, state: str = "") -> tuple[str, str]:
    done = cli(
        standin,
        "apply",
        stdin=stdin(),
        **{REGISTRY_PASSWORD_ENV: token, "PULUMI_COMMAND_STDOUT": state},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def test_a_private_image_runs_with_the_login_apply_sets_once(
    standin: RailwayStandIn, registry: RegistryStandIn, tmp_path: Any
) -> None:
    env_id = standin.add_environment("staging")
    standin.add_environment("production")
    standin.private_images[REPOSITORY] = (USERNAME, TOKEN)

    state, log = apply(standin, TOKEN)
    assert standin.mutations.count(LOGIN) == 1
    service_id = json.loads(state)["serviceId"]
    # serviceInstanceUpdate changes every environment that is not a fork (schema.graphql:1886).
    assert {k for k, v in standin.world.registry_logins.items() if v == (USERNAME, TOKEN)} == {
        (e, service_id) for e in standin.world.environments
    }
    shipped = deploy_image(standin, registry, pushed("first"), push(registry, "first"), tmp_path)
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    [live] = [d for d in standin.world.deployments.values() if d["status"] == "SUCCESS"]
    assert (live["environmentId"], live["code"]) == (env_id, pushed("first"))

    # The same login again: Railway cannot show it, the state's fingerprint says it is set.
    standin.mutations.clear()
    again, _ = apply(standin, TOKEN, state)
    assert standin.mutations == []
    fingerprint = json.loads(state)["registryCredentials"]
    assert fingerprint.startswith("scrypt:")
    assert json.loads(again)["registryCredentials"] == fingerprint

    # A rotated token: sent once, and whatever Railway redeploys for it runs the same image.
    rotated = f"{TOKEN}-rotated"
    standin.private_images[REPOSITORY] = (USERNAME, rotated)
    standin.mutations.clear()
    after, rotation_log = apply(standin, rotated, again)
    assert standin.mutations.count(LOGIN) == 1
    assert json.loads(after)["registryCredentials"] != fingerprint
    assert {d["code"] for d in standin.world.deployments.values() if d["status"] == "SUCCESS"} == {
        pushed("first")
    }
    standin.mutations.clear()
    apply(standin, rotated, after)
    assert standin.mutations == []

    for text in (state, log, again, after, rotation_log, shipped.stdout, shipped.stderr):
        assert TOKEN not in text
    assert TOKEN not in json.dumps(standin.world.configs)  # not in the environment's patch


def test_without_the_login_the_pushed_image_fails_to_deploy(
    standin: RailwayStandIn, registry: RegistryStandIn, tmp_path: Any
) -> None:
    """The control: what a team sees when nothing gives Railway the login."""
    standin.add_environment("staging")
    standin.private_images[REPOSITORY] = (USERNAME, TOKEN)
    done = cli(standin, "apply", stdin=built_spec().model_dump_json(by_alias=True))
    assert done.returncode == 0, done.stderr
    shipped = deploy_image(standin, registry, pushed("first"), push(registry, "first"), tmp_path)
    assert shipped.returncode == 1
    assert "FAILED" in shipped.stdout
    assert running(standin, _state(done.stdout)) == []


def _state(text: str) -> Any:
    from components.railway.spec import State

    return State.model_validate_json(text)


def test_the_password_is_refused_on_stdin_and_required_in_the_environment(
    standin: RailwayStandIn,
) -> None:
    body = json.loads(stdin())
    body["service"]["registryCredentials"]["password"] = TOKEN
    on_stdin = cli(standin, "apply", stdin=json.dumps(body), **{REGISTRY_PASSWORD_ENV: TOKEN})
    assert on_stdin.returncode == 2
    assert REGISTRY_PASSWORD_ENV in on_stdin.stderr
    without = cli(standin, "apply", stdin=stdin())
    assert without.returncode == 2
    assert REGISTRY_PASSWORD_ENV in without.stderr
    assert standin.requests == 0
    assert TOKEN not in on_stdin.stdout + on_stdin.stderr


def test_check_does_not_count_a_login_it_cannot_read(standin: RailwayStandIn) -> None:
    standin.add_environment("staging")
    apply(standin, TOKEN)
    done = cli(standin, "check", stdin=stdin())
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_password_travels_only_as_a_secret_in_the_command_environment() -> None:
    def args() -> Any:
        return backend_args(registry=RegistryLogin(USERNAME, pulumi.Output.secret(TOKEN)))

    plan = plan_of(args)
    command = plan.one(COMMAND)
    spec = Spec.model_validate_json(command["inputs"]["stdin"])
    assert spec.service.registry_credentials is not None
    assert spec.service.registry_credentials.username == USERNAME
    assert command["inputs"]["environment"][REGISTRY_PASSWORD_ENV] == mockrun.SECRET
    assert plan.plaintext[command["urn"]]["environment"][REGISTRY_PASSWORD_ENV] == TOKEN
    assert TOKEN not in json.dumps(plan.to_json())
    assert command["inputs"]["triggers"] == ["proj-1", "production", "backend"]  # no replacement


def _built(stack: str) -> tuple[str, Callable[[dict[str, Any]], None]]:
    """A Railway service of `stack` made to deploy the image CI built (built_service), with no
    registry login yet (each test gives its own)."""
    found = built_service(stack)
    assert found is not None, "every Railway service of the stack runs a fixed image"
    name, entry = found

    def edit(config: dict[str, Any]) -> None:
        config[key("services")][name] = entry
        config[key("railway")].pop("registry", None)

    return name, edit


def _raw(stack: str, registry: dict[str, Any] | None) -> dict[str, Any]:
    """The stack's config with a built service, `railway.registry` and every secret it needs."""
    _, built = _built(stack)
    stack_file = stack_config(stack)
    built(stack_file)
    if registry is not None:
        stack_file[key("railway")]["registry"] = registry
    flat, _ = synth.pulumi_config(stack_file, namespace=NAMESPACE)
    raw = raw_project_config(flat, NAMESPACE)
    raw["secrets"] = secrets_of(required_secrets(raw), "a-placeholder-secret-value")
    if "watchdogUrl" in raw["secrets"]:  # checked as a URL
        raw["secrets"]["watchdogUrl"] = "https://hc-ping.example.test/placeholder"
    return raw


def _problems(raw: dict[str, Any], stack: str) -> str:
    with pytest.raises(ConfigError) as caught:
        validate(raw, stack, frozenset({"secrets"}), (), NAMESPACE)
    return str(caught.value)


@pytest.mark.parametrize("stack", STACKS)
def test_a_private_built_image_without_its_login_is_refused_by_key_path(stack: str) -> None:
    name, edit = _built(stack)
    message = config_error(stack, edit)  # the program: nothing registered before it
    assert "railway.registry.username" in message
    assert name in message
    raw = _raw(stack, None)
    assert "registryToken" in raw["secrets"]  # private is the default
    del raw["secrets"]["registryToken"]
    message = _problems(raw, stack)
    assert "railway.registry.username" in message
    assert f"pulumi config set --secret --path 'secrets.registryToken' --stack {stack}" in message


def test_public_images_need_no_login_and_refuse_a_token() -> None:
    stack = STACKS[0]
    raw = _raw(stack, {"private": False})
    assert "registryToken" not in raw["secrets"]
    validate(raw, stack, frozenset({"secrets"}), (), NAMESPACE)
    raw["secrets"]["registryToken"] = TOKEN
    message = _problems(raw, stack)
    assert "secrets.registryToken" in message and "nothing pulls with it" in message
    assert "pulumi config rm --path 'secrets.registryToken'" in message
    assert TOKEN not in message


def test_the_stack_sends_its_login_to_each_built_service_only(run_stack: Any) -> None:
    stack = STACKS[0]
    name, built = _built(stack)

    def edit(config: dict[str, Any]) -> None:
        built(config)
        config[key("railway")]["registry"] = {"username": USERNAME}

    plan = run_stack(stack, edit, secrets={"registryToken": TOKEN})
    commands = {c["name"]: c for c in plan.of_type(COMMAND)}
    for service, command in commands.items():
        spec = json.loads(command["inputs"]["stdin"])
        environment = command["inputs"].get("environment") or {}
        if service == name:
            assert spec["service"]["registryCredentials"] == {"username": USERNAME}
            assert environment[REGISTRY_PASSWORD_ENV] == mockrun.SECRET
        else:
            assert "registryCredentials" not in spec["service"]
            assert REGISTRY_PASSWORD_ENV not in environment
    assert TOKEN not in json.dumps(plan.to_json())


def test_missing_lists_the_registry_token_with_the_command_that_sets_it() -> None:
    stack = STACKS[0]
    _, built = _built(stack)
    stack_file = stack_config(stack)
    built(stack_file)
    stack_file[key("railway")]["registry"] = {"username": USERNAME}
    config = validate(
        _raw(stack, {"username": USERNAME}), stack, frozenset({"secrets"}), (), NAMESPACE
    )
    items = {i.name: i for i in missing.stack_file_items(config, stack_file, NAMESPACE, "")}
    item = items["secrets.registryToken"]
    assert "read:packages" in item.why
    assert item.command.startswith("pulumi config set --secret --path 'secrets.registryToken'")
