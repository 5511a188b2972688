"""The rollback service acts on the deployment that serves, never on a newer one that is still
building or that failed: those never served, so "rolling back" from them would copy the bad
release that serves, or report a rollback that did not happen."""

from __future__ import annotations

from typing import Any

import pytest

from components.railway import converge
from components.railway.client import RailwayClient
from components.railway.plan import rollback_target, serving
from rollback.ledger import History
from rollback.railway import RailwayRollback
from tests.railway.standin import ACCOUNT_TOKEN, PROJECT_ID, RailwayStandIn, Rollout
from tests.railway.test_converge import CANARY, make_spec

# Generous: the stand-in on loopback answers at once unless the machine is busy; this test is about
# which deployment, not about time (2 s timed out under load 12).
TIMEOUT = 20

pytestmark = pytest.mark.e2e  # starts the Railway stand-in on 127.0.0.1


def _service(standin: RailwayStandIn, client: RailwayClient) -> tuple[str, str, str, str]:
    """A service that ran `good`, then `bad` (serving now), then a FAILED build and one that
    is still BUILDING: the ids (good, bad, failed, building)."""
    env_id = standin.add_environment("staging")
    first = converge.apply(client, make_spec(), None, lambda _line: None)
    changed = make_spec(variables={"DATABASE_URL": CANARY, "LOG_LEVEL": "debug"})
    second = converge.apply(client, changed, first, lambda _line: None)
    assert first.deployment_id is not None and second.deployment_id is not None
    standin.rollouts += [Rollout(("FAILED",)), Rollout(("BUILDING",))]
    failed = standin.deploy_source(env_id, second.service_id)
    building = standin.deploy_source(env_id, second.service_id)
    return first.deployment_id, second.deployment_id, failed, building


def _rollback(standin: RailwayStandIn) -> RailwayRollback:
    return RailwayRollback(standin.url, {"RAILWAY_API_TOKEN": ACCOUNT_TOKEN}, PROJECT_ID, "staging")


def test_the_deployment_serving_is_the_one_recorded_and_rolled_back_from(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    good, bad, failed, building = _service(standin, client)
    railway = _rollback(standin)

    before = railway.current("backend", timeout=TIMEOUT)
    said = railway.rollback("backend", before, History(), timeout=TIMEOUT)

    assert before == bad
    assert standin.world.rollbacks == [good]
    assert f"back to deployment {good}" in said
    assert standin.world.redeploys == []
    assert failed not in standin.world.rollbacks and building not in standin.world.rollbacks


def test_a_new_build_above_the_recorded_one_is_not_taken_for_the_rollback_done(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    good, bad, _failed, _building = _service(standin, client)

    said = _rollback(standin).rollback("backend", bad, History(), timeout=TIMEOUT)

    assert "already at" not in said
    assert standin.world.rollbacks == [good]


def _node(id: str, status: str, at: int) -> dict[str, Any]:
    return {
        "id": id,
        "status": status,
        "createdAt": f"2026-04-01T00:00:{at:02d}Z",
        "canRollback": True,
    }


@pytest.mark.parametrize("status", ["SUCCESS", "SLEEPING"])
def test_serving_is_the_newest_deployment_that_runs_or_sleeps(status: str) -> None:
    listing = [
        _node("old", "REMOVED", 1),
        _node("runs", status, 2),
        _node("failed", "FAILED", 3),
        _node("crashed", "CRASHED", 4),
        _node("building", "BUILDING", 5),
        _node("waiting", "NEEDS_APPROVAL", 6),
    ]
    assert serving(listing) == "runs"
    assert rollback_target(listing, None) == "old"
