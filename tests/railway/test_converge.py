"""apply / delete / rollback against the stand-in: idempotence, minimal mutations, cleanup."""

from __future__ import annotations

from typing import Any

import pytest

from components.railway import converge
from components.railway.client import RailwayClient, RailwayError
from components.railway.spec import Spec, State
from tests.railway.standin import PROJECT_ID, Fault, RailwayStandIn

pytestmark = pytest.mark.e2e  # starts the Railway stand-in on 127.0.0.1

CANARY = "canary-value-7f3a9c"
SOURCE = {"repo": "fixture-owner/app", "branch": "develop", "rootDirectory": "backend"}
# What apply sends for any change of settings or variables: one patch, staged and committed
# without deploying, then one deployment.
COMMIT = ["environmentStageChanges", "environmentPatchCommitStaged"]


def make_spec(**service: Any) -> Spec:
    body: dict[str, Any] = {
        "name": "backend",
        "source": {"repo": "fixture-owner/app", "branch": "develop", "rootDirectory": "backend"},
        "variables": {"DATABASE_URL": CANARY, "LOG_LEVEL": "info"},
        "settings": {
            "healthcheckPath": "/health",
            "healthcheckTimeout": 60,
            "numReplicas": 2,
            "restartPolicyType": "ON_FAILURE",
        },
        "domains": ["staging-api.fixture.example.test"],
        "serviceDomain": True,
    }
    body.update(service)
    return Spec.model_validate({"projectId": PROJECT_ID, "environment": "staging", "service": body})


def run_apply(client: RailwayClient, spec: Spec, previous: State | None = None) -> State:
    return converge.apply(client, spec, previous, lambda _line: None)


def test_fresh_apply_creates_everything_and_deploys_once(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    standin.add_environment("staging")
    state = run_apply(client, make_spec())

    w = standin.world
    assert [s["name"] for s in w.services.values()] == ["backend"]
    key = (state.environment_id, state.service_id)
    assert w.variables[key] == {"DATABASE_URL": CANARY, "LOG_LEVEL": "info"}
    instance = standin.instance(*key)
    assert instance["healthcheckPath"] == "/health"
    assert instance["numReplicas"] == 2
    assert instance["rootDirectory"] == "backend"
    assert instance["source"] == {"repo": "fixture-owner/app", "image": None}
    assert standin.service_config(*key)["source"]["branch"] == "develop"
    assert standin.mutations.count("serviceInstanceDeployV2") == 1
    assert "serviceInstanceUpdate" not in standin.mutations  # it would change every environment
    assert len(w.deployments) == 1
    assert state.url == "https://staging-api.fixture.example.test"
    assert state.variables == ("DATABASE_URL", "LOG_LEVEL")
    assert state.service_domain is not None
    assert state.service_domain.domain.endswith(".up.railway.app")
    assert CANARY not in state.model_dump_json()


def test_missing_environment_is_created(standin: RailwayStandIn, client: RailwayClient) -> None:
    state = run_apply(client, make_spec())
    assert [e["name"] for e in standin.world.environments.values()] == ["staging"]
    assert "environmentCreate" in standin.mutations
    assert state.environment == "staging"


def test_second_apply_sends_no_mutation(standin: RailwayStandIn, client: RailwayClient) -> None:
    standin.add_environment("staging")
    first = run_apply(client, make_spec())
    standin.mutations.clear()
    standin.queries.clear()

    second = run_apply(client, make_spec(), first)

    assert standin.mutations == []
    assert len(standin.queries) <= 3
    assert second == first


def test_apply_goes_on_when_railway_will_not_give_the_running_variables(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    standin.add_environment("staging")
    first = run_apply(client, make_spec())
    standin.mutations.clear()
    standin.faults.append(Fault("500", field="deploymentSnapshot", times=10))
    lines: list[str] = []

    second = converge.apply(client, make_spec(), first, lines.append)

    assert standin.mutations == []
    assert second == first
    assert any("running deployment started with, not compared" in line for line in lines)


def test_changed_variable_is_committed_without_deploy_then_deployed_once(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    standin.add_environment("staging")
    first = run_apply(client, make_spec())
    standin.mutations.clear()

    run_apply(client, make_spec(variables={"DATABASE_URL": CANARY, "LOG_LEVEL": "debug"}), first)

    assert standin.mutations == [*COMMIT, "serviceInstanceDeployV2"]
    assert standin.world.variables[(first.environment_id, first.service_id)]["LOG_LEVEL"] == "debug"
    assert len(standin.world.deployments) == 2


def test_variable_removed_from_spec_is_deleted_and_unmanaged_ones_kept(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    standin.add_environment("staging")
    first = run_apply(client, make_spec())
    key = (first.environment_id, first.service_id)
    standin.world.variables[key]["SET_BY_HAND"] = "x"

    second = run_apply(client, make_spec(variables={"DATABASE_URL": CANARY}), first)

    assert standin.world.variables[key] == {"DATABASE_URL": CANARY, "SET_BY_HAND": "x"}
    assert second.variables == ("DATABASE_URL",)
    assert standin.mutations[-3:] == [*COMMIT, "serviceInstanceDeployV2"]


def test_setting_and_branch_changes_are_applied(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    standin.add_environment("staging")
    first = run_apply(client, make_spec())
    standin.mutations.clear()
    source = {"repo": "fixture-owner/app", "branch": "main", "rootDirectory": "backend"}

    run_apply(client, make_spec(source=source, settings={"numReplicas": 3}), first)

    key = (first.environment_id, first.service_id)
    assert standin.instance(*key)["numReplicas"] == 3
    assert standin.service_config(*key)["source"]["branch"] == "main"
    assert standin.mutations == [*COMMIT, "serviceInstanceDeployV2"]


def test_image_source_and_domain_changes(standin: RailwayStandIn, client: RailwayClient) -> None:
    standin.add_environment("staging")
    first = run_apply(client, make_spec())

    second = run_apply(
        client,
        make_spec(
            source={"image": "ghcr.io/fixture-owner/worker:1"}, domains=[], serviceDomain=False
        ),
        first,
    )

    key = (first.environment_id, first.service_id)
    image = "ghcr.io/fixture-owner/worker:1"
    assert standin.instance(*key)["source"] == {"repo": None, "image": image}
    assert "branch" not in standin.service_config(*key)["source"]  # no deploys from a branch
    assert standin.world.custom_domains == {}
    assert standin.world.service_domains == {}
    assert second.url is None


def test_delete_removes_the_service(standin: RailwayStandIn, client: RailwayClient) -> None:
    standin.add_environment("staging")
    state = run_apply(client, make_spec())

    converge.delete(client, state, lambda _line: None)
    converge.delete(client, state, lambda _line: None)  # a second delete is a no-op

    assert standin.world.services == {}
    assert standin.world.variables == {}
    assert standin.world.custom_domains == {}
    assert standin.mutations.count("serviceDelete") == 1


def test_delete_keeps_a_service_another_environment_runs(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    standin.add_environment("staging")
    standin.add_environment("production")
    staging = run_apply(client, make_spec())
    prod_spec = make_spec(domains=["api.fixture.example.test"])
    production = run_apply(
        client,
        Spec.model_validate({**prod_spec.model_dump(by_alias=True), "environment": "production"}),
    )
    assert production.service_id == staging.service_id

    converge.delete(client, staging, lambda _line: None)

    w = standin.world
    assert list(w.services) == [staging.service_id]
    assert (staging.environment_id, staging.service_id) not in w.variables or not w.variables[
        (staging.environment_id, staging.service_id)
    ]
    assert [d["domain"] for d in w.custom_domains.values()] == ["api.fixture.example.test"]
    assert w.variables[(production.environment_id, production.service_id)]["DATABASE_URL"] == CANARY
    staging_deployments = [
        d for d in w.deployments.values() if d["environmentId"] == staging.environment_id
    ]
    # Removing staging's domains may deploy it (the stand-in's hardest reading): that one goes
    # too, and nothing runs in staging.
    assert {d["status"] for d in staging_deployments} == {"REMOVED"}


def test_rollback_targets_the_previous_successful_deployment(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    standin.add_environment("staging")
    first = run_apply(client, make_spec())
    run_apply(client, make_spec(variables={"DATABASE_URL": CANARY, "LOG_LEVEL": "debug"}), first)

    target = converge.rollback(client, PROJECT_ID, "staging", "backend")

    assert target == first.deployment_id
    assert standin.world.rollbacks == [first.deployment_id]


def test_rollback_without_history_says_why(standin: RailwayStandIn, client: RailwayClient) -> None:
    standin.add_environment("staging")
    run_apply(client, make_spec())
    with pytest.raises(RailwayError, match=r"no deployment of backend .* that ran before"):
        converge.rollback(client, PROJECT_ID, "staging", "backend")


PROMETHEUS_YML = "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: backend\n"


def test_an_image_service_converges_and_a_rerun_changes_nothing(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    # As the monitoring services will be: an image pinned by digest, no public domain, a volume,
    # a start command and a config file in a variable.
    standin.pulls_by_digest = True  # assumed: Railway does not document it (docs/railway.md)
    standin.add_environment("staging")
    image = "prom/prometheus@sha256:" + "a" * 64
    spec = make_spec(
        name="prometheus",
        source={"image": image},
        variables={"PROMETHEUS_YML": PROMETHEUS_YML},
        settings={"startCommand": "/bin/prometheus --config.file=/etc/prometheus.yml"},
        domains=[],
        serviceDomain=False,
        volumes=[{"mountPath": "/prometheus"}],
    )

    first = run_apply(client, spec)

    key = (first.environment_id, first.service_id)
    instance = standin.instance(*key)
    assert instance["source"] == {"repo": None, "image": image}
    assert instance["startCommand"] == "/bin/prometheus --config.file=/etc/prometheus.yml"
    assert standin.service_config(*key)["source"] == {"image": image}  # no branch to deploy from
    assert standin.world.variables[key] == {"PROMETHEUS_YML": PROMETHEUS_YML}
    assert [v["mountPath"] for v in standin.world.volume_instances.values()] == ["/prometheus"]
    assert standin.world.custom_domains == {} and standin.world.service_domains == {}
    assert first.url is None
    assert standin.mutations.count("serviceInstanceDeployV2") == 1
    standin.mutations.clear()
    standin.queries.clear()

    assert run_apply(client, spec, first) == first
    assert standin.mutations == []
    assert len(standin.queries) <= 3


def _running_code(standin: RailwayStandIn, state: State) -> str:
    found = [
        d
        for d in standin.world.deployments.values()
        if d["serviceId"] == state.service_id and d["environmentId"] == state.environment_id
    ]
    latest: dict[str, Any] = max(found, key=lambda d: d["createdAt"])
    assert latest["status"] == "SUCCESS"
    return str(latest["code"])


def test_a_changed_variable_never_puts_branch_head_over_a_rollback(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    standin.add_environment("staging")
    state = run_apply(client, make_spec())  # deploys the branch: commit "head"
    service = state.service_id
    standin.world.heads[service] = "bad"
    moved = run_apply(client, make_spec(source={**SOURCE, "branch": "release"}), state)
    assert _running_code(standin, moved) == "bad"
    converge.rollback(client, PROJECT_ID, "staging", "backend")  # the rollback service's act
    assert _running_code(standin, moved) == "head"
    standin.mutations.clear()

    debug = {"DATABASE_URL": CANARY, "LOG_LEVEL": "debug"}
    changed = make_spec(source={**SOURCE, "branch": "release"}, variables=debug)
    after = run_apply(client, changed, moved)

    assert standin.mutations == [*COMMIT, "serviceInstanceDeployV2"]
    assert _running_code(standin, after) == "head"  # still the rolled-back code, new variables


def test_a_workflow_deployed_service_is_never_deployed_by_apply_and_connects_no_source(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    env_id = standin.add_environment("staging")
    spec = make_spec(source={"deployedBy": ".github/workflows/deploy-staging.yml"})
    lines: list[str] = []
    state = converge.apply(client, spec, None, lines.append)
    assert state.deployment_id is None
    assert "serviceInstanceDeployV2" not in standin.mutations
    assert any("runs no code yet" in line for line in lines)
    source = standin.service_config(env_id, state.service_id).get("source") or {}
    assert not {"repo", "branch", "image"} & {k for k, v in source.items() if v}
    standin.mutations.clear()
    assert run_apply(client, spec, state) == state
    assert standin.mutations == []

    # The workflow's `railway up` shipped code; a later variable change redeploys that code.
    standin.upload(env_id, state.service_id, "shipped")
    debug = {"DATABASE_URL": CANARY, "LOG_LEVEL": "debug"}
    changed = make_spec(source=spec.service.source, variables=debug)
    after = run_apply(client, changed, state)
    assert standin.mutations[-1] == "deploymentRedeploy"
    assert _running_code(standin, after) == "shipped"


def test_a_cron_schedule_is_a_deploy_setting_railway_keeps_and_a_rerun_sends_nothing(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    env_id = standin.add_environment("staging")
    cron = {"cronSchedule": "0 3 * * *", "restartPolicyType": "NEVER"}
    spec = make_spec(settings=cron, domains=[], serviceDomain=False)
    state = run_apply(client, spec)
    deploy = standin.service_config(env_id, state.service_id)["deploy"]
    assert deploy["cronSchedule"] == "0 3 * * *"
    standin.mutations.clear()
    assert run_apply(client, spec, state) == state
    assert standin.mutations == []
    # Dropped from the stack (cleared), the schedule goes: the service runs as a long-running one.
    plain = make_spec(settings={"cleared": ["cronSchedule"]}, domains=[], serviceDomain=False)
    after = run_apply(client, plain, state)
    assert "cronSchedule" not in standin.service_config(env_id, after.service_id)["deploy"]
