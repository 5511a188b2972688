"""Deployments per step, against the stand-in that deploys as Railway documents it: one per
create, built with every variable; at most one per change, running the new settings with the
code that ran before; none for a no-op, with either token."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from components.railway import converge
from components.railway import documents as docs
from components.railway.client import Auth, RailwayClient
from components.railway.spec import Spec, State
from tests.railway.standin import ACCOUNT_TOKEN, RailwayStandIn, Rollout
from tests.railway.test_converge import CANARY, make_spec
from tests.railway.test_deploy_outcome import Clock
from tests.railway.test_scope import TOKENS, in_environment

pytestmark = pytest.mark.e2e  # starts the Railway stand-in on 127.0.0.1

ONE = {"healthcheckPath": "/health", "numReplicas": 1}
VARIABLES = {"DATABASE_URL": CANARY, "LOG_LEVEL": "info"}
DEPLOYS = ("serviceInstanceDeployV2", "deploymentRedeploy")
WORKFLOW = {"deployedBy": ".github/workflows/deploy-staging.yml", "rootDirectory": "backend"}


def spec_of(**service: Any) -> Spec:
    return make_spec(**{"settings": ONE, "variables": VARIABLES, **service})


class Applies:
    """`pulumi up` after `pulumi up`: each apply gets the state the last one printed."""

    def __init__(self, standin: RailwayStandIn, client: RailwayClient) -> None:
        self.standin, self.client = standin, client
        self.state: State | None = None
        self.lines: list[str] = []
        self.clock = Clock()

    def __call__(self, spec: Spec) -> int:
        """Apply `spec`; the number of deployments it made."""
        before = len(self.standin.world.deployments)
        pace = converge.Pace(interval=5, sleep=self.clock.sleep, clock=self.clock)
        self.state = converge.apply(self.client, spec, self.state, self.lines.append, pace)
        return len(self.standin.world.deployments) - before

    def running(self) -> dict[str, Any]:
        """The deployment that runs the service now."""
        assert self.state is not None
        found = [
            d
            for d in self.standin.world.deployments.values()
            if d["serviceId"] == self.state.service_id
            and d["environmentId"] == self.state.environment_id
            and d["status"] == "SUCCESS"
        ]
        [running] = found
        return running


@pytest.fixture
def client(standin: RailwayStandIn) -> Iterator[RailwayClient]:
    auth = Auth("account", "Authorization", f"Bearer {ACCOUNT_TOKEN}")
    with RailwayClient(standin.url, auth, timeout=2, max_attempts=2) as made:
        yield made


@pytest.mark.parametrize("token", sorted(TOKENS))
def test_one_deployment_per_change_none_per_no_op(standin: RailwayStandIn, token: str) -> None:
    standin.add_environment("staging")
    standin.add_environment("production")
    # Each step changes one thing of the step before: a setting left out is left as it is.
    faster = {"settings": {**ONE, "startCommand": "serve --fast"}}
    debug = {**faster, "variables": {**VARIABLES, "LOG_LEVEL": "debug"}}
    fewer = {**faster, "variables": {"DATABASE_URL": CANARY}}
    volume = {**fewer, "volumes": [{"mountPath": "/data"}]}
    moved = {**fewer, "volumes": [{"mountPath": "/var/lib/data"}]}
    steps = [
        ("create", 1, spec_of()),
        ("settings change", 1, spec_of(**faster)),
        ("variable change", 1, spec_of(**debug)),
        ("variable removal", 1, spec_of(**fewer)),
        ("volume added", 1, spec_of(**volume)),
        ("volume moved", 1, spec_of(**moved)),  # in the patch: apply's own
        # The old domain goes in a patch, committed without deploying; the new one is a
        # mutation, and under the stand-in's hardest reading Railway's own deployment follows
        # it; apply starts none of its own.
        ("domain change", 1, spec_of(**moved, domains=["staging-api2.fixture.example.test"])),
        ("domain removed", 0, spec_of(**moved, domains=[])),
    ]
    with (
        RailwayClient(standin.url, TOKENS[token], timeout=2, max_attempts=2) as client,
        RailwayClient(standin.url, TOKENS["account"], timeout=2, max_attempts=2) as account,
    ):
        apply = Applies(standin, client)
        for step, expected, spec in steps:
            # Only a token that sees the whole project creates a service (test_scope).
            apply.client = account if step == "create" else client
            standin.mutations.clear()
            assert apply(spec) == expected, step
            started = [m for m in standin.mutations if m in DEPLOYS]
            assert len(started) <= 1, step  # apply's own: at most one per change
            apply.client = client
            running = apply.running()
            if step == "create":
                code = running["code"]
                assert apply.state is not None
                standin.world.heads[apply.state.service_id] = "pushed-since"  # HEAD moves on
            assert running["code"] == code, step  # the code it ran before, never HEAD
            assert running["variables"] == spec.service.variables, step  # all of them
            manifest = running["meta"]["serviceManifest"]
            assert manifest["deploy"].get("startCommand") == spec.service.settings.start_command
            assert running["mounts"] == [v.mount_path for v in spec.service.volumes], step

            standin.mutations.clear()
            last = apply.state
            assert apply(spec) == 0, f"no-op after {step}"
            assert standin.mutations == [], f"no-op after {step}"
            assert apply.state == last


CHANGES_WITH_A_SETTING: dict[str, tuple[dict[str, Any], int]] = {
    # Variables and settings go in one patch: one deployment, apply's.
    "a variable": ({"variables": {**VARIABLES, "LOG_LEVEL": "debug"}}, 1),
    # A new volume or domain is a mutation of its own; under the stand-in's hardest reading it
    # makes Railway redeploy what runs, with the old settings: that one, then apply's. The old
    # domain goes in the patch, which deploys nothing.
    "a volume": ({"volumes": [{"mountPath": "/data"}]}, 2),
    "a domain": ({"domains": ["staging-api2.fixture.example.test"]}, 2),
}


@pytest.mark.parametrize("other", sorted(CHANGES_WITH_A_SETTING))
def test_a_setting_changed_with_another_change_runs_with_the_code_it_ran_before(
    standin: RailwayStandIn, client: RailwayClient, other: str
) -> None:
    standin.add_environment("staging")
    apply = Applies(standin, client)
    apply(spec_of())
    assert apply.state is not None
    code = apply.running()["code"]
    standin.world.heads[apply.state.service_id] = "pushed-since"  # HEAD moves on
    change, expected = CHANGES_WITH_A_SETTING[other]
    spec = spec_of(settings={**ONE, "startCommand": "serve --fast"}, **change)
    # Railway's own deployments take a while: each is still building when apply goes on.
    standin.rollouts = [Rollout(("BUILDING", "DEPLOYING", "SUCCESS"))] * 3

    standin.mutations.clear()
    made = apply(spec)
    for deployment in list(standin.world.deployments.values()):  # time passes: all end
        while deployment["status"] not in ("SUCCESS", "REMOVED", "FAILED"):
            standin._advance(deployment["id"])

    assert made == expected
    assert [m for m in standin.mutations if m in DEPLOYS] == ["serviceInstanceDeployV2"]
    running = apply.running()  # the one that went live last
    assert running["meta"]["serviceManifest"]["deploy"]["startCommand"] == "serve --fast"
    assert running["code"] == code
    assert running["variables"] == spec.service.variables
    assert running["mounts"] == [v.mount_path for v in spec.service.volumes]
    if expected > 1:
        assert any("Railway does not document whether" in line for line in apply.lines)
    standin.mutations.clear()
    assert apply(spec) == 0
    assert standin.mutations == []


def test_where_railway_s_config_lists_no_domain_a_swap_is_two_mutations_and_converges(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    standin.add_environment("staging")
    standin.config_lists_mounts_and_domains = False  # a patch could not name the old domain
    apply = Applies(standin, client)
    apply(spec_of())
    swapped = spec_of(domains=["staging-api2.fixture.example.test"])
    standin.mutations.clear()

    assert apply(swapped) == 2  # Railway's, one per mutation (the hardest reading)

    assert standin.mutations == ["customDomainCreate", "customDomainDelete"]
    assert [d["domain"] for d in standin.world.custom_domains.values()] == list(
        swapped.service.domains
    )
    standin.mutations.clear()
    assert apply(swapped) == 0
    assert standin.mutations == []


def test_a_service_that_exists_before_its_environment_is_created_there(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    production_id = standin.add_environment("production")
    production = Applies(standin, client)
    production(in_environment(spec_of(domains=["api.fixture.example.test"]), "production"))
    assert production.state is not None
    before = standin.service_config(production_id, production.state.service_id)

    staging = Applies(standin, client)
    made = staging(spec_of())  # staging does not exist yet: apply creates it, then the instance

    assert made == 1
    assert staging.state is not None and staging.state.service_id == production.state.service_id
    key = (staging.state.environment_id, staging.state.service_id)
    assert standin.service_config(*key)["deploy"]["healthcheckPath"] == "/health"
    assert staging.running()["variables"] == VARIABLES
    assert standin.service_config(production_id, production.state.service_id) == before


def test_the_applications_failed_deploy_is_never_redeployed_as_the_running_code(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    env_id = standin.add_environment("staging")
    apply = Applies(standin, client)
    apply(spec_of())
    assert apply.state is not None
    good = apply.running()
    # The application's own deploy of a broken commit fails; what ran before still runs.
    standin.world.heads[apply.state.service_id] = "broken"
    standin.rollouts.append(Rollout(("FAILED",)))
    standin.deploy_source(env_id, apply.state.service_id)
    standin.mutations.clear()

    assert apply(spec_of()) == 0
    assert standin.mutations == []
    assert any(
        "FAILED" in line and f"{good['id']}, the one before it, still runs" in line
        for line in apply.lines
    )

    assert apply(spec_of(variables={**VARIABLES, "LOG_LEVEL": "debug"})) == 1
    assert apply.running()["code"] == good["code"]  # not the failed build, not HEAD
    assert standin.world.redeploys == []


def test_when_nothing_runs_apply_says_so_and_deploys_only_for_a_change(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    standin.add_environment("staging")
    apply = Applies(standin, client)
    apply(spec_of())
    apply.running()["status"] = "CRASHED"
    standin.mutations.clear()

    assert apply(spec_of()) == 0
    assert standin.mutations == []
    assert any("nothing runs backend in staging" in line for line in apply.lines)

    assert apply(spec_of(variables={**VARIABLES, "LOG_LEVEL": "debug"})) == 1
    assert any(line.startswith("nothing runs (its latest deployment") for line in apply.lines)


def test_a_deployment_waiting_for_approval_is_reported_at_once(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    env_id = standin.add_environment("staging")
    apply = Applies(standin, client)
    apply(spec_of())
    assert apply.state is not None
    standin.rollouts.append(Rollout(("NEEDS_APPROVAL",)))
    waiting = standin.deploy_source(env_id, apply.state.service_id)  # the application's push
    standin.mutations.clear()

    assert apply(spec_of()) == 0  # nothing to change: said, not waited for
    assert any(f"{waiting} of backend in staging is NEEDS_APPROVAL" in line for line in apply.lines)
    with pytest.raises(converge.Refused, match="NEEDS_APPROVAL: it waits for a person"):
        apply(spec_of(variables={**VARIABLES, "LOG_LEVEL": "debug"}))
    assert standin.mutations == []  # nothing changed behind it
    assert apply.clock.sleeps == []  # and nothing waited


@pytest.mark.parametrize("status", ["NEEDS_APPROVAL", "WAITING"])
def test_apply_s_own_deployment_waiting_for_someone_fails_at_once_and_is_not_made_twice(
    standin: RailwayStandIn, client: RailwayClient, status: str
) -> None:
    standin.add_environment("staging")
    standin.rollouts.append(Rollout((status, status, "SUCCESS")))
    apply = Applies(standin, client)

    with pytest.raises(converge.DeployFailed, match=f"is {status}: it waits for someone"):
        apply(spec_of())
    assert apply.clock.sleeps == []
    with pytest.raises(converge.Refused, match=status):  # Pulumi kept no state: the rerun
        apply(spec_of())
    assert len(standin.world.deployments) == 1


def test_a_workflow_service_s_settings_take_effect_at_its_next_workflow_deploy(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    env_id = standin.add_environment("staging")
    apply = Applies(standin, client)
    assert apply(spec_of(source=WORKFLOW)) == 0  # its workflow ships the code
    assert apply.state is not None
    standin.upload(env_id, apply.state.service_id, "shipped")
    faster = {**ONE, "startCommand": "serve --fast"}

    assert apply(spec_of(source=WORKFLOW, settings=faster)) == 0
    assert any("take effect at its next run of .github/workflows" in line for line in apply.lines)
    standin.mutations.clear()
    assert apply(spec_of(source=WORKFLOW, settings=faster)) == 0  # no loop
    assert standin.mutations == []

    debug = {**VARIABLES, "LOG_LEVEL": "debug"}
    assert apply(spec_of(source=WORKFLOW, settings=faster, variables=debug)) == 1
    assert apply.running()["code"] == "shipped"
    assert apply.running()["variables"] == debug
    standin.upload(env_id, apply.state.service_id, "shipped-2")  # the workflow's next run
    assert apply.running()["meta"]["serviceManifest"]["deploy"]["startCommand"] == "serve --fast"
    standin.mutations.clear()
    assert apply(spec_of(source=WORKFLOW, settings=faster, variables=debug)) == 0
    assert standin.mutations == []


# The stand-in deploys as Railway documents it: the controls for the tests above.
COMMIT = """
mutation EnvironmentPatchCommit($environmentId: String!, $patch: EnvironmentConfig) {
  environmentPatchCommit(environmentId: $environmentId, patch: $patch)
}
"""
COMMIT_STAGED = """
mutation EnvironmentPatchCommitStaged($environmentId: String!) {
  environmentPatchCommitStaged(environmentId: $environmentId)
}
"""
UPSERT = """
mutation VariableCollectionUpsert($input: VariableCollectionUpsertInput!) {
  variableCollectionUpsert(input: $input)
}
"""


@pytest.fixture
def running(standin: RailwayStandIn, client: RailwayClient) -> State:
    standin.add_environment("staging")
    return converge.apply(client, spec_of(), None, lambda _line: None)


def test_a_committed_patch_deploys_what_it_changes(
    standin: RailwayStandIn, client: RailwayClient, running: State
) -> None:
    patch = {"services": {running.service_id: {"deploy": {"startCommand": "serve"}}}}
    client.mutate(COMMIT, {"environmentId": running.environment_id, "patch": patch})
    assert len(standin.world.deployments) == 2


def test_a_staged_patch_committed_without_skip_deploys_deploys(
    standin: RailwayStandIn, client: RailwayClient, running: State
) -> None:
    patch = {"services": {running.service_id: {"variables": {"A": {"value": "1"}}}}}
    env = {"environmentId": running.environment_id}
    client.mutate(docs.ENVIRONMENT_STAGE_CHANGES, {**env, "input": patch})
    client.mutate(COMMIT_STAGED, env)
    assert len(standin.world.deployments) == 2


def test_a_variable_upsert_deploys_unless_told_not_to(
    standin: RailwayStandIn, client: RailwayClient, running: State
) -> None:
    ids = {
        "projectId": running.project_id,
        "environmentId": running.environment_id,
        "serviceId": running.service_id,
    }
    client.mutate(UPSERT, {"input": {**ids, "variables": {"A": "1"}, "skipDeploys": True}})
    assert len(standin.world.deployments) == 1
    client.mutate(UPSERT, {"input": {**ids, "variables": {"A": "2"}}})
    assert len(standin.world.deployments) == 2


def test_a_redeploy_keeps_the_settings_of_the_deployment_it_copies(
    standin: RailwayStandIn, client: RailwayClient, running: State
) -> None:
    patch = {"services": {running.service_id: {"deploy": {"startCommand": "serve --new"}}}}
    env = {"environmentId": running.environment_id}
    client.mutate(docs.ENVIRONMENT_STAGE_CHANGES, {**env, "input": patch})
    client.mutate(docs.ENVIRONMENT_PATCH_COMMIT_STAGED, {**env, "commitMessage": None})

    copy = client.mutate(docs.REDEPLOY, {"id": running.deployment_id})["deploymentRedeploy"]

    manifest = standin.world.deployments[copy["id"]]["meta"]["serviceManifest"]
    assert "startCommand" not in manifest["deploy"]  # the new setting never reaches it


def test_a_patch_for_a_new_instance_without_is_created_changes_nothing(
    standin: RailwayStandIn, client: RailwayClient, running: State
) -> None:
    production = standin.add_environment("production")
    patch = {"services": {running.service_id: {"deploy": {"startCommand": "serve"}}}}
    client.mutate(COMMIT, {"environmentId": production, "patch": patch})
    assert standin.service_config(production, running.service_id) == {}
    assert (production, running.service_id) not in standin.world.instances


@pytest.mark.parametrize(
    "shows",
    {
        "masked": lambda _value: "*******",
        "rendered otherwise": lambda value: value.strip() + "\n",
    }.items(),
    ids=lambda item: item[0],
)
def test_a_snapshot_that_never_matches_redeploys_once_at_most(
    standin: RailwayStandIn, client: RailwayClient, shows: tuple[str, Any]
) -> None:
    # The undocumented reading (docs/railway.md, "Undocumented"): Railway may show the values a
    # deployment started with otherwise than apply sent them.
    standin.snapshot_shows = shows[1]
    standin.add_environment("staging")
    apply = Applies(standin, client)
    debug = spec_of(variables={**VARIABLES, "LOG_LEVEL": "debug"})
    made = [apply(spec_of())]
    made += [apply(spec_of()) for _ in range(3)]
    made += [apply(debug)]
    made += [apply(debug) for _ in range(3)]

    # Per change: its own deployment, at most one more for the snapshot, then nothing.
    assert made[0] == 1 and made[4] == 1
    assert sum(made[1:4]) <= 1 and sum(made[5:8]) <= 1
    standin.mutations.clear()
    assert apply(debug) == 0
    assert standin.mutations == []
