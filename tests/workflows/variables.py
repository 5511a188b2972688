"""A stand-in for the one GitHub REST call the freeze gate makes: "Get an environment variable",
`GET /repos/{owner}/{repo}/environments/{environment_name}/variables/{name}`
(docs.github.com/rest/actions/variables#get-an-environment-variable). It answers 200 with
`{"name", "value", "created_at", "updated_at"}`, 404 for a variable that does not exist, 401 for
a request without the right bearer token (GitHub's answer to bad credentials), and `fail_status`
for every request while it is set (an outage). Every request is counted."""

from __future__ import annotations

import re
import threading
from typing import Any

from tests.monitoring.loopback import HttpStandIn, JsonReplies

TOKEN = "freeze-read-token-canary-3e7b"
REPOSITORY = "fixture-owner/app"
PATH = re.compile(rf"/repos/{REPOSITORY}/environments/([\w.-]+)/variables/(\w+)")
STAMP = "2024-01-01T00:00:00Z"


class Variables(HttpStandIn):
    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str] = {}  # (environment, name) -> value
        self.requests: list[str] = []
        self.fail_status: int | None = None
        # (request number, environment, name, value): from that request on, the variable has
        # that value, as when the rollback service sets the freeze while a deploy is under way.
        self.later: list[tuple[int, str, str, str]] = []
        self.lock = threading.Lock()
        standin = self

        class Handler(JsonReplies):
            def do_GET(self) -> None:
                with standin.lock:
                    standin.requests.append(self.path)
                    status, body = standin.answer(self.path, self.headers.get("Authorization"))
                self._reply(status, body)

        self._serve(Handler)

    def answer(self, path: str, authorization: str | None) -> tuple[int, Any]:
        for number, environment, name, value in self.later:
            if len(self.requests) >= number:
                self.values[(environment, name)] = value
        if self.fail_status is not None:
            return self.fail_status, {"message": "Server Error"}
        if authorization != f"Bearer {TOKEN}":
            return 401, {"message": "Bad credentials"}
        found = PATH.fullmatch(path)
        if not found or found.groups() not in self.values:
            return 404, {"message": "Not Found"}
        name = found.group(2)
        value = self.values[(found.group(1), name)]
        return 200, {"name": name, "value": value, "created_at": STAMP, "updated_at": STAMP}
