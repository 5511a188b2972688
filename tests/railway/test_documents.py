"""Every GraphQL document the tool can send is valid against Railway's real schema."""

from __future__ import annotations

import pytest
from graphql import GraphQLSchema, parse, validate

from components.railway import documents
from components.railway.client import RailwayClient, RailwayError
from tests.railway.standin import RailwayStandIn


@pytest.mark.parametrize("name", sorted(documents.ALL))
def test_document_is_valid_against_railways_schema(schema: GraphQLSchema, name: str) -> None:
    errors = validate(schema, parse(documents.ALL[name]))
    assert errors == [], f"{name}: {[e.message for e in errors]}"


def test_every_document_constant_is_listed() -> None:
    constants = [n for n, v in vars(documents).items() if n.isupper() and isinstance(v, str)]
    assert sorted(n for n in constants if not n.startswith("_")) == sorted(documents.ALL)


def test_requests_that_carry_values_are_documents() -> None:
    assert set(documents.ALL.values()) >= documents.CARRY_VALUES


@pytest.mark.e2e
def test_standin_refuses_what_the_schema_refuses(
    standin: RailwayStandIn, client: RailwayClient
) -> None:
    # The stand-in is a fair judge only if a misspelt field fails there as it would at Railway.
    bad = 'mutation ServiceCreate { serviceCreate(input: {projectId: "p", nam: "x"}) { id } }'
    with pytest.raises(RailwayError, match=r"Railway rejected ServiceCreate: .*nam"):
        client.mutate(bad, {})
    assert len(standin.rejected) == 1
    assert standin.mutations == []
