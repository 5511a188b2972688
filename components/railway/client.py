"""Railway GraphQL over HTTP: token from the environment, bounded retries, one-line errors."""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, quote_plus

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from components import tls
from components.railway import documents as docs

DEFAULT_URL = "https://backboard.railway.com/graphql/v2"


class RailwayError(Exception):
    """An error to show the user as one line that says what to fix. Callers sort errors by
    these types, never by their text."""


class TokenRefused(RailwayError):
    """Railway refused the token (HTTP 401/403 or a refusal in a GraphQL error): retrying with
    the same token cannot help."""


class RailwayRejected(RailwayError):
    """Railway answered, and refused the request or gave no data: retrying the same request
    will not help."""


class RailwayUnavailable(RailwayError):
    """Railway kept failing (5xx, 429, timeouts, dropped connections) through every attempt:
    worth trying again later."""


class AmbiguousError(RailwayUnavailable):
    """A non-idempotent mutation failed in a way that may or may not have applied it: look
    before trying again."""


class _Retry(Exception):
    """A failure worth retrying. `processed` is False only when Railway surely did nothing."""

    def __init__(self, reason: str, *, processed: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.processed = processed
        self.retry_after = retry_after


@dataclass(frozen=True)
class Auth:
    kind: Literal["account", "project"]
    header: str
    value: str

    @property
    def token(self) -> str:
        return self.value.removeprefix("Bearer ")

    def hint(self) -> str:
        if self.kind == "project":
            return (
                "check RAILWAY_TOKEN: it must be a project token of this project and environment; "
                "creating environments or services may need an account or workspace token "
                "in RAILWAY_API_TOKEN (and RAILWAY_TOKEN unset)"
            )
        return (
            "check RAILWAY_API_TOKEN: it must be an account or workspace token with access to "
            "this project (a project token goes in RAILWAY_TOKEN instead)"
        )


def auth_from_env(env: Mapping[str, str]) -> Auth:
    # Railway's CLI gives the project token precedence when both are set; so do we.
    if env.get("RAILWAY_TOKEN"):
        return Auth("project", "Project-Access-Token", env["RAILWAY_TOKEN"])
    if env.get("RAILWAY_API_TOKEN"):
        return Auth("account", "Authorization", f"Bearer {env['RAILWAY_API_TOKEN']}")
    raise RailwayError(
        "no Railway token: set RAILWAY_API_TOKEN (account/workspace token) or RAILWAY_TOKEN "
        "(project token) in the environment that runs `pulumi up`"
    )


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value.strip() else None
        return None if parsed is None else max(0.0, parsed.timestamp() - time.time())


class Redactor:
    """Masks every run of text that shares WINDOW or more characters with a secret (the token,
    secret variable values), as written, JSON-escaped or URL-encoded: a truncated or escaped
    echo is caught too. A secret shorter than WINDOW is masked where it appears whole."""

    WINDOW = 8

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms = {form for secret in secrets if secret for form in _written_forms(secret)}
        size = self.WINDOW
        self._short = sorted((f for f in forms if len(f) < size), key=len, reverse=True)
        self._windows = {f[i : i + size] for f in forms for i in range(len(f) - size + 1)}

    def __call__(self, text: str) -> str:
        size = self.WINDOW
        hidden = [False] * len(text)
        for start in range(len(text) - size + 1):
            if text[start : start + size] in self._windows:
                hidden[start : start + size] = [True] * size
        for secret in self._short:
            start = text.find(secret)
            while start >= 0:
                hidden[start : start + len(secret)] = [True] * len(secret)
                start = text.find(secret, start + 1)
        out, previous = [], False
        for char, hide in zip(text, hidden, strict=True):
            if not hide:
                out.append(char)
            elif not previous:
                out.append("[secret]")
            previous = hide
        return "".join(out)


def _written_forms(secret: str) -> tuple[str, ...]:
    return (secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret))


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")


def one_line(text: str, limit: int = 200) -> str:
    """The first non-blank line of `text`, without control characters (no terminal escapes),
    at most `limit` characters."""
    lines = [_CONTROL.sub(" ", line).strip() for line in text.splitlines()]
    first = next((line for line in lines if line), "")
    return first if len(first) <= limit else first[: limit - 1] + "…"


def describe_errors(errors: object, redact: Redactor, *, withhold: bool) -> str:
    """One line for a GraphQL `errors` member of any shape (a list of objects, an object, a
    string, objects without a message or with a message that is not a string...). A message is
    shown only as a string, on one line, redacted; `withhold` shows no message at all."""
    items = errors if isinstance(errors, list) else [errors]
    first = items[0] if items else None
    message = first if isinstance(first, str) else None
    code = None
    if isinstance(first, dict):
        message = first.get("message") if isinstance(first.get("message"), str) else None
        extensions = first.get("extensions")
        found = extensions.get("code") if isinstance(extensions, dict) else None
        if isinstance(found, str) and _CODE.match(found) and redact(found) == found:
            code = found
    if withhold:
        text = "message not shown: the request carried variable values"
    else:
        text = one_line(redact(message)) if message else ""
        text = text or "no message"
    more = f" (+{len(items) - 1} more)" if len(items) > 1 else ""
    return f"{text}{f' [{code}]' if code else ''}{more}"


@dataclass
class Counters:
    requests: int = 0
    queries: int = 0
    mutations: int = 0


class RailwayClient:
    def __init__(
        self,
        url: str,
        auth: Auth,
        *,
        timeout: float = 30.0,
        max_attempts: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        secrets: Iterable[str] = (),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._auth = auth
        self._http = httpx.Client(timeout=timeout, transport=transport, verify=tls.context())
        self._url = url
        self._max_attempts = max_attempts
        self._jitter = wait_exponential_jitter(initial=backoff, max=max_backoff, jitter=backoff)
        self._max_backoff = max_backoff
        self._sleep = sleep
        # The token and the secret values never reach a message, whatever Railway echoes.
        self.redact = Redactor([auth.token, *secrets])
        self.counters = Counters()

    @property
    def project_token(self) -> bool:
        """A project token reads and changes one environment only."""
        return self._auth.kind == "project"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RailwayClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def query(self, document: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        return self._execute(document, variables, mutation=False, idempotent=True)

    def mutate(
        self, document: str, variables: Mapping[str, Any], *, idempotent: bool = True
    ) -> dict[str, Any]:
        """A non-idempotent mutation is retried only when Railway surely did not process it;
        otherwise AmbiguousError lets the caller look before trying again."""
        return self._execute(document, variables, mutation=True, idempotent=idempotent)

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Retry) and error.retry_after is not None:
            return min(error.retry_after, self._max_backoff * 2)
        return float(self._jitter(state))

    def _execute(
        self, document: str, variables: Mapping[str, Any], *, mutation: bool, idempotent: bool
    ) -> dict[str, Any]:
        def retryable(error: BaseException) -> bool:
            return isinstance(error, _Retry) and (idempotent or not error.processed)

        retrying = Retrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            retry=retry_if_exception(retryable),
            sleep=self._sleep,
            reraise=True,
        )
        operation = _operation_name(document)
        try:
            result: dict[str, Any] = retrying(self._send_once, document, variables, mutation)
        except _Retry as error:
            if not idempotent and error.processed:
                raise AmbiguousError(f"{operation}: {error.reason}") from None
            raise RailwayUnavailable(
                f"Railway API still failing after {self._max_attempts} attempts of {operation} "
                f"({error.reason}); retry later and check https://status.railway.com"
            ) from None
        return result

    def _send_once(
        self, document: str, variables: Mapping[str, Any], mutation: bool
    ) -> dict[str, Any]:
        self.counters.requests += 1
        if mutation:
            self.counters.mutations += 1
        else:
            self.counters.queries += 1
        try:
            response = self._http.post(
                self._url,
                json={"query": document, "variables": dict(variables)},
                headers={self._auth.header: self._auth.value, "Content-Type": "application/json"},
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise _Retry(f"cannot connect: {type(error).__name__}", processed=False) from None
        except httpx.TimeoutException as error:
            raise _Retry(f"timed out: {type(error).__name__}", processed=True) from None
        except httpx.TransportError as error:
            raise _Retry(f"connection lost: {type(error).__name__}", processed=True) from None
        return self._handle(response, document)

    def _handle(self, response: httpx.Response, document: str) -> dict[str, Any]:
        operation = _operation_name(document)
        status = response.status_code
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise _Retry("HTTP 429 rate limited", processed=False, retry_after=retry_after)
        if status >= 500:
            raise _Retry(f"HTTP {status}", processed=True)
        if status in (401, 403):
            raise TokenRefused(f"Railway refused the token (HTTP {status}): {self._auth.hint()}")
        try:
            body = response.json()
        except (ValueError, RecursionError):
            # An HTML error page or a proxy's text: never shown, it may echo the request.
            kind = one_line(response.headers.get("Content-Type", ""), 60) or "no content type"
            raise RailwayRejected(
                f"Railway answered {operation} with HTTP {status} and no JSON ({kind}); "
                "check RAILWAY_API_URL points at the GraphQL endpoint"
            ) from None
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            text = describe_errors(errors, self.redact, withhold=document in docs.CARRY_VALUES)
            # Railway says "Not Authorized" in a GraphQL error (HTTP 200) to a token that may
            # not see what it asked for: the one place its words decide the type.
            if any(word in text.lower() for word in _REFUSED):
                raise TokenRefused(f"Railway refused {operation}: {text}; {self._auth.hint()}")
            raise RailwayRejected(f"Railway rejected {operation}: {text}")
        if status >= 400 or not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise RailwayRejected(f"Railway answered {operation} with HTTP {status} and no data")
        data: dict[str, Any] = body["data"]
        return data


_REFUSED = ("not authorized", "unauthorized", "unauthenticated", "forbidden")


def _operation_name(document: str) -> str:
    words = document.split()
    return words[1].split("(")[0] if len(words) > 1 else "request"
