"""Railway services (backend, worker) roll back with Railway's `deploymentRollback`, to the
newest deployment that ran healthy *before the one that failed*, never to a release an earlier
automated rollback replaced. ("The deployment before the current one" is wrong after a
rollback: the current one is then the rollback's copy, and the one before it the bad release.)"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from components.railway import converge
from components.railway import documents as docs
from components.railway.client import AmbiguousError, RailwayClient, RailwayError, auth_from_env
from rollback.http import PermanentError, TransientError

# Statuses of a deployment that ran: SUCCESS serves now, REMOVED was replaced by a newer one,
# SLEEPING serves when woken (Railway's DeploymentStatus enum; the same set as
# `python -m components.railway rollback`).
RAN = ("SUCCESS", "REMOVED", "SLEEPING")


class RailwayRollback:
    def __init__(
        self, api_url: str, tokens: dict[str, str], project_id: str, environment: str
    ) -> None:
        self._url = api_url
        self._tokens = tokens  # RAILWAY_TOKEN / RAILWAY_API_TOKEN, as the CLI reads them
        self._project = project_id
        self._environment = environment

    def _client(self, timeout: float) -> RailwayClient:
        # One attempt per call: the executor retries the whole step within the strategy's
        # timeout, looking first so that a lost answer never rolls back twice.
        return RailwayClient(
            self._url, auth_from_env(self._tokens), timeout=timeout, max_attempts=1
        )

    def current(self, service: str, timeout: float) -> str | None:
        with self._client(timeout) as client:
            try:
                return _current(self._observe(client, service))
            except RailwayError as error:
                raise _classified(error) from None

    def rollback(
        self, service: str, before: str | None, avoid: frozenset[str], timeout: float
    ) -> str:
        with self._client(timeout) as client:
            try:
                observed = self._observe(client, service)
                current = _current(observed)
                if before is not None and current != before:
                    return f"{service} already at {current} (was {before})"
                if observed.environment_id is None or observed.service_id is None:
                    raise RailwayError(f"no service {service} in {self._environment}")
                listing = client.query(
                    docs.DEPLOYMENTS,
                    {
                        "input": {
                            "projectId": self._project,
                            "environmentId": observed.environment_id,
                            "serviceId": observed.service_id,
                        }
                    },
                )["deployments"]
                deployments = [edge["node"] for edge in listing["edges"]]
                target = target_of(deployments, before or current, avoid)
                if target is None:
                    raise PermanentError(
                        f"Railway: no deployment of {service} that ran before {before or current} "
                        "and was not rolled back from (Railway keeps deployments only for your "
                        "plan's retention)"
                    )
                client.mutate(docs.DEPLOYMENT_ROLLBACK, {"id": target})
            except RailwayError as error:
                raise _classified(error) from None
        return f"rolled {service} back to deployment {target} (from {before or current})"

    def _observe(self, client: RailwayClient, service: str) -> converge.Observed:
        return converge.observe(client, self._project, self._environment, service_name=service)


def _current(observed: converge.Observed) -> str | None:
    latest = observed.instance.get("latestDeployment") or {}
    current = latest.get("id")
    return current if isinstance(current, str) else None


def target_of(
    deployments: Iterable[Mapping[str, Any]], bad: str | None, avoid: frozenset[str]
) -> str | None:
    """The newest deployment created before `bad` that ran and may be rolled back to, that is
    neither `bad` nor one of `avoid`."""
    found = list(deployments)
    if bad is None:  # what serves is not known: the newest that serves is the bad one
        serving = [d for d in found if d.get("status") == "SUCCESS"]
        bad = max(serving, key=lambda d: d["createdAt"])["id"] if serving else None
    cutoff = next((d["createdAt"] for d in found if d["id"] == bad), None)
    candidates = [
        d
        for d in found
        if d["id"] != bad
        and d["id"] not in avoid
        and d.get("canRollback")
        and d.get("status") in RAN
        and (cutoff is None or d["createdAt"] < cutoff)
    ]
    newest = max(candidates, key=lambda d: d["createdAt"], default=None)
    return str(newest["id"]) if newest is not None else None


def _classified(error: RailwayError) -> Exception:
    text = str(error)
    if isinstance(error, AmbiguousError) or "still failing" in text or "HTTP 5" in text:
        return TransientError(f"Railway: {text}")
    return PermanentError(f"Railway: {text}")
