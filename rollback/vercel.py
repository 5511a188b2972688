"""The Vercel frontend's rollback: promote the production deployment before the current one.

REST API (https://vercel.com/docs/rest-api): `GET /v9/projects/{id}` (`targets.production.id` is
the deployment serving production), `GET /v6/deployments?projectId=&target=production&state=READY`
(newest first, `uid` and `created`), `POST /v10/projects/{id}/promote/{deploymentId}` (201/202;
points the production domains at an existing deployment without rebuilding it),
`PATCH /v12/deployments/{id}/cancel` ("cancel a deployment which is currently building",
https://vercel.com/docs/rest-api/deployments/cancel-a-deployment).
"""

from __future__ import annotations

from typing import Any

import httpx

from components import tls
from rollback.http import PermanentError, TransientError, json_of, send

# The states of a deployment not yet ready (list deployments' `state` filter).
IN_FLIGHT = "BUILDING,INITIALIZING,QUEUED"


class VercelClient:
    def __init__(
        self,
        api_url: str,
        token: str,
        project_id: str,
        team_id: str | None,
        timeout: float,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._project = project_id
        self._team = {"teamId": team_id} if team_id else {}
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
            verify=tls.context(),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> VercelClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def current_production(self) -> str | None:
        what = "read the Vercel project"
        response = send(self._http, "GET", f"/v9/projects/{self._project}", what, params=self._team)
        if response.status_code == 404:
            raise PermanentError(f"{what}: project not found, check VERCEL_PROJECT_ID/TEAM_ID")
        production = (json_of(response, what).get("targets") or {}).get("production") or {}
        current = production.get("id")
        return current if isinstance(current, str) else None

    def production_deployments(self, state: str = "READY") -> list[dict[str, Any]]:
        """Newest first; `state`: Vercel's states, comma-separated."""
        what = "list Vercel production deployments"
        params = {
            "projectId": self._project,
            "target": "production",
            "state": state,
            "limit": "20",
            **self._team,
        }
        response = send(self._http, "GET", "/v6/deployments", what, params=params)
        deployments = json_of(response, what).get("deployments", [])
        return sorted(
            (d for d in deployments if isinstance(d, dict) and "uid" in d),
            key=lambda d: d.get("created", 0),
            reverse=True,
        )

    def promote(self, deployment_id: str) -> None:
        what = f"promote Vercel deployment {deployment_id}"
        response = send(
            self._http,
            "POST",
            f"/v10/projects/{self._project}/promote/{deployment_id}",
            what,
            params=self._team,
        )
        if response.status_code == 409:
            raise TransientError(f"{what}: HTTP 409, another promotion is in progress")
        if response.status_code >= 400:
            raise PermanentError(f"{what}: HTTP {response.status_code}")

    def cancel_in_flight(self) -> list[str]:
        """Cancel every production deployment still building: once ready it would take the
        production domains over from the rollback."""
        building = self.production_deployments(IN_FLIGHT)
        for deployment in building:
            what = f"cancel Vercel deployment {deployment['uid']}"
            path = f"/v12/deployments/{deployment['uid']}/cancel"
            response = send(self._http, "PATCH", path, what, params=self._team)
            if response.status_code >= 400:
                raise PermanentError(f"{what}: HTTP {response.status_code}")
        return [d["uid"] for d in building]

    def rollback(self, before: str | None, avoid: frozenset[str] = frozenset()) -> str:
        """Promote the newest READY production deployment older than `before` (the one serving
        when the alert came), never one of `avoid` (rolled back from earlier). If production
        already moved away from `before`, an earlier attempt landed: no-op. First, a deployment
        still building is cancelled."""
        cancelled = self.cancel_in_flight()
        said = (
            f"cancelled the deployment(s) in flight {', '.join(cancelled)}; " if cancelled else ""
        )
        current = self.current_production()
        if before is not None and current is not None and current != before:
            return f"{said}production already at {current} (was {before})"
        deployments = self.production_deployments()
        ids = [d["uid"] for d in deployments]
        bad = before or current
        older = deployments[ids.index(bad) + 1 :] if bad in ids else deployments[1:]
        older = [d for d in older if d["uid"] not in avoid]
        if not older:
            raise PermanentError("no earlier READY production deployment of the frontend")
        target: str = older[0]["uid"]
        self.promote(target)
        return f"{said}promoted {target} (was {current})"
