"""Volumes: created once, found again, moved rather than emptied, never deleted with the service."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

import rollback.deploy
from components.railway import converge
from components.railway.client import RailwayClient
from components.railway.component import render_spec
from components.railway.spec import Settings, Spec, State, VolumeRef
from components.railway.stack import rollback_service
from tests.railway.standin import Fault, RailwayStandIn
from tests.railway.test_cli import cli, kill_after
from tests.railway.test_component import COMMAND, STATE, backend_args, plan_of
from tests.railway.test_converge import make_spec

ROLLBACK = rollback.deploy.service_spec(notifications=("slack", "pagerduty", "email"))
ONE_REPLICA = {"healthcheckPath": "/health", "numReplicas": 1}


def volume_spec(*paths: str, environment: str = "staging", **service: Any) -> Spec:
    spec = make_spec(
        settings=ONE_REPLICA, volumes=[{"mountPath": p} for p in paths or ("/data",)], **service
    )
    return spec.model_copy(update={"environment": environment})


class Lines(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)


def run_apply(client: RailwayClient, spec: Spec, previous: State | None = None) -> State:
    return converge.apply(client, spec, previous, Lines(), converge.Pace(interval=0.01))


def instances(standin: RailwayStandIn) -> list[dict[str, Any]]:
    return list(standin.world.volume_instances.values())


@pytest.mark.e2e
def test_fresh_apply_creates_the_volume_before_the_first_deploy(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    standin.add_environment("staging")
    state = run_apply(client, volume_spec())

    [instance] = instances(standin)
    assert instance["serviceId"] == state.service_id
    assert instance["environmentId"] == state.environment_id
    assert instance["mountPath"] == "/data"
    assert state.volumes == (VolumeRef(id=instance["volumeId"], mount_path="/data"),)
    [deployment] = standin.world.deployments.values()
    assert deployment["mounts"] == ["/data"]  # the first container already has its volume
    assert standin.mutations.count("serviceInstanceDeployV2") == 1


@pytest.mark.e2e
def test_second_apply_sends_no_mutation(standin: RailwayStandIn, client: RailwayClient) -> None:
    standin.add_environment("staging")
    first = run_apply(client, volume_spec())
    standin.mutations.clear()

    second = run_apply(client, volume_spec(), first)

    assert standin.mutations == []
    assert second == first


@pytest.mark.e2e
def test_volume_added_to_a_running_service_is_mounted_by_one_deployment(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    standin.add_environment("staging")
    first = run_apply(client, make_spec(settings=ONE_REPLICA))
    standin.mutations.clear()

    second = run_apply(client, volume_spec(), first)

    # Railway's own deployment after the mutation (the stand-in's hardest reading) builds the
    # same code: apply waits for it instead of starting a second.
    assert standin.mutations == ["volumeCreate"]
    latest = standin.world.deployments[str(second.deployment_id)]
    assert latest["mounts"] == ["/data"]


@pytest.mark.e2e
@pytest.mark.parametrize("listed", [True, False], ids=["config-lists-it", "config-silent"])
def test_changed_mount_path_moves_the_same_volume_with_its_data(
    standin: RailwayStandIn, client: RailwayClient, listed: bool
) -> None:
    standin.add_environment("staging")
    standin.config_lists_mounts_and_domains = listed
    first = run_apply(client, volume_spec("/data"))
    standin.mutations.clear()
    deployments = len(standin.world.deployments)

    second = run_apply(client, volume_spec("/var/lib/rollback"), first)

    [instance] = instances(standin)
    assert instance["volumeId"] == first.volumes[0].id  # no new, empty volume
    assert instance["mountPath"] == "/var/lib/rollback"
    assert instance["serviceId"] == first.service_id  # still attached
    assert second.volumes == (VolumeRef(id=first.volumes[0].id, mount_path="/var/lib/rollback"),)
    assert len(standin.world.deployments) == deployments + 1
    latest = standin.world.deployments[second.deployment_id or ""]
    assert latest["mounts"] == ["/var/lib/rollback"]
    if listed:  # in the patch, then apply's one deployment
        assert "volumeInstanceUpdate" not in standin.mutations
        assert standin.mutations.count("serviceInstanceDeployV2") == 1
    else:  # a mutation of its own: Railway's deployment (the hardest reading), waited for
        assert standin.mutations == ["volumeInstanceUpdate"]


@pytest.mark.e2e
def test_volume_left_out_of_the_spec_is_kept_and_says_so(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    standin.add_environment("staging")
    first = run_apply(client, volume_spec())
    standin.mutations.clear()
    lines = Lines()

    second = converge.apply(client, make_spec(settings=ONE_REPLICA), first, lines)

    assert standin.mutations == []
    [instance] = instances(standin)
    assert instance["serviceId"] == first.service_id
    assert second.volumes == ()
    assert any(f"kept volume {first.volumes[0].id}" in line for line in lines)


@pytest.mark.e2e
def test_delete_keeps_the_volume_detached_and_says_so(standin: RailwayStandIn) -> None:
    standin.add_environment("staging")
    applied = cli(standin, "apply", stdin=volume_spec().model_dump_json(by_alias=True))
    assert applied.returncode == 0, applied.stderr
    volume_id = json.loads(applied.stdout)["volumes"][0]["id"]

    deleted = cli(standin, "delete", PULUMI_COMMAND_STDOUT=applied.stdout)

    assert deleted.returncode == 0, deleted.stderr
    assert standin.world.services == {}
    assert list(standin.world.volumes) == [volume_id]
    [instance] = instances(standin)
    assert instance["serviceId"] is None
    assert instance["mountPath"] == "/data"
    assert f"kept volume {volume_id}" in deleted.stderr
    assert "volumeDelete" not in standin.mutations


@pytest.mark.e2e
def test_delete_keeps_the_volume_attached_when_another_environment_runs_the_service(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    standin.add_environment("staging")
    standin.add_environment("production")
    staging = run_apply(client, volume_spec())
    production = run_apply(
        client, volume_spec(environment="production", domains=["api.fixture.example.test"])
    )
    assert staging.volumes[0].id != production.volumes[0].id  # one volume per environment
    lines = Lines()

    converge.delete(client, staging, lines)

    attached = {v["volumeId"]: v["serviceId"] for v in instances(standin)}
    assert attached == {
        staging.volumes[0].id: staging.service_id,
        production.volumes[0].id: production.service_id,
    }
    assert any(f"kept volume {staging.volumes[0].id}" in line for line in lines)


@pytest.mark.e2e
def test_lost_answer_of_volume_create_never_duplicates(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    standin.add_environment("staging")
    standin.faults.append(Fault("drop_after", field="volumeCreate"))

    state = run_apply(client, volume_spec())

    [instance] = instances(standin)
    assert state.volumes == (VolumeRef(id=instance["volumeId"], mount_path="/data"),)
    assert standin.mutations.count("volumeCreate") == 1


def kill_after_volume_create(standin: RailwayStandIn, spec: str, **env: str) -> None:
    kill_after(standin, "volumeCreate", spec, **env)
    assert len(standin.world.volumes) == 1


@pytest.mark.e2e
def test_run_killed_after_volume_create_then_rerun_makes_no_second_volume(
    standin: RailwayStandIn,
) -> None:
    standin.add_environment("staging")
    spec = volume_spec().model_dump_json(by_alias=True)
    kill_after_volume_create(standin, spec)

    rerun = cli(standin, "apply", stdin=spec)  # Pulumi has no state from the killed run

    assert rerun.returncode == 0, rerun.stderr
    [instance] = instances(standin)
    assert json.loads(rerun.stdout)["volumes"] == [
        {"id": instance["volumeId"], "mountPath": "/data"}
    ]
    assert standin.mutations.count("volumeCreate") == 1
    [deployment] = standin.world.deployments.values()
    assert deployment["mounts"] == ["/data"]


@pytest.mark.e2e
def test_killed_after_adding_a_volume_to_a_running_service_the_rerun_deploys(
    standin: RailwayStandIn,
) -> None:
    standin.add_environment("staging")
    first = cli(
        standin, "apply", stdin=make_spec(settings=ONE_REPLICA).model_dump_json(by_alias=True)
    )
    assert first.returncode == 0, first.stderr
    spec = volume_spec().model_dump_json(by_alias=True)
    kill_after_volume_create(standin, spec, PULUMI_COMMAND_STDOUT=first.stdout)
    standin.mutations.clear()

    rerun = cli(standin, "apply", stdin=spec, PULUMI_COMMAND_STDOUT=first.stdout)

    assert rerun.returncode == 0, rerun.stderr
    # The volume is found, not remade; Railway's own deployment after the volumeCreate (the
    # stand-in's hardest reading) already runs with it mounted: nothing more to do.
    assert standin.mutations == []
    latest = standin.world.deployments[json.loads(rerun.stdout)["deploymentId"]]
    assert latest["mounts"] == ["/data"]


@pytest.mark.parametrize(
    ("volumes", "settings", "problem"),
    [
        ([{"mountPath": "data"}], ONE_REPLICA, "service.volumes.0.mountPath"),
        ([{"mountPath": "/"}], ONE_REPLICA, "service.volumes.0.mountPath"),
        ([{"mountPath": "/data/../etc"}], ONE_REPLICA, "service.volumes.0.mountPath"),
        ([{"mountPath": "/data/"}], ONE_REPLICA, "service.volumes.0.mountPath"),
        ([{"mountPath": "/data", "size": 5}], ONE_REPLICA, "service.volumes.0.size"),
        ([{"mountPath": "/a"}, {"mountPath": "/b"}], ONE_REPLICA, "service.volumes"),
        ([{"mountPath": "/data"}], {"numReplicas": 2}, "numReplicas must be 1"),
    ],
)
def test_spec_refuses_volumes_railway_would_refuse(
    volumes: list[dict[str, Any]], settings: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValidationError) as error:
        make_spec(settings=settings, volumes=volumes)
    located = [
        ".".join(str(p) for p in e["loc"]) + ": " + e["msg"]
        for e in error.value.errors(include_url=False)
    ]
    assert any(problem in line for line in located), located


def test_state_printed_before_volumes_existed_still_reads() -> None:
    assert State.model_validate(STATE).volumes == ()


def stdin_of(**overrides: Any) -> dict[str, Any]:
    plan = plan_of(lambda: backend_args(variables={"LOG_LEVEL": "info"}, **overrides))
    spec: dict[str, Any] = json.loads(plan.one(COMMAND)["inputs"]["stdin"])
    return spec


def test_stdin_of_a_service_without_volumes_is_unchanged() -> None:
    # Unchanged stdin: `pulumi preview` shows no diff on services that have no volume.
    assert "volumes" not in stdin_of()["service"]


def test_component_passes_its_volumes_to_the_converge_tool() -> None:
    spec = stdin_of(volumes=["/data"], settings=Settings(num_replicas=1))
    assert spec["service"]["volumes"] == [{"mountPath": "/data"}]


def test_the_rollback_service_keeps_its_audit_log_on_a_volume() -> None:
    args = rollback_service(
        project_id="proj-1",
        environment="staging",
        product="fixture",
        repository="fixture-owner/app",
        public_url=None,
        variables=dict.fromkeys(ROLLBACK.required_variables, "x"),
        dry_run=False,
        protect=False,
        platforms=frozenset({"railway", "vercel"}),
        pages=True,
    )
    spec = json.loads(render_spec(args, dict.fromkeys(args.variables, "x")))
    assert spec["service"]["volumes"] == [{"mountPath": ROLLBACK.volume_mount}]
