"""Vercel and GitHub stand-ins on 127.0.0.1 that record every call and can fail on request,
and a harness that runs the rollback service under uvicorn in a thread. Used by the tests and
by benchmarks/rollback_latency.py."""

from __future__ import annotations

import contextlib
import copy
import functools
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import uvicorn
from graphql import GraphQLSchema

from components import tls
from components.railway import converge
from components.railway.client import Auth, RailwayClient
from rollback.app import create_app
from rollback.http import PermanentError
from rollback.ledger import History
from rollback.service import Service
from tests.monitoring.loopback import LOOPBACK, HttpStandIn, Inbox, Quiet, free_port
from tests.railway.standin import ACCOUNT_TOKEN, PROJECT_ID, RailwayStandIn
from tests.railway.test_converge import make_spec

VERCEL_TOKEN = "vercel-token-for-tests"
GITHUB_TOKEN = "github-token-for-tests"
VERCEL_PROJECT = "prj_frontend"


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    arrived: float  # time.monotonic()


@dataclass
class Hold:
    """Holds the first call matching `method` and `pattern` until `release` is set: before it is
    answered, or with `after`, once it is answered (and applied) but before the answer goes."""

    method: str
    pattern: str
    after: bool = False
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def matches(self, call: Call) -> bool:
        return _is(call, self.method, self.pattern)

    def wait(self) -> None:
        self.reached.set()
        self.release.wait(timeout=60)


@dataclass
class StandIn(HttpStandIn):
    """Base: records calls; `fail_next` answers that many calls with `fail_status`; `hold`
    holds one call (see Hold)."""

    token: str
    inbox: Inbox[Call] = field(default_factory=Inbox)
    fail_next: int = 0
    fail_status: int = 500
    hold: Hold | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def calls(self) -> list[Call]:
        return self.inbox.received

    def start(self) -> StandIn:
        standin = self

        class Handler(Quiet):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                call = Call(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    json.loads(raw) if raw else None,
                    time.monotonic(),
                )
                with standin.lock:
                    hold, standin.hold = standin.hold, None
                    if hold is not None and not hold.matches(call):
                        hold, standin.hold = None, hold
                if hold is not None and not hold.after:
                    hold.wait()
                if self.headers.get("Authorization") != f"Bearer {standin.token}":
                    status, payload = 401, {"error": "unauthorized"}
                else:
                    with standin.lock:
                        failing = standin.fail_next > 0
                        standin.fail_next -= failing
                    if failing:
                        status, payload = standin.fail_status, {"error": "injected"}
                    else:
                        status, payload = standin.answer(call)
                standin.inbox.add(call)
                if hold is not None and hold.after:
                    hold.wait()
                data = json.dumps(payload).encode() if payload is not None else b""
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # caller killed
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _any

        self._serve(Handler)
        return self

    def stop(self) -> None:
        self.close()

    def answer(self, call: Call) -> tuple[int, Any]:
        raise NotImplementedError

    def wait_for(self, method: str, pattern: str, timeout: float) -> Call:
        return self.inbox.wait_for(lambda c: _is(c, method, pattern), timeout)

    def matching(self, method: str, pattern: str) -> list[Call]:
        with self.inbox.changed:
            return [c for c in self.calls if _is(c, method, pattern)]


def _is(call: Call, method: str, pattern: str) -> bool:
    return call.method == method and re.fullmatch(pattern, call.path) is not None


@dataclass
class VercelStandIn(StandIn):
    """Three READY production deployments, dpl_3 serving; promote moves production. List
    deployments filters on `state`, comma-separated ("Filter deployments based on their state",
    vercel.com/docs/rest-api/deployments/list-deployments); cancel stops one "currently building"
    (vercel.com/docs/rest-api/deployments/cancel-a-deployment): CANCELED; anything else is
    refused (the hardest reading: a race is an error). `finish_builds` is Vercel going on: a
    production deployment that gets READY takes the production domains (its default)."""

    token: str = VERCEL_TOKEN
    deployments: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"uid": f"dpl_{n}", "created": 1_000 * n, "target": "production", "state": "READY"}
            for n in (1, 2, 3)
        ]
    )
    production: str = "dpl_3"

    def answer(self, call: Call) -> tuple[int, Any]:
        project = f"/v9/projects/{VERCEL_PROJECT}"
        if call.method == "GET" and call.path == project:
            return 200, {"id": VERCEL_PROJECT, "targets": {"production": {"id": self.production}}}
        if call.method == "GET" and call.path == "/v6/deployments":
            if call.query.get("projectId") != [VERCEL_PROJECT]:
                return 400, {"error": "projectId"}
            states = (call.query.get("state") or [""])[0].split(",")
            found = [d for d in self.deployments if states == [""] or d["state"] in states]
            newest_first = sorted(found, key=lambda d: -d["created"])
            return 200, {"deployments": newest_first, "pagination": {"count": len(found)}}
        cancel = re.fullmatch(r"/v12/deployments/(\w+)/cancel", call.path)
        if call.method == "PATCH" and cancel:
            [deployment] = [d for d in self.deployments if d["uid"] == cancel.group(1)]
            if deployment["state"] not in ("BUILDING", "INITIALIZING", "QUEUED"):
                return 400, {"error": {"code": "deployment_not_cancelable"}}
            deployment["state"] = "CANCELED"
            return 200, {"id": deployment["uid"], "readyState": "CANCELED"}
        promote = re.fullmatch(rf"/v10/projects/{VERCEL_PROJECT}/promote/(\w+)", call.path)
        if call.method == "POST" and promote:
            self.production = promote.group(1)
            return 201, {}
        return 404, {"error": "not found"}

    def finish_builds(self) -> None:
        for deployment in self.deployments:
            if deployment["state"] in ("BUILDING", "INITIALIZING", "QUEUED"):
                deployment["state"] = "READY"
                self.production = deployment["uid"]

    def promotions(self) -> list[str]:
        return [c.path.rsplit("/", 1)[1] for c in self.matching("POST", r".*/promote/\w+")]


@dataclass
class GitHubStandIn(StandIn):
    """One repository (fixture-owner/app): its environments' variables (the freeze is DEPLOY_FREEZE,
    its reason DEPLOY_FREEZE_REASON) and its issues, as GitHub's REST API documents them
    (docs.github.com/rest, version 2022-11-28):
    - "Get an environment variable": 200 `{name, value, created_at, updated_at}` (ISO 8601 to the
      second), 404 when missing (docs.github.com/rest/actions/variables#get-an-environment-
      variable); "Update an environment variable" PATCH 204, 404 when missing; "Create an
      environment variable" POST 201, 409 when it exists (what rollback.github expects of it);
    - "List repository issues": pull requests come back too, with a `pull_request` key; `state`
      open (the default) or closed or all; `per_page` at most 100, default 30; `page` from 1
      (docs.github.com/rest/issues/issues#list-repository-issues); "Create an issue" 201 with
      its `number` (pull requests and issues share numbers); "Update an issue" 200, `state`
      open or closed, `state_reason` completed, not_planned or reopened
      (docs.github.com/rest/issues/issues#update-an-issue)."""

    token: str = GITHUB_TOKEN
    variables: dict[str, dict[str, str]] = field(default_factory=dict)  # env -> name -> value
    stamps: dict[tuple[str, str], str] = field(default_factory=dict)  # (env, name) -> updated_at
    issues: list[dict[str, Any]] = field(default_factory=list)  # and pull requests, by number
    clock: Callable[[], float] = time.time

    def put(self, environment: str, name: str, value: str, updated_at: str | None = None) -> None:
        """As if someone set the variable (by hand, `gh variable set`), at `updated_at`."""
        self.variables.setdefault(environment, {})[name] = value
        self.stamps[(environment, name)] = updated_at or self._now()

    def _now(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock()))

    def answer(self, call: Call) -> tuple[int, Any]:
        variable = re.fullmatch(
            r"/repos/fixture-owner/app/environments/(\w+)/variables(?:/(\w+))?", call.path
        )
        if variable:
            return self._variable(call, *variable.groups())
        issue = re.fullmatch(r"/repos/fixture-owner/app/issues(?:/([0-9]+))?", call.path)
        if issue:
            return self._issue(call, issue.group(1))
        return 404, {"message": "Not Found"}

    def _variable(self, call: Call, env: str, name: str | None) -> tuple[int, Any]:
        table = self.variables.setdefault(env, {})
        if call.method == "GET" and name:
            if name not in table:
                return 404, {"message": "Not Found"}
            stamp = self.stamps[(env, name)]
            return 200, {"name": name, "value": table[name], "created_at": stamp,
                         "updated_at": stamp}  # fmt: skip
        if call.method == "PATCH" and name:
            if name not in table:
                return 404, {"message": "Not Found"}
            self.put(env, name, call.body["value"])
            return 204, None
        if call.method == "POST" and not name:
            if call.body["name"] in table:
                return 409, {"message": "Already exists"}
            self.put(env, call.body["name"], call.body["value"])
            return 201, {}
        return 405, {"message": "method"}

    def _issue(self, call: Call, number: str | None) -> tuple[int, Any]:
        if call.method == "GET" and number is None:
            state = call.query.get("state", ["open"])[0]
            per_page = min(100, int(call.query.get("per_page", ["30"])[0]))
            page = int(call.query.get("page", ["1"])[0])
            found = [i for i in reversed(self.issues) if state == "all" or i["state"] == state]
            return 200, found[(page - 1) * per_page : page * per_page]
        if call.method == "POST" and number is None:
            if not call.body.get("title"):
                return 422, {"message": "Validation Failed"}
            issue = {"number": len(self.issues) + 1, "state": "open", "state_reason": None,
                     "title": call.body["title"], "body": call.body.get("body")}  # fmt: skip
            self.issues.append(issue)
            return 201, issue
        if call.method == "PATCH" and number is not None:
            issue = next((i for i in self.issues if i["number"] == int(number)), None)
            if issue is None:
                return 404, {"message": "Not Found"}
            if call.body.get("state", "open") not in ("open", "closed"):
                return 422, {"message": "Validation Failed"}
            issue.update({k: call.body[k] for k in ("title", "body", "state", "state_reason")
                          if k in call.body})  # fmt: skip
            return 200, issue
        return 405, {"message": "method"}

    def open_issues(self) -> list[dict[str, Any]]:
        return [i for i in self.issues if i["state"] == "open" and "pull_request" not in i]


@contextlib.contextmanager
def serve(service: Service, wrap: Callable[[Any], Any] | None = None) -> Iterator[str]:
    """The service under uvicorn on 127.0.0.1 in a thread; yields its base URL. `wrap`, if
    given, wraps the ASGI app (a benchmark's clock)."""
    port = free_port()
    app = create_app(service)
    server = uvicorn.Server(
        uvicorn.Config(
            wrap(app) if wrap else app,
            host=LOOPBACK,
            port=port,
            log_level="warning",
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://{LOOPBACK}:{port}"
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the rollback service did not start")
            time.sleep(0.02)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def webhook(
    group: str,
    status: str = "firing",
    *,
    alertname: str = "HealthCheckFailed",
    service: str = "backend",
    strategy: str = "immediate",
    environment: str = "staging",
    starts_at: str = "2026-04-01T00:00:00Z",
) -> dict[str, Any]:
    """An Alertmanager v4 payload with one alert, firing since `starts_at`."""
    labels = {
        "alertname": alertname,
        "service": service,
        "environment": environment,
        "severity": {"immediate": "critical", "fast": "warning"}.get(strategy, "info"),
        "rollback_strategy": strategy,
    }
    return {
        "version": "4",
        "groupKey": group,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "rollback-webhook",
        "groupLabels": {"alertname": alertname, "service": service},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": {
                    "summary": "test",
                    "runbook_url": f"https://runbooks.example.test/#runbook-{alertname.lower()}",
                },
                "startsAt": starts_at,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": f"fp-{group}",
            }
        ],
    }


def platform_env(railway_url: str, vercel: VercelStandIn, github: GitHubStandIn) -> dict[str, str]:
    """The rollback service's settings that point every platform at its stand-in."""
    return {
        "RAILWAY_API_URL": railway_url,
        "RAILWAY_API_TOKEN": ACCOUNT_TOKEN,
        "RAILWAY_PROJECT_ID": PROJECT_ID,
        "VERCEL_API_URL": vercel.url,
        "VERCEL_TOKEN": VERCEL_TOKEN,
        "VERCEL_PROJECT_ID": VERCEL_PROJECT,
        "GITHUB_API_URL": github.url,
        "GITHUB_TOKEN": GITHUB_TOKEN,
        "GITHUB_REPOSITORY": "fixture-owner/app",
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Client:
    """The service served on loopback, and an HTTP client that posts webhooks to it."""

    def __init__(self, service: Service, token: str) -> None:
        self._service = service
        self._token = token
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Client:
        self.url = self._stack.enter_context(serve(self._service))
        self.http = self._stack.enter_context(
            httpx.Client(base_url=self.url, timeout=10, verify=tls.context())
        )
        return self

    def __exit__(self, *_: object) -> None:
        self._stack.close()

    def send(self, payload: dict[str, Any], token: str | None = None) -> httpx.Response:
        token = self._token if token is None else token
        headers = bearer(token) if token else {}  # "": no Authorization header at all
        return self.http.post("/v1/alertmanager", json=payload, headers=headers)


def deploy_twice(standin: RailwayStandIn) -> RailwayStandIn:
    """backend and worker in staging, each deployed twice: one deployment to roll back to."""
    standin.add_environment("staging")
    auth = Auth("account", "Authorization", f"Bearer {ACCOUNT_TOKEN}")
    with RailwayClient(standin.url, auth, timeout=2, max_attempts=2) as client:
        for name, host in (("backend", "staging-api"), ("worker", "staging-worker")):
            state = None
            for level in ("info", "debug"):
                spec = make_spec(
                    name=name,
                    domains=[f"{host}.fixture.example.test"],
                    variables={"LOG_LEVEL": level},
                )
                state = converge.apply(client, spec, state, lambda _line: None)
    return standin


# A stand-in's own runtime (server, thread, lock, events) and its shared schema; every other
# attribute is the platform's state, which deploy_twice builds the same way every time.
_RUNTIME = frozenset({"schema", "lock", "applied", "release", "_server", "_thread", "_ids"})


@functools.cache
def _deployed_twice(schema: GraphQLSchema) -> tuple[dict[str, Any], int]:
    standin = RailwayStandIn(schema).start()
    try:
        deploy_twice(standin)
    finally:
        standin.stop()
    state = {k: v for k, v in vars(standin).items() if k not in _RUNTIME}
    return copy.deepcopy(state), next(standin._ids)


def deployed_twice(standin: RailwayStandIn) -> RailwayStandIn:
    """`standin` (started, untouched) in the state deploy_twice leaves: the converge runs once
    per worker (34 requests, about 0.2 CPU-seconds and 0.4 s), each test gets its own copy."""
    state, next_id = _deployed_twice(standin.schema)
    with standin.lock:
        vars(standin).update(copy.deepcopy(state))
        standin._ids = itertools.count(next_id)
    return standin


class RecordingActions:
    """Stands in for the platforms in memory: each service serves `<service>-v<n>`, a rollback
    goes one version back (unless the service already moved away from `before`, as the real
    clients check). `hold` makes a service's rollback wait until the event is set; the next
    rollback of a service in `fail` fails for good."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.versions = {"frontend": 3, "backend": 3, "worker": 3}
        self.hold: dict[str, threading.Event] = {}
        self.fail: set[str] = set()
        self._lock = threading.Lock()

    def current(self, service: str, timeout: float) -> str | None:
        return f"{service}-v{self.versions[service]}"

    def rollback(self, service: str, before: str | None, known: History, timeout: float) -> str:
        if service in self.hold:
            self.hold[service].wait(timeout=30)
        with self._lock:
            if service in self.fail:
                self.fail.discard(service)
                raise PermanentError(f"{service}: injected failure")
            if before is not None and before != self.current(service, timeout):
                return f"{service} already at {self.current(service, timeout)} (was {before})"
            self.calls.append(("rollback", service))
            self.versions[service] -= 1
            return f"rolled {service} back to v{self.versions[service]}"

    def freeze(self, timeout: float) -> str:
        with self._lock:
            self.calls.append(("freeze", "all"))
        return "frozen"

    def rolled_back(self) -> list[str]:
        with self._lock:
            return [service for action, service in self.calls if action == "rollback"]
