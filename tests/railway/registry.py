"""A container registry stand-in on 127.0.0.1, as railway-deploy-image.sh reads GHCR: a pull
token from the token endpoint, then a manifest's HEAD and its Docker-Content-Digest.

- `GET /token?scope=repository:<name>:pull` with Basic auth whose password is the job's
  GITHUB_TOKEN answers `{"token": ...}`, a bearer token for that repository only (the Docker
  registry token flow GHCR answers: github.com/CopilotKit/CopilotKit pull 5239, a Basic
  `x-access-token:<token>` trade at https://ghcr.io/token).
- `HEAD /v2/<name>/manifests/<tag>` with that bearer: 200 and `Docker-Content-Digest` (OCI
  distribution spec, spec.md "Checking if content exists in the registry"); 401 with a Bearer
  challenge without it; 404 for an unknown tag. The manifests here are image indexes (what Buildx
  pushes with its attestations): a client whose Accept names no index type gets 404, as GHCR
  answers "OCI index found, but Accept header does not support OCI indexes"
  (github.com/Mic92/niks3 issue 229).
"""

from __future__ import annotations

import base64
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


class RegistryStandIn:
    def __init__(self, github_token: str) -> None:
        self.github_token = github_token
        # (name, tag) -> the digests the tag points at on each read, the last one from then on:
        # [built, other] is a tag someone pushed over between the first read and the second.
        self.tags: dict[tuple[str, str], list[str]] = {}
        self.reads: list[tuple[str, str]] = []  # the manifests read, in order
        self.headers_seen: list[dict[str, str]] = []
        self._tokens: dict[str, str] = {}  # bearer token -> the repository it pulls
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def push(self, name: str, tag: str, *digests: str) -> None:
        self.tags[(name, tag)] = list(digests)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> RegistryStandIn:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                registry._answer(self, head=False)

            def do_HEAD(self) -> None:
                registry._answer(self, head=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler, *, head: bool) -> None:
        url = urlsplit(handler.path)
        with self._lock:
            self.headers_seen.append(dict(handler.headers.items()))
            if not head and url.path == "/token":
                status, headers, body = self._token(handler, parse_qs(url.query))
            elif head and url.path.startswith("/v2/") and "/manifests/" in url.path:
                name, tag = url.path[len("/v2/") :].rsplit("/manifests/", 1)
                status, headers, body = self._manifest(handler, name, tag)
            else:
                status, headers, body = 404, {}, b""
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if not head:
            handler.wfile.write(body)

    def _token(
        self, handler: BaseHTTPRequestHandler, query: dict[str, list[str]]
    ) -> tuple[int, dict[str, str], bytes]:
        auth = handler.headers.get("Authorization", "")
        expected = base64.b64encode(f"x-access-token:{self.github_token}".encode()).decode()
        scope = query.get("scope", [""])[0]
        if auth != f"Basic {expected}" or not (
            scope.startswith("repository:") and scope.endswith(":pull")
        ):
            return 401, {}, b'{"errors":[{"code":"UNAUTHORIZED"}]}'
        token = secrets.token_hex(16)
        self._tokens[token] = scope[len("repository:") : -len(":pull")]
        return 200, {"Content-Type": "application/json"}, f'{{"token":"{token}"}}'.encode()

    def _manifest(
        self, handler: BaseHTTPRequestHandler, name: str, tag: str
    ) -> tuple[int, dict[str, str], bytes]:
        auth = handler.headers.get("Authorization", "")
        if self._tokens.get(auth.removeprefix("Bearer ")) != name:
            challenge = f'Bearer realm="{self.url}/token",scope="repository:{name}:pull"'
            return 401, {"WWW-Authenticate": challenge}, b""
        digests = self.tags.get((name, tag))
        accepted = ",".join(handler.headers.get_all("Accept") or [])
        if not digests or not any(t in accepted for t in INDEX_TYPES):
            return 404, {}, b""
        self.reads.append((name, tag))
        digest = digests.pop(0) if len(digests) > 1 else digests[0]
        return 200, {"Docker-Content-Digest": digest, "Content-Type": INDEX_TYPES[0]}, b""
