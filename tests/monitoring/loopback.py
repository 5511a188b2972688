"""The real Prometheus, Alertmanager and blackbox exporter on 127.0.0.1, started as the Railway
services start them: the deployed start command (`monitoring.servers`), busybox's sh running the
entrypoint, which writes the rendered files and the secrets from variables. Only the layout
differs (loopback addresses, Debian's binaries, a temporary root), and the config's timings are
shortened. They watch three tiny apps and notify local receivers. Used by the end-to-end tests
and by benchmarks/detection_latency.py. Every process is started here and stopped by its PID.
"""

import atexit
import contextlib
import functools
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from components import tls
from monitoring import MonitoringConfig, render, secret_files
from monitoring.images import ServerName
from monitoring.servers import (
    Layout,
    Server,
    ServerSecret,
    password_secret,
    secret_values,
    servers,
    web_config_secret,
)
from monitoring.webauth import AUTHENTICATED, AuthServer, user_of, web_config
from tests.conftest import PROJECT_DIR, merged, monitoring_config, target_of

LOOPBACK = "127.0.0.1"
# HTTP calls to the tests' servers, as httpx.get()/post() make them (a client, a new connection)
# but with the process's one TLS context: httpx would read the whole CA bundle again for every
# call, about 20 ms of CPU, and the end-to-end tests poll their servers hundreds of times.
get = functools.partial(httpx.get, verify=tls.context())
post = functools.partial(httpx.post, verify=tls.context())
GRAFANA_URL = "https://grafana.example.test"  # Grafana is not run here; its URL is only a setting
# Throwaway values for the local receivers only: they prove Alertmanager reads the files.
E2E_SECRETS = {
    "pagerduty_routing_key": "e2e-routing-key",
    "smtp_password": "e2e-smtp-password",
    "rollback_webhook_token": "e2e-rollback-token",
    "prometheus_password": "e2e-prometheus-password",
    "alertmanager_password": "e2e-alertmanager-password",
}


def with_web_configs(
    secrets: Mapping[ServerSecret, str], stack: str = "e2e/staging"
) -> dict[ServerSecret, str]:
    """`secrets` and the web config of each authenticated server, as the stack derives them."""
    derived = {
        web_config_secret(s): web_config(s, secrets[password_secret(s)], stack)
        for s in AUTHENTICATED
    }
    return {**secrets, **derived}


# Ports handed out by free_port, one empty file each, across every test process of this user.
PORT_CLAIMS = Path(tempfile.gettempdir()) / f"pipeline-test-ports-{os.getuid()}"
_claimed: list[Path] = []


def free_port() -> int:
    """A loopback port for a server a test starts, which binds it later. The kernel hands out a
    port it just freed again, to this process or to another pytest-xdist worker, so a port is
    taken only once no test process holds a claim on it. Claims go when their process exits;
    one left by a killed run only keeps its port out of use."""
    PORT_CLAIMS.mkdir(exist_ok=True)
    for _ in range(1000):
        with socket.socket() as sock:
            sock.bind((LOOPBACK, 0))
            port: int = sock.getsockname()[1]
        claim = PORT_CLAIMS / str(port)
        try:
            os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue
        if not _claimed:
            atexit.register(_release)
        _claimed.append(claim)
        return port
    raise RuntimeError(f"no unclaimed loopback port: too many files in {PORT_CLAIMS}?")


def _release() -> None:
    for claim in _claimed:
        claim.unlink(missing_ok=True)


class Quiet(BaseHTTPRequestHandler):
    def log_message(self, *_args: Any) -> None:
        pass


class JsonReplies(Quiet):
    """A stand-in's handler that answers JSON, as the platform APIs do."""

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up before the answer (the timeout tests) is what such a test
        # wants, not a fault of the stand-in to print over the test run.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class HttpStandIn:
    """Serves a handler on 127.0.0.1 from a daemon thread until `close()`."""

    # serve_forever notices a shutdown only between polls: its default, 0.5 s, was paid at
    # every teardown of every stand-in.
    POLL_SECONDS = 0.01

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = _Server((LOOPBACK, 0), handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, args=(self.POLL_SECONDS,), daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Traffic:
    """The requests an instrumented service serves, as prometheus-fastapi-instrumentator counts
    them: `rate` requests a second, a `bad` share of them answered 5xx; whole counts, and the
    5xx series only from the first server error on. Set `bad` as time goes."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.bad = 0.0
        self._counts = [0.0, 0.0]  # good, bad
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def _advance(self) -> None:
        now = time.monotonic()
        served, self._at = self.rate * (now - self._at), now
        self._counts[0] += served * (1 - self.bad)
        self._counts[1] += served * self.bad

    def set(self, bad: float) -> None:
        with self._lock:
            self._advance()
            self.bad = bad

    def exposition(self) -> bytes:
        with self._lock:
            self._advance()
            good, bad = (int(c) for c in self._counts)
        lines = [f'http_requests_total{{status="2xx"}} {good}']
        if bad:
            lines.append(f'http_requests_total{{status="5xx"}} {bad}')
        return ("\n".join(lines) + "\n").encode()


class App(HttpStandIn):
    """A service stand-in: /metrics, /api/metrics and its health path (`health_path`, the
    stack's; by default /health and /api/health); health can be flipped, `traffic` makes its
    /metrics count requests as they come, and its answers can be slowed down (`delay`, seconds)."""

    def __init__(self, health_path: str | None = None) -> None:
        self.healthy = True
        self.traffic: Traffic | None = None
        self.delay = 0.0
        app = self

        class Handler(Quiet):
            def do_GET(self) -> None:
                time.sleep(app.delay)
                if self.path == health_path if health_path else self.path.endswith("/health"):
                    status, body = (200, b"ok") if app.healthy else (503, b"unhealthy")
                elif self.path.endswith("/metrics") and app.traffic is not None:
                    status, body = 200, app.traffic.exposition()
                elif self.path.endswith("/metrics"):
                    status, body = 200, b'http_requests_total{status="2xx"} 1\n'
                else:
                    status, body = 404, b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._serve(Handler)


@dataclass(frozen=True)
class Notification:
    path: str
    authorization: str
    body: dict[str, Any]
    arrived: float  # time.monotonic()


@dataclass(frozen=True)
class Mail:
    login: tuple[str, str] | None  # (username, password) the client authenticated with
    envelope_from: str
    envelope_to: tuple[str, ...]
    message: EmailMessage
    arrived: float  # time.monotonic()


class Arrived(Protocol):
    @property
    def arrived(self) -> float: ...


T = TypeVar("T", bound=Arrived)


class Inbox(Generic[T]):
    """What a stand-in received, in order, and a way to wait for the one a test expects."""

    def __init__(self) -> None:
        self.received: list[T] = []
        self.changed = threading.Condition()

    def add(self, item: T) -> None:
        with self.changed:
            self.received.append(item)
            self.changed.notify_all()

    def wait_for(self, match: Callable[[T], bool], timeout: float, after: float = 0.0) -> T:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for item in self.received:
                    if item.arrived >= after and match(item):
                        return item
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    got = [repr(item)[:120] for item in self.received]
                    raise TimeoutError(f"nothing matching arrived in {timeout}s; got {got}")
                self.changed.wait(remaining)


class Receiver(Inbox[Notification], HttpStandIn):
    """Records every POST (webhook, Slack, PagerDuty stand-ins) with its arrival time."""

    def __init__(self) -> None:
        super().__init__()
        receiver = self

        class Handler(Quiet):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                authorization = self.headers.get("Authorization", "")
                receiver.add(Notification(self.path, authorization, body, time.monotonic()))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self._serve(Handler)


class Mailbox(Inbox[Mail]):
    """An SMTP server (aiosmtpd) that requires AUTH with one username and password, without TLS,
    and records every message delivered."""

    def __init__(self, username: str, password: str) -> None:
        super().__init__()
        mailbox = self

        def authenticate(
            _server: Any, session: Any, _envelope: Any, _mechanism: str, data: Any
        ) -> AuthResult:
            login = (data.login.decode(), data.password.decode())
            session.login = login
            return AuthResult(success=login == (username, password))

        class Handler:
            async def handle_DATA(self, _server: Any, session: Any, envelope: Any) -> str:
                message = BytesParser(policy=policy.default).parsebytes(envelope.content)
                assert isinstance(message, EmailMessage)
                login = getattr(session, "login", None) if session.authenticated else None
                mail = Mail(
                    login,
                    envelope.mail_from,
                    tuple(envelope.rcpt_tos),
                    message,
                    time.monotonic(),
                )
                mailbox.add(mail)
                return "250 OK"

        self.controller = Controller(
            Handler(),
            hostname=LOOPBACK,
            port=free_port(),
            authenticator=authenticate,
            auth_required=True,
            auth_require_tls=False,
            # aiosmtpd's LOGIN challenges with "User Name", which Alertmanager's LOGIN refuses
            # (real servers send "Username:"); PLAIN is what both speak.
            auth_exclude_mechanism=["LOGIN"],
        )
        self.controller.start()
        self.host, self.port = LOOPBACK, self.controller.port
        self.smarthost = f"{self.host}:{self.port}"

    def close(self) -> None:
        self.controller.stop()


def alerts_in(note: Notification, status: str, **labels: str) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = note.body.get("alerts", [])
    return [
        a
        for a in alerts
        if a.get("status") == status and all(a["labels"].get(k) == v for k, v in labels.items())
    ]


def loopback_config(
    base: MonitoringConfig, receiver_url: str, secrets_dir: Path, smarthost: str | None = None
) -> dict[str, Any]:
    """Overrides for `base` (as camelCase data): 1s intervals, local receivers, temp secret
    files, local addresses. Ports are chosen here; without `smarthost`, nothing receives email."""
    paths = {name: str(secrets_dir / name.replace("_", "-")) for name in secret_files(base)}
    return {
        "scrapeInterval": "1s",
        "scrapeTimeout": "1s",
        "evaluationInterval": "1s",
        "probeInterval": "1s",
        "triggers": {"healthCheck": {"probeTimeout": "500ms"}},
        "routing": {
            "groupWait": "1s",
            "groupInterval": "1s",
            "repeatInterval": "1h",
            "watchdogInterval": "1s",
        },
        "receivers": {
            "pagerduty": True,  # staging pages nobody unless told to: here it is, to test paging
            "pagerdutyUrl": f"{receiver_url}/pagerduty",
            "rollbackWebhookUrl": f"{receiver_url}/rollback",
            "heartbeat": True,  # the URL is a secret (loopback_stack's `heartbeat`)
            "smtpSmarthost": smarthost or f"{LOOPBACK}:{free_port()}",
            "smtpRequireTls": False,
        },
        "secretFiles": {
            "slackApiUrl": paths["slack_api_url"],
            "pagerdutyRoutingKey": paths["pagerduty_routing_key"],
            "smtpPassword": paths["smtp_password"],
            "rollbackWebhookToken": paths["rollback_webhook_token"],
        },
        "addresses": {
            "alertmanager": f"{LOOPBACK}:{free_port()}",
            "blackboxExporter": f"{LOOPBACK}:{free_port()}",
            "prometheusUrl": f"http://{LOOPBACK}:{free_port()}",
        },
    }


@dataclass
class Loopback:
    config: MonitoringConfig
    apps: dict[str, App]
    receiver: Receiver
    mailbox: Mailbox
    prometheus_url: str
    processes: dict[ServerName, subprocess.Popen[bytes]]
    secrets: dict[ServerSecret, str]

    @property
    def alertmanager_url(self) -> str:
        return f"http://{self.config.addresses.alertmanager}"

    def login(self, server: AuthServer) -> httpx.BasicAuth:
        """What a client of `server` logs in with."""
        return httpx.BasicAuth(user_of(server), self.secrets[password_secret(server)])


def _wait_ready(
    url: str,
    process: subprocess.Popen[bytes],
    timeout: float = 20.0,
    auth: httpx.BasicAuth | None = None,
    log: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}\n{said}")
        with contextlib.suppress(httpx.HTTPError):
            if get(url, timeout=1.0, auth=auth).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def query(stack: Loopback, promql: str) -> list[dict[str, Any]]:
    """Prometheus' answer to an instant query, logged in."""
    response = get(
        f"{stack.prometheus_url}/api/v1/query",
        params={"query": promql},
        timeout=2.0,
        auth=stack.login("prometheus"),
    )
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def wait_until_probed_healthy(stack: Loopback, timeout: float = 20.0) -> None:
    """All three health probes have reported success at least once."""
    deadline = time.monotonic() + timeout
    query = 'count(probe_success{job="health-probe"} == 1)'
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, KeyError, IndexError):
            response = get(
                f"{stack.prometheus_url}/api/v1/query",
                params={"query": query},
                timeout=1.0,
                auth=stack.login("prometheus"),
            )
            if response.json()["data"]["result"][0]["value"][1] == str(len(stack.apps)):
                return
        time.sleep(0.2)
    raise TimeoutError("health probes never all succeeded")


# The Debian packages' names of the servers the images run.
TOOLS: dict[ServerName, str] = {
    "prometheus": "prometheus",
    "blackbox-exporter": "prometheus-blackbox-exporter",
    "alertmanager": "prometheus-alertmanager",
}
RUN_HERE: tuple[ServerName, ...] = tuple(TOOLS)  # Grafana is not packaged by Debian


def _port(host_port: str) -> int:
    return int(host_port.rsplit(":", 1)[1])


def loopback_layout(config: MonitoringConfig, tools: Mapping[str, str], root: Path) -> Layout:
    """The Railway layout with loopback addresses, local binaries and a temporary root."""
    deployed = Layout()
    return Layout(
        host=LOOPBACK,
        ports={
            "prometheus": _port(config.addresses.prometheus_url),
            "blackbox-exporter": _port(config.addresses.blackbox_exporter),
            "alertmanager": _port(config.addresses.alertmanager),
            "grafana": free_port(),
        },
        binaries={**deployed.binaries, **{name: tools[TOOLS[name]] for name in RUN_HERE}},
        root=str(root),
    )


def busybox_path(busybox: str, folder: Path) -> str:
    """A PATH of busybox applets only: the entrypoint runs with what the images' busybox has."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([busybox, "--install", "-s", str(folder)], check=True)
    return str(folder)


def start_server(
    server: Server,
    secrets: Mapping[ServerSecret, str],
    busybox: str,
    path: str,
    log: Path,
) -> subprocess.Popen[bytes]:
    """Run `server`'s deployed start command, as the container would: busybox's sh, the
    server's variables and its secret variables, nothing else."""
    argv = shlex.split(server.start_command)
    assert argv[0] == "/bin/sh"
    env = {"PATH": path, **server.variables, **secret_values(server, secrets)}
    with log.open("wb") as out:
        return subprocess.Popen([busybox, "sh", *argv[1:]], env=env, stdout=out, stderr=out)


def ready_url(server: Server, layout: Layout) -> str:
    return f"http://{layout.listen(server.name)}{server.ready_path}"


def login_of(server: Server, secrets: Mapping[ServerSecret, str]) -> httpx.BasicAuth | None:
    if server.login is None:
        return None
    return httpx.BasicAuth(user_of(server.login), secrets[password_secret(server.login)])


@contextlib.contextmanager
def loopback_stack(
    workdir: Path,
    tools: dict[str, str],
    *,
    rollback_url: str | None = None,
    webhook_token: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    heartbeat: str = "/watchdog",
    project_dir: Path = PROJECT_DIR,
) -> Iterator[Loopback]:
    """tools: paths of busybox, prometheus, prometheus-alertmanager, prometheus-blackbox-exporter.
    Alertmanager's rollback webhook goes to `rollback_url` (default: the receiver's /rollback)
    with `webhook_token` (default: E2E_SECRETS'); with `rollback_url`, Prometheus also scrapes
    that service's /metrics and probes its /health, as on Railway. `overrides` (camelCase) go
    over the loopback config, key by key. The dead man's switch's secret URL is the receiver's
    `heartbeat` path. `project_dir`: the project whose staging stack it runs (default: the one
    under test)."""
    # The staging stack's services, each a local app at its own port.
    staging = target_of("staging", project_dir)
    apps = {name: App(staging.services[name].health_path) for name in staging.probed()}
    receiver = Receiver()
    defaults = monitoring_config(stack="staging", project_dir=project_dir)
    mailbox = Mailbox(defaults.receivers.smtp_username, E2E_SECRETS["smtp_password"])
    processes: list[subprocess.Popen[bytes]] = []
    try:
        loopback = loopback_config(defaults, receiver.url, workdir / "secrets", mailbox.smarthost)
        if rollback_url:
            loopback["receivers"]["rollbackWebhookUrl"] = rollback_url
        config = monitoring_config(merged(loopback, overrides or {}), "staging", project_dir)
        secrets = with_web_configs(
            {
                **E2E_SECRETS,  # type: ignore[dict-item]
                "slack_api_url": f"{receiver.url}/slack",
                "rollback_webhook_token": webhook_token or E2E_SECRETS["rollback_webhook_token"],
                "watchdog_url": f"{receiver.url}{heartbeat}",
            }
        )
        local = {name: {"url": app.url, "metrics_address": None} for name, app in apps.items()}
        target = target_of("staging", project_dir, **local).model_copy(
            update={
                "rollback_url": None,
                "rollback_address": urlsplit(rollback_url).netloc if rollback_url else None,
            }
        )
        layout = loopback_layout(config, tools, workdir / "root")
        running = servers(config, render(config, target), grafana_url=GRAFANA_URL, layout=layout)
        path = busybox_path(tools["busybox"], workdir / "busybox")
        logs = workdir / "logs"
        logs.mkdir()
        started: dict[ServerName, subprocess.Popen[bytes]] = {}
        # Prometheus last: its first evaluations then reach a ready Alertmanager.
        for name in ("blackbox-exporter", "alertmanager", "prometheus"):
            server = running[name]
            process = start_server(server, secrets, tools["busybox"], path, logs / f"{name}.log")
            processes.append(process)
            started[name] = process
            _wait_ready(
                ready_url(server, layout),
                process,
                auth=login_of(server, secrets),
                log=logs / f"{name}.log",
            )
        yield Loopback(
            config, apps, receiver, mailbox, config.addresses.prometheus_url, started, secrets
        )
    finally:
        for process in reversed(processes):
            _stop(process)
        for app in apps.values():
            app.close()
        receiver.close()
        mailbox.close()
