"""What the platform clients share: one request, its failure sorted into retry or give up."""

from __future__ import annotations

from typing import Any

import httpx


class SharedTransport(httpx.HTTPTransport):
    """One connection pool for every call to the platforms, with the process's TLS context
    (`components.tls`). Each call still makes its own client, whose timeout is what is left of
    the strategy's, but building a TLS context (the CA bundle read and parsed, about 25 ms) for
    each of the half a dozen calls of an immediate rollback was most of the service's reaction
    time."""

    def close(self) -> None:
        """A client made for one call closes its transport: this one outlives it, as long as
        the process (the service, or one manual rollback)."""


class PermanentError(Exception):
    """Retrying will not help (bad token, missing project, nothing to roll back to)."""


class TransientError(Exception):
    """Worth another attempt while the strategy's timeout allows."""


def send(client: httpx.Client, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
    """One request; transport failures and 429/5xx are transient, other 4xx permanent.
    Messages name the operation and status, never a header or a body (they may hold tokens)."""
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TransportError as error:
        raise TransientError(f"{what}: {type(error).__name__}") from None
    status = response.status_code
    if status == 429 or status >= 500:
        raise TransientError(f"{what}: HTTP {status}")
    if status in (401, 403):
        raise PermanentError(f"{what}: HTTP {status}, the token is refused or lacks the scope")
    return response


def json_of(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise PermanentError(f"{what}: HTTP {response.status_code} without JSON") from None
    if not isinstance(body, dict):
        raise PermanentError(f"{what}: unexpected answer")
    return body
