"""Rate limits, server errors, timeouts and dropped connections end in the same state."""

from __future__ import annotations

import pytest

from components.railway import converge
from components.railway.client import Auth, RailwayClient, RailwayError
from components.railway.spec import State
from tests.railway.conftest import Sleeps
from tests.railway.standin import Fault, RailwayStandIn
from tests.railway.test_converge import make_spec

pytestmark = pytest.mark.e2e  # starts the Railway stand-in on 127.0.0.1


# Waits between looks (a lost answer: Railway may still be at it) are kept short here.
QUICK = converge.Pace(interval=0.01)


def apply(client: RailwayClient) -> State:
    return converge.apply(client, make_spec(), None, lambda _line: None, QUICK)


def assert_one_healthy_service(standin: RailwayStandIn, state: State) -> None:
    w = standin.world
    assert [s["name"] for s in w.services.values()] == ["backend"]
    assert set(w.variables[(state.environment_id, state.service_id)]) == {
        "DATABASE_URL",
        "LOG_LEVEL",
    }
    assert [d["domain"] for d in w.custom_domains.values()] == ["staging-api.fixture.example.test"]
    assert len(w.service_domains) == 1
    assert len(w.deployments) == 1


def test_429_waits_as_long_as_retry_after_says(
    standin: RailwayStandIn, client: RailwayClient, sleeps: Sleeps
) -> None:
    standin.add_environment("staging")
    standin.faults.append(Fault("429", retry_after="7"))

    state = apply(client)

    assert sleeps == [7.0]
    assert_one_healthy_service(standin, state)


def test_429_on_a_create_is_retried_because_railway_did_nothing(
    standin: RailwayStandIn, client: RailwayClient, sleeps: Sleeps
) -> None:
    standin.add_environment("staging")
    standin.faults.append(Fault("429", field="serviceCreate", retry_after="2"))

    state = apply(client)

    assert sleeps == [2.0]
    assert_one_healthy_service(standin, state)


def test_two_500s_then_success_backs_off_with_jitter(
    standin: RailwayStandIn, client: RailwayClient, sleeps: Sleeps
) -> None:
    standin.add_environment("staging")
    standin.faults.append(Fault("500", times=2))

    state = apply(client)

    assert len(sleeps) == 2
    assert all(0 < s <= 30 for s in sleeps)
    assert_one_healthy_service(standin, state)


def test_timeout_then_success(standin: RailwayStandIn, client: RailwayClient) -> None:
    standin.add_environment("staging")
    standin.faults.append(Fault("slow", field="project", delay=3.0))  # client timeout is 2 s

    state = apply(client)

    assert_one_healthy_service(standin, state)


def test_dropped_connection_on_the_settings_and_variables_is_retried(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    standin.add_environment("staging")
    standin.faults.append(Fault("drop", field="environmentStageChanges"))

    state = apply(client)

    assert standin.mutations.count("environmentStageChanges") == 1
    assert_one_healthy_service(standin, state)


@pytest.mark.parametrize("kind", ["drop_after", "500"])
def test_unknown_outcome_of_service_create_never_duplicates(
    standin: RailwayStandIn, client: RailwayClient, kind: str
) -> None:
    # drop_after: Railway created the service but the answer was lost; 500: it did not.
    standin.add_environment("staging")
    standin.faults.append(Fault(kind, field="serviceCreate"))

    state = apply(client)

    assert_one_healthy_service(standin, state)


@pytest.mark.parametrize("kind", ["drop_after", "500"])
@pytest.mark.parametrize("mutation", ["environmentPatchCommitStaged", "serviceInstanceDeployV2"])
def test_unknown_outcome_of_a_commit_or_a_deploy_is_looked_up_never_sent_twice(
    standin: RailwayStandIn, client: RailwayClient, kind: str, mutation: str
) -> None:
    # drop_after: Railway did it and the answer was lost; 500: it did not.
    standin.add_environment("staging")
    standin.faults.append(Fault(kind, field=mutation))

    state = apply(client)

    assert_one_healthy_service(standin, state)  # one deployment, with every variable
    assert standin.mutations.count(mutation) == 1


def test_a_commit_railway_is_still_making_when_the_answer_times_out_is_not_made_twice(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    # The client gives up after 0.5 s, looks (nothing committed yet) and sends it again; the
    # first then commits, and the second finds nothing left to commit.
    standin.add_environment("staging")
    standin.faults.append(Fault("slow", field="environmentPatchCommitStaged", delay=1.0))

    state = apply(client)

    assert_one_healthy_service(standin, state)


def test_lost_answer_of_domain_create_never_duplicates(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    standin.add_environment("staging")
    standin.faults.append(Fault("drop_after", field="customDomainCreate"))
    standin.faults.append(Fault("drop_after", field="serviceDomainCreate"))

    state = apply(client)

    assert_one_healthy_service(standin, state)


def test_outage_ends_with_one_line_that_says_what_to_do(
    standin: RailwayStandIn, client: RailwayClient, sleeps: Sleeps
) -> None:
    standin.add_environment("staging")
    standin.faults.append(Fault("500", times=100))

    with pytest.raises(RailwayError) as error:
        apply(client)

    message = str(error.value)
    assert "\n" not in message
    assert "after 4 attempts" in message
    assert "retry later" in message
    assert len(sleeps) == 3


@pytest.mark.parametrize(
    ("auth", "fix"),
    [
        (Auth("account", "Authorization", "Bearer wrong"), "RAILWAY_API_TOKEN"),
        (Auth("project", "Project-Access-Token", "wrong"), "RAILWAY_TOKEN"),
    ],
)
def test_rejected_token_names_the_variable_to_fix(
    standin: RailwayStandIn, auth: Auth, fix: str
) -> None:
    with (
        RailwayClient(standin.url, auth, max_attempts=2, sleep=lambda _s: None) as client,
        pytest.raises(RailwayError, match=f"check {fix}") as error,
    ):
        apply(client)
    assert "\n" not in str(error.value)
    assert standin.requests == 1  # a refused token is not retried


def test_graphql_error_is_one_line_without_secret_values(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    with pytest.raises(RailwayError, match="Project not found") as error:
        converge.apply(
            client,
            make_spec().model_copy(update={"project_id": "no-such-project"}),
            None,
            lambda _line: None,
        )
    assert "\n" not in str(error.value)
