"""apply waits for its deployment: success, a failed build, a crash, a timeout; a rerun retries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from components.railway import converge
from components.railway.client import Auth, RailwayClient, RailwayError
from components.railway.spec import Spec, State
from tests.railway.standin import ACCOUNT_TOKEN, RailwayStandIn, Rollout
from tests.railway.test_cli import cli, secret_stdin
from tests.railway.test_converge import CANARY, make_spec

pytestmark = pytest.mark.e2e  # starts the Railway stand-in on 127.0.0.1


class Clock:
    """A clock that moves only when apply sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(standin: RailwayStandIn) -> Iterator[RailwayClient]:
    """As the CLI makes it: it knows the secret values, to mask them in logs."""
    auth = Auth("account", "Authorization", f"Bearer {ACCOUNT_TOKEN}")
    with RailwayClient(standin.url, auth, timeout=2, secrets=[CANARY]) as made:
        yield made


def apply(
    client: RailwayClient, clock: Clock, spec: Spec, previous: State | None = None
) -> tuple[State, list[str]]:
    lines: list[str] = []
    pace = converge.Pace(interval=5, sleep=clock.sleep, clock=clock)
    return converge.apply(client, spec, previous, lines.append, pace), lines


def test_apply_waits_until_the_deployment_runs(
    standin: RailwayStandIn, client: RailwayClient, clock: Clock
) -> None:
    standin.add_environment("staging")
    standin.rollouts.append(Rollout(("QUEUED", "BUILDING", "DEPLOYING", "SUCCESS")))

    state, lines = apply(client, clock, make_spec())

    assert standin.world.deployments[str(state.deployment_id)]["status"] == "SUCCESS"
    assert clock.sleeps == [5, 5, 5]  # asked four times: three answers in progress
    progress = [line for line in lines if line.startswith(f"deployment {state.deployment_id}")]
    assert [line.rsplit(": ", 1)[-1] for line in progress] == [
        "QUEUED",
        "BUILDING",
        "DEPLOYING",
        "SUCCESS",
    ]


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        ("FAILED", "build"),  # the build failed: its log says why
        ("CRASHED", "deploy"),  # the container started and died
    ],
)
def test_a_deployment_that_does_not_run_fails_apply_with_its_log_and_the_rerun_retries(
    standin: RailwayStandIn, client: RailwayClient, clock: Clock, status: str, shown: str
) -> None:
    standin.add_environment("staging")
    lines = (*(f"step {n}" for n in range(30)), f"DATABASE_URL={CANARY}", "exit 1")
    standin.rollouts.append(Rollout(("BUILDING", status), **{f"{shown}_log": lines}))

    with pytest.raises(converge.DeployFailed) as failed:
        apply(client, clock, make_spec())

    [deployment] = standin.world.deployments.values()
    message = str(failed.value)
    assert f"deployment {deployment['id']} of backend in staging ended {status}" in message
    assert f"its {shown} log" in message
    assert failed.value.tail[-1] == "exit 1"
    assert len(failed.value.tail) == 20  # the end of the log, not all of it
    assert all(CANARY not in line for line in failed.value.tail)  # a secret value is masked
    assert "DATABASE_URL=[secret]" in failed.value.tail
    standin.mutations.clear()

    # Pulumi keeps no state from a failed update: the rerun sees the failed deployment.
    state, _ = apply(client, clock, make_spec())

    assert standin.mutations == ["serviceInstanceDeployV2"]
    assert standin.world.deployments[str(state.deployment_id)]["status"] == "SUCCESS"


def test_a_deployment_still_building_at_the_timeout_fails_apply_and_the_rerun_waits_for_it(
    standin: RailwayStandIn, client: RailwayClient, clock: Clock
) -> None:
    standin.add_environment("staging")
    standin.rollouts.append(Rollout(("BUILDING",)))
    spec = make_spec(deployTimeout=60)

    with pytest.raises(converge.DeployFailed, match="still BUILDING after 60 s") as failed:
        apply(client, clock, spec)

    assert clock.now == 60  # bounded by the spec's timeout
    assert failed.value.tail == ()
    [deployment] = standin.world.deployments.values()
    deployment["rollout"] = Rollout(("BUILDING", "SUCCESS"))
    deployment["reads"] = 0
    standin.mutations.clear()

    state, lines = apply(client, clock, spec)

    assert standin.mutations == []  # it waited for the same deployment: nothing deployed twice
    assert state.deployment_id == deployment["id"]
    assert any("started before this run" in line for line in lines)


def test_cli_exits_1_with_the_deployment_and_its_log_and_prints_no_state(
    standin: RailwayStandIn,
) -> None:
    standin.add_environment("staging")
    standin.rollouts.append(Rollout(("FAILED",), build_log=(f"echo {CANARY}", "npm ERR! missing")))

    result = cli(
        standin,
        "apply",
        stdin=secret_stdin(),
        PIPELINE_SECRET_DATABASE_URL=CANARY,
        RAILWAY_POLL_SECONDS="0",
    )

    assert result.returncode == 1
    assert result.stdout == ""  # no state: Pulumi records nothing, the next run retries
    [deployment_id] = standin.world.deployments
    assert f"deployment {deployment_id} of backend in staging ended FAILED" in result.stderr
    assert "railway: | npm ERR! missing" in result.stderr
    assert CANARY not in result.stderr
    assert "Traceback" not in result.stderr


def test_apply_waits_for_railway_to_apply_its_commit_even_while_the_workflow_is_not_found(
    standin: RailwayStandIn, client: RailwayClient, clock: Clock
) -> None:
    standin.add_environment("staging")
    standin.workflow_statuses.append(("NotFound",) * 10)  # Railway never finds it: the patch says

    state, _ = apply(client, clock, make_spec())

    assert standin.world.deployments[str(state.deployment_id)]["status"] == "SUCCESS"
    assert "EnvironmentStagedChanges" in standin.queries


def test_a_commit_railway_fails_to_apply_stops_apply_before_any_deployment(
    standin: RailwayStandIn, client: RailwayClient, clock: Clock
) -> None:
    standin.add_environment("staging")
    standin.workflow_statuses.append(("Running", "Error"))

    with pytest.raises(RailwayError, match="did not apply the settings of backend in staging"):
        apply(client, clock, make_spec())

    assert standin.world.deployments == {}
    assert clock.sleeps == [5]
