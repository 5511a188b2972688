"""The monitoring servers as they run: image, start command, files, secrets, port, volume.

One function, `servers`, says how Prometheus, the blackbox exporter, Alertmanager and Grafana
start from the files `render` wrote. The stack deploys what it returns (as Railway services) and
the end-to-end test runs the very same start commands on loopback; only the `Layout` differs
(listen host, ports, where the binaries and folders are).

Every server starts through `entrypoint.sh`: the start command evaluates it from a variable, it
writes each file from its own variable and each secret from the stack's secret, then execs the
server. So a changed threshold changes one variable of one server, and only that server
redeploys; no secret is ever in a rendered file or on a command line.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from monitoring.config import MonitoringConfig
from monitoring.durations import format_duration
from monitoring.images import ServerName
from monitoring.secrets import FILLED, FilledSecret, SecretName, placeholder, secret_files
from monitoring.webauth import AUTHENTICATED, AuthServer, password_file

SERVERS: tuple[ServerName, ...] = get_args(ServerName)
# What the stack may expose on a public domain: Grafana only, behind its own login.
PUBLIC: frozenset[ServerName] = frozenset({"grafana"})
ENTRYPOINT = (Path(__file__).parent / "entrypoint.sh").read_text()
START = "/bin/sh -c 'eval \"$PIPELINE_ENTRYPOINT\"' pipeline-entrypoint"
# A Linux process gets each environment string only up to 128 KiB (MAX_ARG_STRLEN).
MAX_VARIABLE_BYTES = 128 * 1024 - 1

# Besides Alertmanager's: Grafana's login; each authenticated server's password (for its
# clients) and web config (the hash of that password, monitoring.webauth).
OwnSecret = Literal[
    "grafana_admin_password",
    "prometheus_password",
    "alertmanager_password",
    "prometheus_web_config",
    "alertmanager_web_config",
]
ServerSecret = SecretName | OwnSecret | FilledSecret
# Where Grafana reads Prometheus' password: its datasource names it ($__file{...}).
GRAFANA_PROMETHEUS_PASSWORD = "/run/secrets/prometheus-password"


def password_secret(server: AuthServer) -> ServerSecret:
    return "prometheus_password" if server == "prometheus" else "alertmanager_password"


def web_config_secret(server: AuthServer) -> ServerSecret:
    return "prometheus_web_config" if server == "prometheus" else "alertmanager_web_config"


@dataclass(frozen=True)
class Layout:
    """Where the servers run. The defaults are the images on Railway's private network."""

    host: str = "::"
    ports: Mapping[ServerName, int] = field(
        default_factory=lambda: {
            "prometheus": 9090,
            "blackbox-exporter": 9115,
            "alertmanager": 9093,
            "grafana": 3000,
        }
    )
    binaries: Mapping[ServerName, str] = field(
        default_factory=lambda: {
            "prometheus": "/bin/prometheus",
            "blackbox-exporter": "/bin/blackbox_exporter",
            "alertmanager": "/bin/alertmanager",
            "grafana": "/run.sh",
        }
    )
    root: str = ""  # prefix of every config folder and data folder ("" is the image's /)

    def listen(self, server: ServerName) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.ports[server]}"


@dataclass(frozen=True)
class File:
    variable: str  # named after the rendered path, so it is the same in every layout
    path: str  # absolute, where the server reads it
    content: str
    filled: FilledSecret | None = None  # the entrypoint writes the secret over its placeholder

    @property
    def manifest(self) -> str:
        if self.filled is None:
            return f"file {self.variable} {self.path}\n"
        secret = self.filled
        return f"fill {self.variable} {self.path} {secret_variable(secret)} {placeholder(secret)}\n"


@dataclass(frozen=True)
class Server:
    name: ServerName
    image: str
    argv: tuple[str, ...]  # the server and its flags, after the entrypoint
    port: int
    ready_path: str  # answers 200 once the server is ready (to a client that logs in)
    volume: str | None  # mount path of its data, kept across deploys
    files: tuple[File, ...]
    secrets: Mapping[str, ServerSecret]  # absolute path -> the stack secret written there
    environment: Mapping[str, str] = field(default_factory=dict)  # the server's own settings
    login: AuthServer | None = None  # the server requires this user's login (webauth)

    @property
    def health_path(self) -> str | None:
        """Railway's deploy health check, which cannot log in: none for a server that requires
        a login (every path of it answers 401 without one)."""
        return None if self.login else self.ready_path

    @property
    def start_command(self) -> str:
        return f"{START} {shlex.join(self.argv)}"

    @property
    def variables(self) -> dict[str, str]:
        """Plain variables: the entrypoint, the files (one variable each), the settings."""
        manifest = [f.manifest for f in self.files] + [
            f"secret {secret_variable(s)} {p}\n" for p, s in sorted(self.secrets.items())
        ]
        variables = {
            "PIPELINE_ENTRYPOINT": ENTRYPOINT,
            "PIPELINE_FILES": "".join(manifest),
            # The entrypoint writes a value and a newline: every rendered file ends in one.
            **{f.variable: f.content.removesuffix("\n") for f in self.files},
            **self.environment,
        }
        for name, value in variables.items():
            if "${{" in value:  # Railway would read it as a reference to another variable
                raise ValueError(f"{self.name}: {name} holds '${{{{', which Railway resolves")
            if len(name) + 1 + len(value.encode()) > MAX_VARIABLE_BYTES:
                raise ValueError(f"{self.name}: {name} exceeds {MAX_VARIABLE_BYTES} bytes")
        return variables

    @property
    def secret_variables(self) -> dict[str, ServerSecret]:
        """Variable -> the stack secret it must hold (the entrypoint writes it to its file)."""
        filled = [f.filled for f in self.files if f.filled]
        return {secret_variable(s): s for s in (*self.secrets.values(), *filled)}


def secret_variable(secret: ServerSecret) -> str:
    return secret.upper()


def _under(files: Mapping[str, str], folder: str, destination: str) -> tuple[File, ...]:
    """The rendered files below `folder`/, moved to below `destination`/."""
    prefix = f"{folder}/"
    return tuple(
        File(
            variable="PIPELINE_FILE_" + re.sub(r"[^A-Z0-9]+", "_", path.upper()).strip("_"),
            path=f"{destination}/{path.removeprefix(prefix)}",
            content=content,
            filled=next((s for s in FILLED if placeholder(s) in content), None),
        )
        for path, content in sorted(files.items())
        if path.startswith(prefix)
    )


def servers(
    config: MonitoringConfig,
    files: Mapping[str, str],
    *,
    grafana_url: str,
    layout: Layout | None = None,
) -> dict[ServerName, Server]:
    """The four servers, from `files` as `monitoring.render` returned them."""
    at = layout or Layout()
    root = at.root
    images = config.servers.images
    grafana_password = f"{root}/run/secrets/grafana-admin-password"
    return {
        "prometheus": Server(
            name="prometheus",
            image=images.prometheus,
            argv=(
                at.binaries["prometheus"],
                f"--config.file={root}/etc/prometheus/prometheus.yml",
                f"--storage.tsdb.path={root}/prometheus",
                f"--storage.tsdb.retention.time={format_duration(config.servers.retention)}",
                f"--web.listen-address={at.listen('prometheus')}",
                f"--web.config.file={root}/etc/prometheus/web.yml",
            ),
            port=at.ports["prometheus"],
            ready_path="/-/ready",
            volume=f"{root}/prometheus",
            files=_under(files, "prometheus", f"{root}/etc/prometheus"),
            # Its own web config, and the passwords it logs in with (prometheus.yml names them).
            secrets={
                f"{root}/etc/prometheus/web.yml": "prometheus_web_config",
                **{
                    f"{root}/etc/prometheus/{password_file(s)}": password_secret(s)
                    for s in AUTHENTICATED
                },
            },
            login="prometheus",
        ),
        "blackbox-exporter": Server(
            name="blackbox-exporter",
            image=images.blackbox_exporter,
            argv=(
                at.binaries["blackbox-exporter"],
                f"--config.file={root}/etc/blackbox_exporter/blackbox.yml",
                f"--web.listen-address={at.listen('blackbox-exporter')}",
            ),
            port=at.ports["blackbox-exporter"],
            ready_path="/-/healthy",
            volume=None,
            files=_under(files, "blackbox", f"{root}/etc/blackbox_exporter"),
            secrets={},
        ),
        "alertmanager": Server(
            name="alertmanager",
            image=images.alertmanager,
            argv=(
                at.binaries["alertmanager"],
                f"--config.file={root}/etc/alertmanager/alertmanager.yml",
                f"--storage.path={root}/alertmanager",
                f"--web.listen-address={at.listen('alertmanager')}",
                "--cluster.listen-address=",  # one instance: no gossip port
                f"--web.config.file={root}/etc/alertmanager/web.yml",
            ),
            port=at.ports["alertmanager"],
            ready_path="/-/ready",
            volume=f"{root}/alertmanager",
            files=_under(files, "alertmanager", f"{root}/etc/alertmanager"),
            # Alertmanager reads each secret from the file its config names, and is given only
            # those (no PagerDuty key where nothing pages).
            secrets={
                **{
                    path: name
                    for name, path in secret_files(config).items()
                    if path in files["alertmanager/alertmanager.yml"]
                },
                f"{root}/etc/alertmanager/web.yml": "alertmanager_web_config",
            },
            login="alertmanager",
        ),
        "grafana": Server(
            name="grafana",
            image=images.grafana,
            argv=(at.binaries["grafana"],),
            port=at.ports["grafana"],
            ready_path="/api/health",
            volume=f"{root}/var/lib/grafana",
            files=(
                *_under(files, "grafana/provisioning", f"{root}/etc/grafana/provisioning"),
                *_under(files, "grafana/dashboards", config.grafana.dashboards_path),
            ),
            secrets={
                grafana_password: "grafana_admin_password",
                f"{root}{GRAFANA_PROMETHEUS_PASSWORD}": "prometheus_password",
            },
            environment={
                "GF_PATHS_PROVISIONING": f"{root}/etc/grafana/provisioning",
                "GF_PATHS_DATA": f"{root}/var/lib/grafana",
                "GF_SERVER_HTTP_PORT": str(at.ports["grafana"]),
                "GF_SERVER_ROOT_URL": grafana_url,
                "GF_SECURITY_ADMIN_USER": "admin",
                # Grafana's image reads <SETTING>__FILE; the entrypoint wrote the file.
                "GF_SECURITY_ADMIN_PASSWORD__FILE": grafana_password,
                "GF_SECURITY_COOKIE_SECURE": "true",
                "GF_SECURITY_DISABLE_GRAVATAR": "true",
                "GF_AUTH_ANONYMOUS_ENABLED": "false",
                "GF_USERS_ALLOW_SIGN_UP": "false",
                "GF_ANALYTICS_REPORTING_ENABLED": "false",
                "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
            },
        ),
    }


def secret_values(server: Server, values: Mapping[ServerSecret, str]) -> dict[str, str]:
    """The server's secret variables filled from the stack's secrets (by secret name)."""
    return {variable: values[secret] for variable, secret in server.secret_variables.items()}
