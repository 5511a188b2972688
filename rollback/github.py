"""GitHub, as far as the rollback service uses it: the deploy freeze and its reason, variables of
the stack's GitHub environment that the deploy workflow's freeze gate reads, and one issue per
service level objective for the slow burns (tickets). The service only ever sets the freeze; a
person lifts it.

REST API (https://docs.github.com/rest, version 2022-11-28):
- "Get an environment variable", `GET /repos/{owner}/{repo}/environments/{env}/variables/{name}`:
  200 with `name`, `value`, `created_at`, `updated_at` (ISO 8601, `YYYY-MM-DDTHH:MM:SSZ`), 404
  when it does not exist (docs.github.com/rest/actions/variables#get-an-environment-variable);
- "Update an environment variable", `PATCH .../variables/{name}` (204), and "Create an
  environment variable", `POST .../variables` (201), when it does not exist yet;
- "List repository issues", `GET /repos/{owner}/{repo}/issues?state=open&per_page=100&page=N`:
  pull requests are issues there too, told apart by their `pull_request` key; at most 100 a page
  (docs.github.com/rest/issues/issues#list-repository-issues);
- "Create an issue", `POST /repos/{owner}/{repo}/issues` (201, with its `number`); "Update an
  issue", `PATCH /repos/{owner}/{repo}/issues/{number}` with `body`, `state` (open, closed) and
  `state_reason` (completed) (docs.github.com/rest/issues/issues#update-an-issue).
Labels are not relied on: a new issue's labels are "silently dropped" unless the token may push
(Create an issue), and whether a missing label is created is not documented. An objective's issue
is found by a marker in its title instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self
from urllib.parse import quote

import httpx

from components import tls
from rollback.http import PermanentError, json_of, send

HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
ISSUE_PAGES = 10  # open issues looked through for an objective's marker: 1,000, newest first


@dataclass(frozen=True)
class Variable:
    value: str
    updated_at: str


class _GitHub:
    def __init__(
        self,
        api_url: str,
        token: str,
        timeout: float,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers={**HEADERS, "Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
            verify=tls.context(),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class GitHubFreeze(_GitHub):
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
        super().__init__(api_url, token, timeout, transport=transport)
        self._base = f"/repos/{repository}/environments/{quote(environment, safe='')}/variables"

    def get(self, name: str) -> Variable | None:
        what = f"read GitHub environment variable {name}"
        response = send(self._http, "GET", f"{self._base}/{name}", what)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise PermanentError(f"{what}: HTTP {response.status_code}")
        body = json_of(response, what)
        return Variable(str(body.get("value", "")), str(body.get("updated_at", "")))

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


class GitHubIssues(_GitHub):
    """One open issue per marker: opened, updated while it fires, closed when it recovers."""

    def __init__(
        self,
        api_url: str,
        token: str,
        repository: str,
        timeout: float,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(api_url, token, timeout, transport=transport)
        self._base = f"/repos/{repository}/issues"

    def find(self, marker: str) -> int | None:
        """The open issue (not a pull request) whose title holds `marker`."""
        what = "list open GitHub issues"
        for page in range(1, ISSUE_PAGES + 1):
            params = {"state": "open", "per_page": "100", "page": str(page)}
            response = send(self._http, "GET", self._base, what, params=params)
            if response.status_code != 200:
                raise PermanentError(f"{what}: HTTP {response.status_code}")
            issues = response.json()
            if not isinstance(issues, list):
                raise PermanentError(f"{what}: unexpected answer")
            for issue in issues:
                if "pull_request" not in issue and marker in str(issue.get("title", "")):
                    return int(issue["number"])
            if len(issues) < 100:
                return None
        return None

    def open_or_update(self, marker: str, title: str, body: str) -> str:
        number = self.find(marker)
        if number is None:
            what = "create a GitHub issue"
            fields = {"title": title, "body": body}
            response = send(self._http, "POST", self._base, what, json=fields)
            if response.status_code != 201:
                raise PermanentError(f"{what}: HTTP {response.status_code}")
            return f"opened issue #{json_of(response, what).get('number')}"
        self._update(number, {"body": body})
        return f"updated issue #{number}"

    def close_issue(self, marker: str, body: str) -> str:
        number = self.find(marker)
        if number is None:
            return "no open issue to close"
        self._update(number, {"body": body, "state": "closed", "state_reason": "completed"})
        return f"closed issue #{number}"

    def _update(self, number: int, fields: dict[str, str]) -> None:
        what = f"update GitHub issue #{number}"
        response = send(self._http, "PATCH", f"{self._base}/{number}", what, json=fields)
        if response.status_code != 200:
            raise PermanentError(f"{what}: HTTP {response.status_code}")
