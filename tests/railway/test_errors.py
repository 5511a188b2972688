"""Railway errors are typed: a caller (the rollback service) sorts them by type, never by the
words Railway or our client put in them."""

from __future__ import annotations

import json

import pytest

from rollback.http import PermanentError, TransientError
from rollback.railway import RailwayRollback
from tests.railway.standin import ACCOUNT_TOKEN, PROJECT_ID, Answer, Fault, RailwayStandIn

pytestmark = pytest.mark.e2e  # starts the Railway stand-in on 127.0.0.1


def rollback_of(standin: RailwayStandIn, token: str = ACCOUNT_TOKEN) -> RailwayRollback:
    return RailwayRollback(standin.url, {"RAILWAY_API_TOKEN": token}, PROJECT_ID, "staging")


def refusal(message: str) -> Answer:
    return Answer(200, json.dumps({"errors": [{"message": message}], "data": None}).encode())


CASES = {
    "Railway down (5xx)": (Fault("500", field="project"), TransientError),
    "rate limited (429)": (Fault("429", field="project", retry_after="0"), TransientError),
    "the connection dropped": (Fault("drop", field="project"), TransientError),
    # Worded like a transient failure, yet Railway answered and refused: it stays refused.
    "a refusal that reads like an outage": (
        Fault("answer", field="project", answer=refusal("upstream HTTP 503, still failing")),
        PermanentError,
    ),
    "a refusal": (
        Fault("answer", field="project", answer=refusal("Project not found")),
        PermanentError,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_rollback_service_sorts_railway_errors_by_type(
    standin: RailwayStandIn, case: str
) -> None:
    standin.add_environment("staging")
    fault, kind = CASES[case]
    standin.faults.append(fault)

    with pytest.raises(kind) as raised:
        rollback_of(standin).rollback("backend", None, frozenset(), timeout=2)

    assert "\n" not in str(raised.value)


def test_a_refused_token_and_a_missing_service_are_permanent(standin: RailwayStandIn) -> None:
    standin.add_environment("staging")
    with pytest.raises(PermanentError, match="RAILWAY_API_TOKEN"):
        rollback_of(standin, token="wrong").rollback("backend", None, frozenset(), timeout=2)
    with pytest.raises(PermanentError, match="no service backend"):
        rollback_of(standin).rollback("backend", None, frozenset(), timeout=2)
