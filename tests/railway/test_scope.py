"""One environment at a time: a staging apply never changes production, a project token reads
and changes only its own environment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from components.railway import converge
from components.railway import documents as docs
from components.railway.client import Auth, RailwayClient, RailwayError
from components.railway.spec import Spec, State
from tests.railway.standin import ACCOUNT_TOKEN, PROJECT_ID, PROJECT_TOKEN, Fault, RailwayStandIn
from tests.railway.test_converge import make_spec

pytestmark = pytest.mark.e2e  # starts the Railway stand-in on 127.0.0.1

TOKENS = {
    "account": Auth("account", "Authorization", f"Bearer {ACCOUNT_TOKEN}"),
    "project": Auth("project", "Project-Access-Token", PROJECT_TOKEN),
}


@pytest.fixture
def two_environments(standin: RailwayStandIn) -> dict[str, str]:
    return {name: standin.add_environment(name) for name in ("staging", "production")}


@pytest.fixture
def project_client(standin: RailwayStandIn) -> Iterator[RailwayClient]:
    with RailwayClient(standin.url, TOKENS["project"], timeout=2, max_attempts=2) as made:
        yield made


def in_environment(spec: Spec, environment: str) -> Spec:
    return spec.model_copy(update={"environment": environment})


def run_apply(client: RailwayClient, spec: Spec, previous: State | None = None) -> State:
    return converge.apply(client, spec, previous, lambda _line: None)


def production_view(standin: RailwayStandIn, env_id: str, service_id: str) -> dict[str, Any]:
    return {
        "config": standin.service_config(env_id, service_id),
        "instance": standin.instance(env_id, service_id),
    }


def test_a_staging_apply_never_changes_production_settings(
    standin: RailwayStandIn, client: RailwayClient, two_environments: dict[str, str]
) -> None:
    production = run_apply(
        client,
        in_environment(
            make_spec(
                source={"repo": "fixture-owner/app", "branch": "main"},
                settings={"numReplicas": 3, "healthcheckPath": "/health", "region": "us-east4"},
                domains=["api.fixture.example.test"],
            ),
            "production",
        ),
    )
    before = production_view(standin, two_environments["production"], production.service_id)

    staging = run_apply(client, make_spec(settings={"numReplicas": 1, "startCommand": "run a"}))
    run_apply(
        client,
        make_spec(
            source={"image": "ghcr.io/fixture-owner/app:next"},
            settings={"numReplicas": 2, "startCommand": "run b", "region": "europe-west4"},
        ),
        staging,
    )

    assert staging.service_id == production.service_id  # one service, two instances
    after = production_view(standin, two_environments["production"], production.service_id)
    assert after == before
    assert before["config"]["source"] == {"repo": "fixture-owner/app", "branch": "main"}
    assert before["instance"]["numReplicas"] == 3
    assert standin.instance(two_environments["staging"], staging.service_id)["region"] == (
        "europe-west4"
    )


def test_the_standin_applies_service_instance_update_to_every_environment(
    standin: RailwayStandIn, client: RailwayClient, two_environments: dict[str, str]
) -> None:
    # The control for the test above: the mutation apply no longer sends, given staging's id,
    # changes production too, as Railway's schema describes it.
    state = run_apply(client, make_spec())
    run_apply(client, in_environment(make_spec(domains=["api.fixture.example.test"]), "production"))
    update = """
    mutation ServiceInstanceUpdate(
      $serviceId: String!, $environmentId: String, $input: ServiceInstanceUpdateInput!
    ) {
      serviceInstanceUpdate(serviceId: $serviceId, environmentId: $environmentId, input: $input)
    }
    """
    client.mutate(
        update,
        {
            "serviceId": state.service_id,
            "environmentId": two_environments["staging"],
            "input": {"startCommand": "staging only?"},
        },
    )

    production = standin.instance(two_environments["production"], state.service_id)
    assert production["startCommand"] == "staging only?"


def test_changes_someone_staged_stop_a_settings_change_before_anything_changes(
    standin: RailwayStandIn, client: RailwayClient, two_environments: dict[str, str]
) -> None:
    first = run_apply(client, make_spec())
    standin.world.staged[two_environments["staging"]] = 2
    standin.mutations.clear()

    assert run_apply(client, make_spec(), first) == first  # nothing to change: fine
    with pytest.raises(RailwayError, match="2 staged change") as error:
        run_apply(
            client,
            make_spec(settings={"numReplicas": 4}, variables={"LOG_LEVEL": "debug"}),
            first,
        )

    assert "\n" not in str(error.value)
    assert standin.mutations == []


@pytest.mark.parametrize("token", sorted(TOKENS))
def test_fresh_then_no_op_apply_with_either_token(
    standin: RailwayStandIn, two_environments: dict[str, str], token: str
) -> None:
    # The first apply creates the service, which only a token that sees the whole project may
    # do (test_a_service_another_environment_created_is_never_created_twice).
    with RailwayClient(standin.url, TOKENS["account"], timeout=2, max_attempts=2) as client:
        first = run_apply(client, make_spec())
    standin.mutations.clear()
    standin.queries.clear()
    standin.auth_headers.clear()
    with RailwayClient(standin.url, TOKENS[token], timeout=2, max_attempts=2) as client:
        second = run_apply(client, make_spec(), first)

    assert second == first
    assert standin.mutations == []
    assert len(standin.queries) <= 3
    observe = "ObserveTokenEnvironment" if token == "project" else "Observe"
    assert standin.queries == [observe, "ServiceState", "RunningDeployment"]
    assert set(standin.auth_headers) == {TOKENS[token].header}


def test_a_project_token_may_not_read_the_whole_project(
    standin: RailwayStandIn, project_client: RailwayClient, two_environments: dict[str, str]
) -> None:
    # Why apply asks a project token for its own environment only.
    with pytest.raises(RailwayError, match=r"Not Authorized.*RAILWAY_TOKEN"):
        project_client.query(docs.OBSERVE, {"projectId": PROJECT_ID})


def test_a_project_token_of_another_environment_is_refused_before_any_change(
    standin: RailwayStandIn, project_client: RailwayClient, two_environments: dict[str, str]
) -> None:
    standin.token_environment = "production"

    with pytest.raises(RailwayError, match="project token of environment production") as error:
        run_apply(project_client, make_spec())

    assert "\n" not in str(error.value)
    assert standin.mutations == []


def test_delete_with_a_project_token_keeps_the_service_it_cannot_see_elsewhere(
    standin: RailwayStandIn,
    client: RailwayClient,
    project_client: RailwayClient,
    two_environments: dict[str, str],
) -> None:
    state = run_apply(client, make_spec())
    lines: list[str] = []

    converge.delete(project_client, state, lines.append)

    assert list(standin.world.services) == [state.service_id]
    assert "serviceDelete" not in standin.mutations
    assert standin.world.variables[(state.environment_id, state.service_id)] == {}
    assert any("a project token cannot see" in line for line in lines)


@pytest.mark.usefixtures("two_environments")
def test_a_domain_removal_whose_answer_was_lost_is_looked_up_not_sent_again(
    standin: RailwayStandIn, client: RailwayClient, project_client: RailwayClient
) -> None:
    state = run_apply(client, make_spec())
    standin.faults.append(Fault("drop_after", field="customDomainDelete"))
    standin.faults.append(Fault("drop_after", field="serviceDomainDelete"))
    standin.mutations.clear()

    converge.delete(project_client, state, lambda _line: None, converge.Pace(sleep=lambda _s: None))

    assert standin.world.custom_domains == {}
    assert standin.world.service_domains == {}
    assert standin.mutations.count("customDomainDelete") == 1
    assert standin.mutations.count("serviceDomainDelete") == 1


@pytest.mark.parametrize("token", sorted(TOKENS))
def test_a_service_another_environment_created_is_never_created_twice(
    standin: RailwayStandIn,
    client: RailwayClient,
    two_environments: dict[str, str],
    token: str,
) -> None:
    # Production's stack made the service; staging has no instance of it yet.
    production = run_apply(
        client, in_environment(make_spec(domains=["api.fixture.example.test"]), "production")
    )
    standin.mutations.clear()

    with RailwayClient(standin.url, TOKENS[token], timeout=2, max_attempts=2) as staging_client:
        if token == "project":  # it cannot see production's service: it refuses, changing nothing
            with pytest.raises(RailwayError, match="RAILWAY_API_TOKEN") as refused:
                run_apply(staging_client, make_spec())
            assert "could make a second" in str(refused.value)
            assert standin.mutations == []
        staging = run_apply(client if token == "project" else staging_client, make_spec())

        # Once the service has an instance here (or its id is known), the project token goes on.
        again = run_apply(staging_client, make_spec(), staging)

    assert [s["name"] for s in standin.world.services.values()] == ["backend"]
    assert staging.service_id == production.service_id == again.service_id
    assert "serviceCreate" not in standin.mutations


def test_a_project_token_uses_the_service_id_its_last_run_printed(
    standin: RailwayStandIn,
    client: RailwayClient,
    project_client: RailwayClient,
    two_environments: dict[str, str],
) -> None:
    production = run_apply(
        client, in_environment(make_spec(domains=["api.fixture.example.test"]), "production")
    )
    bare = make_spec(domains=[], serviceDomain=False)
    staging = run_apply(client, bare)
    # Someone removed the service's instance from staging; production still runs it.
    standin.world.instances.pop((two_environments["staging"], staging.service_id))
    standin.world.configs[two_environments["staging"]]["services"].pop(staging.service_id)
    standin.mutations.clear()

    again = run_apply(project_client, bare, staging)

    assert "serviceCreate" not in standin.mutations
    assert list(standin.world.services) == [production.service_id]
    assert again.service_id == production.service_id
    assert (two_environments["staging"], production.service_id) in standin.world.instances
