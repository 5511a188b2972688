"""Client details a user would notice: which header carries which token, Retry-After, and that
an error of any shape ends in one line that holds no token and no secret value."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.railway import documents as docs
from components.railway.client import (
    Auth,
    RailwayClient,
    RailwayError,
    Redactor,
    auth_from_env,
    parse_retry_after,
)

CANARY = 'canary-7c1b2e"\\é-value'  # quotes, a backslash and non-ASCII: JSON escapes them
TOKEN = "token-3f9a1c7e-5b2d-4e8f-a6c0-d1e2f3a4b5c6"
WINDOW = Redactor.WINDOW


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


def leaks(text: str, secret: str) -> bool:
    """Whether `text` shows WINDOW or more characters of `secret` in any written form."""
    forms = (secret, json.dumps(secret)[1:-1], secret.encode("unicode_escape").decode())
    return any(
        form[i : i + WINDOW] in text for form in forms for i in range(len(form) - WINDOW + 1)
    )


def test_redactor_masks_whole_truncated_and_escaped_secrets() -> None:
    redact = Redactor([CANARY, TOKEN, "short"])
    text = (
        f"a {CANARY} b {json.dumps(CANARY)} c {TOKEN[:12]}… d {TOKEN[-9:]} "
        f"e {httpx.QueryParams({'v': CANARY})} f short g"
    )
    masked = redact(text)
    assert not leaks(masked, CANARY)
    assert not leaks(masked, TOKEN)
    assert "short" not in masked
    assert masked.startswith("a [secret] b")
    assert masked.endswith("f [secret] g")


def failing_client(answer: httpx.Response) -> RailwayClient:
    return RailwayClient(
        "http://railway.invalid/graphql/v2",
        Auth("account", "Authorization", f"Bearer {TOKEN}"),
        secrets=[CANARY],
        max_attempts=2,
        sleep=lambda _s: None,
        transport=httpx.MockTransport(lambda _request: answer),
    )


def error_line(answer: httpx.Response, document: str = docs.DOMAINS) -> str:
    with failing_client(answer) as client, pytest.raises(RailwayError) as error:
        client.query(document, {})
    message = str(error.value)
    assert "\n" not in message
    assert not leaks(message, CANARY)
    assert not leaks(message, TOKEN)
    return message


def json_answer(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


def raw(body: str | bytes, content_type: str, status: int = 200) -> httpx.Response:
    data = body.encode() if isinstance(body, str) else body
    return httpx.Response(status, content=data, headers={"Content-Type": content_type})


ERROR_SHAPES = {
    "message echoes a value": (
        json_answer({"errors": [{"message": f'Variable "$input" got invalid value "{CANARY}"'}]}),
        "got invalid value",
    ),
    "message echoes the token": (
        json_answer({"errors": [{"message": f"Invalid token {TOKEN}"}]}),
        "Invalid token [secret]",
    ),
    "JSON-escaped value": (
        json_answer({"errors": [{"message": f"bad {json.dumps(CANARY)}"}]}),
        "bad",
    ),
    "truncated token": (json_answer({"errors": [{"message": f"token {TOKEN[:15]}..."}]}), "token"),
    "no message": (
        json_answer({"errors": [{"extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}),
        "no message [INTERNAL_SERVER_ERROR]",
    ),
    "message not a string": (json_answer({"errors": [{"message": {"v": CANARY}}]}), "no message"),
    "errors as a string": (json_answer({"errors": f"denied for {TOKEN}"}), "denied for"),
    "errors as an object": (json_answer({"errors": {"message": f"x {CANARY}"}}), "rejected"),
    "nested extensions": (
        json_answer(
            {
                "errors": [
                    {
                        "message": "Problem processing request",
                        "extensions": {"code": f"X{TOKEN[6:14]}", "exception": {"trace": [CANARY]}},
                    },
                    {"message": CANARY},
                ]
            }
        ),
        "Problem processing request (+1 more)",
    ),
    "multi-line message": (
        json_answer({"errors": [{"message": f"\n\x1b[31mfirst\x1b[0m\n{CANARY}"}]}),
        "[31mfirst [0m",
    ),
    "HTML error page": (
        raw(f"<html><body>Bad gateway {CANARY} {TOKEN}</body></html>", "text/html", 400),
        "no JSON (text/html)",
    ),
    "text body": (raw(f"upstream error {TOKEN}", "text/plain"), "no JSON (text/plain)"),
    "not UTF-8": (raw(b"\xff\xfe\xfa" + CANARY.encode(), "application/json"), "no JSON"),
    "too deep to parse": (raw("[" * 100_000, "application/json"), "no JSON"),
    "JSON that is a list": (json_answer([CANARY]), "no data"),
    "JSON that is a string": (json_answer(f"{TOKEN}"), "no data"),
    "no data, no errors": (json_answer({"data": None}), "no data"),
    "empty errors, no data": (json_answer({"errors": [], "data": None}), "no data"),
    "404 with errors": (
        json_answer({"errors": [{"message": f"Not found: {CANARY}"}]}, 404),
        "Not found:",
    ),
    "refusal in the message": (
        json_answer({"errors": [{"message": f"Not Authorized {TOKEN}"}]}),
        "check RAILWAY_API_TOKEN",
    ),
    "HTML 502": (raw(f"<html>{TOKEN}</html>", "text/html", 502), "still failing"),
}


@pytest.mark.parametrize("shape", sorted(ERROR_SHAPES))
def test_every_error_shape_is_one_line_without_token_or_value(shape: str) -> None:
    answer, shown = ERROR_SHAPES[shape]
    assert shown in error_line(answer)


def test_an_error_answering_a_request_with_values_never_shows_its_message() -> None:
    plain = "plain-value-of-a-config-file"  # not secret, yet a variable value
    answer = json_answer({"errors": [{"message": f"invalid value {plain}"}]})
    with failing_client(answer) as client, pytest.raises(RailwayError) as error:
        client.mutate(docs.ENVIRONMENT_STAGE_CHANGES, {"input": {"services": {"A": plain}}})
    assert plain not in str(error.value)
    assert "message not shown: the request carried variable values" in str(error.value)


_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=12),
    st.sampled_from(
        [
            CANARY,
            TOKEN,
            json.dumps(CANARY)[1:-1],
            CANARY[:WINDOW],
            TOKEN[3:20],
            f"Bearer {TOKEN}",
            f"line\n{CANARY}",
        ]
    ),
)
_keys = st.sampled_from(["message", "errors", "data", "extensions", "code", "path", "x"])
_json = st.recursive(
    _leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=16,
)


@settings(max_examples=300, deadline=None)
@given(
    body=st.one_of(_json, st.builds(lambda e: {"errors": e}, _json)),
    status=st.sampled_from([200, 400, 404, 409, 422]),
    carries_values=st.booleans(),
)
def test_no_error_shape_shows_a_secret_or_crashes(
    body: Any, status: int, carries_values: bool
) -> None:
    document = docs.SERVICE_STATE if carries_values else docs.DOMAINS
    with failing_client(json_answer(body, status)) as client:
        try:
            client.query(document, {})
        except RailwayError as error:
            message = str(error)
            assert "\n" not in message
            assert not leaks(message, CANARY)
            assert not leaks(message, TOKEN)
