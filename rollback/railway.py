"""Railway services (backend, worker) roll back with Railway's `deploymentRollback`, to the
newest deployment known healthy (seen serving when an incident had resolved, rollback.ledger)
*before the one that failed*, never to a release an earlier automated rollback replaced. ("The
deployment before the current one" is wrong after a rollback: the current one is then the
rollback's copy, and the one before it the bad release.)"""

from __future__ import annotations

import httpx

from components.railway import converge
from components.railway.client import (
    RailwayClient,
    RailwayError,
    RailwayUnavailable,
    auth_from_env,
)
from rollback.http import PermanentError, TransientError
from rollback.ledger import History


class RailwayRollback:
    def __init__(
        self,
        api_url: str,
        tokens: dict[str, str],
        project_id: str,
        environment: str,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = api_url
        self._tokens = tokens  # RAILWAY_TOKEN / RAILWAY_API_TOKEN, as the CLI reads them
        self._project = project_id
        self._environment = environment
        self._transport = transport

    def _client(self, timeout: float) -> RailwayClient:
        # One attempt per call: the executor retries the whole step within the strategy's
        # timeout, looking first so that a lost answer never rolls back twice.
        return RailwayClient(
            self._url,
            auth_from_env(self._tokens),
            timeout=timeout,
            max_attempts=1,
            transport=self._transport,
        )

    def current(self, service: str, timeout: float) -> str | None:
        """The deployment that serves, never a newer build in progress or one that failed."""
        with self._client(timeout) as client:
            try:
                return converge.serving(client, self._project, self._environment, service)
            except RailwayError as error:
                raise _classified(error) from None

    def rollback(self, service: str, before: str | None, known: History, timeout: float) -> str:
        with self._client(timeout) as client:
            try:
                # First: a deploy in flight would replace the rollback once online.
                cancelled = converge.cancel_in_flight(
                    client, self._project, self._environment, service
                )
                current = converge.serving(client, self._project, self._environment, service)
                if before is not None and current != before:
                    return f"{_cancelled(cancelled)}{service} already at {current} (was {before})"
                target = converge.rollback(
                    client,
                    self._project,
                    self._environment,
                    service,
                    bad=before or current,
                    avoid=known.avoid,
                    healthy=known.healthy,
                )
            except RailwayError as error:
                raise _classified(error) from None
        why = (
            "known healthy"
            if target in known.healthy
            else "the newest that ran before it: none of its older deployments was seen healthy"
        )
        return (
            f"{_cancelled(cancelled)}rolled {service} back to deployment {target} ({why}; from "
            f"{before or current})"
        )


def _cancelled(ids: list[str]) -> str:
    return f"cancelled the deployment(s) in flight {', '.join(ids)}; " if ids else ""


def _classified(error: RailwayError) -> Exception:
    # By type, never by text: RailwayUnavailable (5xx, 429, timeouts, an unknown outcome) may
    # pass; anything else Railway said will not.
    if isinstance(error, RailwayUnavailable):
        return TransientError(f"Railway: {error}")
    return PermanentError(f"Railway: {error}")
