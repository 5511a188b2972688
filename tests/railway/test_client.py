"""Client details a user would notice: which header carries which token, redaction, Retry-After."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from components.railway.client import (
    Auth,
    RailwayClient,
    RailwayError,
    Redactor,
    auth_from_env,
    parse_retry_after,
)

CANARY = "canary-7c1b2e"


def test_account_token_is_a_bearer_and_project_token_has_its_own_header() -> None:
    account = auth_from_env({"RAILWAY_API_TOKEN": "a"})
    project = auth_from_env({"RAILWAY_TOKEN": "p", "RAILWAY_API_TOKEN": "a"})
    assert (account.header, account.value) == ("Authorization", "Bearer a")
    assert (project.header, project.value) == ("Project-Access-Token", "p")


def test_no_token_names_both_variables() -> None:
    with pytest.raises(RailwayError, match=r"RAILWAY_API_TOKEN.*RAILWAY_TOKEN"):
        auth_from_env({})


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    assert parse_retry_after("3") == 3.0
    later = email.utils.formatdate(time.time() + 60, usegmt=True)
    parsed = parse_retry_after(later)
    assert parsed is not None
    assert 50 < parsed <= 60
    assert parse_retry_after(None) is None


def test_an_error_that_echoes_a_value_is_redacted() -> None:
    def answer(_request: httpx.Request) -> httpx.Response:
        message = f'Variable "$input" got invalid value "{CANARY}"'
        return httpx.Response(200, json={"errors": [{"message": message}]})

    auth = Auth("account", "Authorization", "Bearer t")
    with (
        RailwayClient(
            "http://railway.invalid/graphql/v2",
            auth,
            redact=Redactor([CANARY]),
            transport=httpx.MockTransport(answer),
        ) as client,
        pytest.raises(RailwayError) as error,
    ):
        client.mutate("mutation VariableCollectionUpsert { x }", {})
    assert CANARY not in str(error.value)
    assert "[secret]" in str(error.value)
