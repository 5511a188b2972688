"""tools.railway_schema fetches the schema a runner without ../shared validates against."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema, print_schema

from components.railway.client import Auth, RailwayClient
from tests.railway.standin import ACCOUNT_TOKEN, RailwayStandIn
from tools import railway_schema


def test_introspection_gives_back_the_same_schema(
    standin: RailwayStandIn, schema: GraphQLSchema
) -> None:
    auth = Auth("account", "Authorization", f"Bearer {ACCOUNT_TOKEN}")
    with RailwayClient(standin.url, auth, timeout=5) as client:
        sdl = railway_schema.fetch(client)
    assert print_schema(build_schema(sdl, assume_valid=True)) == print_schema(schema)


def test_cli_writes_the_schema_file(
    standin: RailwayStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAILWAY_API_URL", standin.url)
    monkeypatch.setenv("RAILWAY_API_TOKEN", ACCOUNT_TOKEN)
    monkeypatch.delenv("RAILWAY_TOKEN", raising=False)
    out = tmp_path / "railway.graphql"
    assert railway_schema.main(["--out", str(out)]) == 0
    assert "type Query" in out.read_text()
