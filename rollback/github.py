"""The deploy freeze: a variable of the stack's GitHub environment that the deploy workflow
checks (`if: vars.DEPLOY_FREEZE != 'true'`). The service only ever sets it; a person lifts it.

REST API: `PATCH /repos/{owner}/{repo}/environments/{env}/variables/{name}` (204), and
`POST /repos/{owner}/{repo}/environments/{env}/variables` (201) when it does not exist yet.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx

from rollback.http import PermanentError, send

HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


class GitHubFreeze:
    def __init__(
        self,
        api_url: str,
        token: str,
        repository: str,
        environment: str,
        timeout: float,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._base = f"/repos/{repository}/environments/{quote(environment, safe='')}/variables"
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers={**HEADERS, "Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GitHubFreeze:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def set(self, name: str, value: str) -> str:
        """Upsert the variable; idempotent, so a retry after a lost answer is harmless."""
        what = f"set GitHub environment variable {name}"
        body = {"name": name, "value": value}
        response = send(self._http, "PATCH", f"{self._base}/{name}", what, json=body)
        if response.status_code == 404:
            response = send(self._http, "POST", self._base, what, json=body)
            if response.status_code == 409:  # created meanwhile: update it
                response = send(self._http, "PATCH", f"{self._base}/{name}", what, json=body)
        if response.status_code >= 400:
            raise PermanentError(f"{what}: HTTP {response.status_code}")
        return f"{name}={value}"
