"""Railway services (backend, worker) roll back through the same code as
`python -m components.railway rollback`: `converge.rollback` (Railway's `deploymentRollback`)."""

from __future__ import annotations

import httpx

from components.railway import converge
from components.railway.client import AmbiguousError, RailwayClient, RailwayError, auth_from_env
from rollback.http import PermanentError, TransientError


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
        with self._client(timeout) as client:
            try:
                observed = converge.observe(
                    client, self._project, self._environment, service_name=service
                )
            except RailwayError as error:
                raise _classified(error) from None
        latest = observed.instance.get("latestDeployment") or {}
        current = latest.get("id")
        return current if isinstance(current, str) else None

    def rollback(self, service: str, before: str | None, timeout: float) -> str:
        current = self.current(service, timeout)
        if before is not None and current != before:
            return f"{service} already at {current} (was {before})"
        with self._client(timeout) as client:
            try:
                target = converge.rollback(client, self._project, self._environment, service)
            except RailwayError as error:
                raise _classified(error) from None
        return f"rolled {service} back to deployment {target}"


def _classified(error: RailwayError) -> Exception:
    text = str(error)
    if isinstance(error, AmbiguousError) or "still failing" in text or "HTTP 5" in text:
        return TransientError(f"Railway: {text}")
    return PermanentError(f"Railway: {text}")
