"""`python -m components.railway` as pulumi-command runs it: stdin, env, stdout, exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.railway.conftest import PROJECT_ROOT
from tests.railway.standin import (
    ACCOUNT_TOKEN,
    PROJECT_TOKEN,
    Answer,
    Fault,
    RailwayStandIn,
    Rollout,
)
from tests.railway.test_converge import CANARY, make_spec

pytestmark = pytest.mark.e2e  # starts the Railway stand-in on 127.0.0.1

SPEC = make_spec().model_dump_json(by_alias=True)


def cli(
    standin: RailwayStandIn, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "components.railway", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=_env(standin, env),
        timeout=60,
        check=False,
    )


def kill_after(standin: RailwayStandIn, mutation: str, spec: str, **env: str) -> None:
    """Run `apply` in a real process and kill it once Railway has applied `mutation`,
    before the tool hears back."""
    standin.faults.append(Fault("hang_after", field=mutation))
    killed = subprocess.Popen(
        [sys.executable, "-m", "components.railway", "apply"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=PROJECT_ROOT,
        env=_env(standin, env),
    )
    assert killed.stdin is not None
    killed.stdin.write(spec)
    killed.stdin.close()
    assert standin.applied.wait(timeout=30), f"{mutation} never reached the stand-in"
    killed.kill()
    killed.wait(timeout=30)
    standin.release.set()


def _env(standin: RailwayStandIn, extra: dict[str, str]) -> dict[str, str]:
    base = {"PATH": os.environ.get("PATH", ""), "RAILWAY_API_URL": standin.url}
    base.setdefault("RAILWAY_API_TOKEN", ACCOUNT_TOKEN)
    return {**base, **extra}


def assert_no_canary(*texts: str) -> None:
    for text in texts:
        assert CANARY not in text


def secret_stdin() -> str:
    """The spec with DATABASE_URL as a secret variable: its value comes from the environment."""
    body = make_spec().model_dump(by_alias=True)
    body["service"]["variables"] = {"LOG_LEVEL": "info"}
    body["service"]["secretVariables"] = ["DATABASE_URL"]
    return json.dumps(body)


def test_secret_variables_come_from_the_environment_never_from_stdin(
    standin: RailwayStandIn,
) -> None:
    standin.add_environment("staging")
    stdin = secret_stdin()
    assert CANARY not in stdin

    missing = cli(standin, "apply", stdin=stdin)
    assert missing.returncode == 2
    assert "PIPELINE_SECRET_DATABASE_URL" in missing.stderr
    assert not standin.mutations  # nothing changed

    done = cli(standin, "apply", stdin=stdin, PIPELINE_SECRET_DATABASE_URL=CANARY)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["variables"] == ["DATABASE_URL", "LOG_LEVEL"]
    (instance,) = standin.world.variables.values()
    assert instance == {"DATABASE_URL": CANARY, "LOG_LEVEL": "info"}
    assert_no_canary(done.stdout, done.stderr)


def test_apply_prints_state_and_a_rerun_with_it_changes_nothing(standin: RailwayStandIn) -> None:
    standin.add_environment("staging")
    first = cli(standin, "apply", stdin=SPEC)
    assert first.returncode == 0, first.stderr
    state = json.loads(first.stdout)
    assert state["service"] == "backend"
    assert state["variables"] == ["DATABASE_URL", "LOG_LEVEL"]
    assert state["url"] == "https://staging-api.fixture.example.test"
    assert "railway: created service backend" in first.stderr
    standin.mutations.clear()

    second = cli(standin, "apply", stdin=SPEC, PULUMI_COMMAND_STDOUT=first.stdout)

    assert second.returncode == 0, second.stderr
    assert standin.mutations == []
    assert json.loads(second.stdout) == state
    assert_no_canary(first.stdout, first.stderr, second.stdout, second.stderr)


def test_project_token_goes_in_its_own_header(standin: RailwayStandIn) -> None:
    standin.add_environment("staging")
    project = {"RAILWAY_TOKEN": PROJECT_TOKEN, "RAILWAY_API_TOKEN": ""}
    refused = cli(standin, "apply", stdin=SPEC, **project)  # it would create a service
    assert refused.returncode == 1
    assert "RAILWAY_API_TOKEN" in refused.stderr and standin.mutations == []
    first = cli(standin, "apply", stdin=SPEC)
    standin.auth_headers.clear()

    result = cli(standin, "apply", stdin=SPEC, PULUMI_COMMAND_STDOUT=first.stdout, **project)

    assert result.returncode == 0, result.stderr
    assert set(standin.auth_headers) == {"Project-Access-Token"}
    assert PROJECT_TOKEN not in refused.stderr + result.stdout + result.stderr


def test_missing_token_is_one_line_that_names_both_variables(standin: RailwayStandIn) -> None:
    result = cli(standin, "apply", stdin=SPEC, RAILWAY_API_TOKEN="")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "RAILWAY_API_TOKEN" in result.stderr
    assert "RAILWAY_TOKEN" in result.stderr
    assert standin.requests == 0


def test_bad_spec_lists_fields_without_echoing_values(standin: RailwayStandIn) -> None:
    spec: dict[str, Any] = json.loads(SPEC)
    spec["service"]["settings"]["numReplicas"] = CANARY
    spec["service"]["variables"]["not a name"] = "x"
    result = cli(standin, "apply", stdin=json.dumps(spec))
    assert result.returncode == 2
    assert "service.settings.numReplicas" in result.stderr
    assert "service.variables.not a name" in result.stderr
    assert "Traceback" not in result.stderr
    assert_no_canary(result.stderr)
    assert standin.requests == 0


def test_run_killed_after_service_create_then_rerun_ends_in_the_same_state(
    standin: RailwayStandIn,
) -> None:
    standin.add_environment("staging")
    kill_after(standin, "serviceCreate", SPEC)
    assert len(standin.world.services) == 1
    assert standin.world.deployments == {}

    rerun = cli(standin, "apply", stdin=SPEC)  # Pulumi has no state from the killed run

    assert rerun.returncode == 0, rerun.stderr
    state = json.loads(rerun.stdout)
    w = standin.world
    assert list(w.services) == [state["serviceId"]]
    assert set(w.variables[(state["environmentId"], state["serviceId"])]) == {
        "DATABASE_URL",
        "LOG_LEVEL",
    }
    assert len(w.deployments) == 1
    assert standin.mutations.count("serviceCreate") == 1


@pytest.mark.parametrize(
    "variables",
    [
        {"DATABASE_URL": CANARY, "LOG_LEVEL": "debug"},  # a changed value
        {"DATABASE_URL": CANARY},  # a variable removed
        {"DATABASE_URL": CANARY, "LOG_LEVEL": "info", "FEATURE": "on"},  # one added
    ],
)
def test_update_killed_before_its_deploy_is_deployed_by_the_rerun(
    standin: RailwayStandIn, variables: dict[str, str]
) -> None:
    standin.add_environment("staging")
    first = cli(standin, "apply", stdin=SPEC)
    assert first.returncode == 0, first.stderr
    update = make_spec(variables=variables).model_dump_json(by_alias=True)
    kill_after(standin, "environmentPatchCommitStaged", update, PULUMI_COMMAND_STDOUT=first.stdout)
    assert len(standin.world.deployments) == 1  # the variables changed; nothing deployed them
    standin.mutations.clear()

    # Pulumi kept the state of the last apply that finished.
    rerun = cli(standin, "apply", stdin=update, PULUMI_COMMAND_STDOUT=first.stdout)

    assert rerun.returncode == 0, rerun.stderr
    assert standin.mutations == ["serviceInstanceDeployV2"]
    assert "predates the service's variables" in rerun.stderr
    latest = standin.world.deployments[json.loads(rerun.stdout)["deploymentId"]]
    assert latest["variables"] == variables
    standin.mutations.clear()
    again = cli(standin, "apply", stdin=update, PULUMI_COMMAND_STDOUT=rerun.stdout)
    assert again.returncode == 0, again.stderr
    assert standin.mutations == []
    assert_no_canary(rerun.stdout, rerun.stderr, again.stderr)


def test_delete_reads_the_state_from_pulumi_command_stdout(standin: RailwayStandIn) -> None:
    standin.add_environment("staging")
    applied = cli(standin, "apply", stdin=SPEC)

    deleted = cli(standin, "delete", PULUMI_COMMAND_STDOUT=applied.stdout)

    assert deleted.returncode == 0, deleted.stderr
    assert standin.world.services == {}
    assert "deleted service backend" in deleted.stderr


def test_delete_without_state_does_nothing(standin: RailwayStandIn) -> None:
    result = cli(standin, "delete")
    assert result.returncode == 0
    assert "nothing to delete" in result.stderr
    assert standin.requests == 0


def test_rollback_command(standin: RailwayStandIn) -> None:
    """It rolls back to the deployment before the serving one, and first cancels a build still
    on its way (once online, it would replace the rollback)."""
    env_id = standin.add_environment("staging")
    first = cli(standin, "apply", stdin=SPEC)
    changed: dict[str, Any] = json.loads(SPEC)
    changed["service"]["variables"]["LOG_LEVEL"] = "debug"
    second = cli(standin, "apply", stdin=json.dumps(changed), PULUMI_COMMAND_STDOUT=first.stdout)
    standin.rollouts.append(Rollout(("BUILDING",)))
    building = standin.deploy_source(env_id, json.loads(second.stdout)["serviceId"])

    result = cli(
        standin,
        "rollback",
        "--service",
        "backend",
        "--project",
        "proj-1",
        "--environment",
        "staging",
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "rolledBackTo": json.loads(first.stdout)["deploymentId"],
        "cancelled": [building],
    }
    assert standin.world.rollbacks == [json.loads(first.stdout)["deploymentId"]]
    assert f"cancelled the deployment(s) in flight {building}" in result.stderr


def test_cli_path_does_not_import_pulumi() -> None:
    code = (
        "import sys, components.railway.__main__; "
        "sys.exit(1 if any(m.startswith('pulumi') for m in sys.modules) else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, check=False, capture_output=True
    )
    assert result.returncode == 0, "the CLI imports pulumi: it runs on every `pulumi up`"


def test_an_answer_of_a_shape_apply_does_not_know_is_one_line_without_values(
    standin: RailwayStandIn,
) -> None:
    standin.add_environment("staging")
    odd = json.dumps({"data": {"project": {"id": CANARY, "secret": PROJECT_TOKEN}}}).encode()
    standin.faults.append(Fault("answer", field="project", answer=Answer(200, odd)))

    result = cli(standin, "apply", stdin=SPEC)

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "unexpected KeyError" in result.stderr
    assert "Traceback" not in result.stderr
    assert_no_canary(result.stdout, result.stderr)
    assert PROJECT_TOKEN not in result.stderr
    assert standin.mutations == []


def test_settings_committed_by_a_killed_run_are_deployed_by_the_rerun(
    standin: RailwayStandIn,
) -> None:
    standin.add_environment("staging")
    first = cli(standin, "apply", stdin=SPEC)
    assert first.returncode == 0, first.stderr
    update = make_spec(settings={"numReplicas": 1, "startCommand": "serve --fast"})
    spec = update.model_dump_json(by_alias=True)
    kill_after(standin, "environmentPatchCommitStaged", spec, PULUMI_COMMAND_STDOUT=first.stdout)
    assert len(standin.world.deployments) == 1  # the settings changed; nothing deployed them
    standin.mutations.clear()

    rerun = cli(standin, "apply", stdin=spec, PULUMI_COMMAND_STDOUT=first.stdout)

    assert rerun.returncode == 0, rerun.stderr
    assert standin.mutations == ["serviceInstanceDeployV2"]
    latest = standin.world.deployments[json.loads(rerun.stdout)["deploymentId"]]
    assert latest["meta"]["serviceManifest"]["deploy"]["startCommand"] == "serve --fast"


def test_check_reports_drift_read_only_and_names_no_value(standin: RailwayStandIn) -> None:
    env_id = standin.add_environment("staging")
    assert cli(standin, "apply", stdin=SPEC).returncode == 0
    standin.mutations.clear()

    clean = cli(standin, "check", stdin=SPEC)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout == ""

    # Someone changes things by hand in Railway's dashboard.
    (key,) = [k for k in standin.world.variables if k[0] == env_id]
    standin.world.variables[key]["LOG_LEVEL"] = "trace"
    del standin.world.variables[key]["DATABASE_URL"]
    standin.world.configs[env_id]["services"][key[1]]["deploy"]["numReplicas"] = 9
    drifted = cli(standin, "check", stdin=SPEC)

    assert drifted.returncode == 3
    assert drifted.stdout.splitlines() == [
        "backend: its deploy settings differ from the spec",
        "backend: variable DATABASE_URL is missing",
        "backend: variable LOG_LEVEL differs from the spec",
    ]
    assert standin.mutations == []  # read only
    assert_no_canary(drifted.stdout, drifted.stderr)
    assert "trace" not in drifted.stdout + drifted.stderr


def test_check_without_a_secrets_value_checks_its_presence_only(standin: RailwayStandIn) -> None:
    standin.add_environment("staging")
    body = make_spec().model_dump(by_alias=True)
    body["service"]["variables"] = {"LOG_LEVEL": "info"}
    body["service"]["secretVariables"] = ["DATABASE_URL"]
    spec = json.dumps(body)
    assert cli(standin, "apply", stdin=spec, PIPELINE_SECRET_DATABASE_URL=CANARY).returncode == 0

    assert cli(standin, "check", stdin=spec).returncode == 0  # present: no value to compare
    wrong = cli(standin, "check", stdin=spec, PIPELINE_SECRET_DATABASE_URL="rotated-elsewhere")
    assert wrong.returncode == 3
    assert wrong.stdout.strip() == "backend: variable DATABASE_URL differs from the spec"
    assert_no_canary(wrong.stdout, wrong.stderr)


def test_a_deployment_waiting_for_approval_stops_apply_at_once_in_one_line(
    standin: RailwayStandIn,
) -> None:
    env_id = standin.add_environment("staging")
    first = cli(standin, "apply", stdin=SPEC)
    assert first.returncode == 0, first.stderr
    standin.rollouts.append(Rollout(("NEEDS_APPROVAL",)))
    waiting = standin.deploy_source(env_id, json.loads(first.stdout)["serviceId"])
    standin.mutations.clear()
    update = make_spec(variables={"DATABASE_URL": CANARY, "LOG_LEVEL": "debug"})

    result = cli(
        standin,
        "apply",
        stdin=update.model_dump_json(by_alias=True),
        PULUMI_COMMAND_STDOUT=first.stdout,
    )

    assert result.returncode == 1
    assert result.stdout == ""  # no state: Pulumi keeps the last one, the next run tries again
    assert result.stderr.count("\n") == 1
    assert f"deployment {waiting} of backend in staging is NEEDS_APPROVAL" in result.stderr
    assert standin.mutations == []
    assert_no_canary(result.stderr)


def test_check_reports_a_running_deployment_that_predates_the_variables(
    standin: RailwayStandIn,
) -> None:
    env_id = standin.add_environment("staging")
    assert cli(standin, "apply", stdin=SPEC).returncode == 0
    standin.mutations.clear()
    # A run set LOG_LEVEL and was killed before its deploy: Railway has the spec's variables,
    # the running deployment does not.
    (key,) = [k for k in standin.world.variables if k[0] == env_id]
    standin.world.variables[key]["LOG_LEVEL"] = "debug"
    spec = make_spec(variables={"DATABASE_URL": CANARY, "LOG_LEVEL": "debug"})

    drifted = cli(standin, "check", stdin=spec.model_dump_json(by_alias=True))

    assert drifted.returncode == 3
    [line] = drifted.stdout.splitlines()
    assert line.startswith("backend: what runs is not what the spec says")
    assert standin.mutations == []
    assert_no_canary(drifted.stdout, drifted.stderr)


def test_a_state_printed_by_schema_version_1_reads_and_a_no_op_prints_version_2(
    standin: RailwayStandIn,
) -> None:
    standin.add_environment("staging")
    first = cli(standin, "apply", stdin=SPEC)
    assert first.returncode == 0, first.stderr
    old = json.loads(first.stdout)
    old["schemaVersion"] = 1
    del old["applied"]  # what an apply before version 2 printed
    standin.mutations.clear()

    again = cli(standin, "apply", stdin=SPEC, PULUMI_COMMAND_STDOUT=json.dumps(old))

    assert again.returncode == 0, again.stderr
    assert standin.mutations == []  # an unknown `applied` never deploys by itself
    assert json.loads(again.stdout) == json.loads(first.stdout)
