"""The entrypoint every monitoring server starts with, run by busybox's sh (what the images have)
and by Debian's dash: it writes the files and secrets, leaves none in the server's environment,
and refuses a broken manifest before the server runs."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from monitoring import render
from monitoring.alertmanager import WATCHDOG
from monitoring.secrets import placeholder
from monitoring.servers import ENTRYPOINT, Layout, Server, secret_values, servers
from tests.conftest import monitoring_config, target_of
from tests.monitoring.conftest import require_tool
from tests.monitoring.loopback import busybox_path

TARGET = target_of("production")
SECRETS = {
    "slack_api_url": "https://hooks.example.test/canary-slack",
    "pagerduty_routing_key": "canary-pagerduty-key",
    "smtp_password": "canary smtp password with spaces\tand a tab",
    "rollback_webhook_token": "canary-webhook-token-0123456789",
    "grafana_admin_password": "canary-grafana-password",
    # A web config: dollar signs (a bcrypt hash) and lines, written as they are.
    "alertmanager_web_config": "basic_auth_users:\n  alertmanager: $2b$10$canary.$HOME`id`\n",
}


@pytest.fixture(params=["busybox", "dash"])
def shell(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[list[str], str]:
    """(the shell that replaces /bin/sh, the PATH it runs with)."""
    if request.param == "busybox":
        busybox = require_tool("busybox")
        return [busybox, "sh"], busybox_path(busybox, tmp_path / "applets")
    return [require_tool("dash")], os.environ.get("PATH", "")


def alertmanager(root: Path, *, heartbeat: bool = False) -> Server:
    secrets = {
        "slackApiUrl": f"{root}/secrets/slack",
        "pagerdutyRoutingKey": f"{root}/secrets/pagerduty",
        "smtpPassword": f"{root}/secrets/smtp",
        "rollbackWebhookToken": f"{root}/secrets/webhook",
    }
    receivers = {"heartbeat": heartbeat}
    config = monitoring_config({"secretFiles": secrets, "receivers": receivers}, stack="production")
    # The server prints the environment it was started with.
    printer = root / "print-environment"
    printer.write_text("#!/bin/sh\nexec env\n")
    printer.chmod(0o755)
    layout = Layout(binaries={**Layout().binaries, "alertmanager": str(printer)}, root=str(root))
    return servers(config, render(config, TARGET), grafana_url="https://g.test", layout=layout)[
        "alertmanager"
    ]


def run(
    shell: tuple[list[str], str], server: Server, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(server.start_command)
    assert argv[0] == "/bin/sh"
    return subprocess.run(
        [*shell[0], *argv[1:]],
        env={"PATH": shell[1], **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_files_are_written_as_rendered_and_secrets_for_the_server_alone(
    shell: tuple[list[str], str], tmp_path: Path
) -> None:
    server = alertmanager(tmp_path)
    done = run(shell, server, {**server.variables, **secret_values(server, SECRETS)})
    assert done.returncode == 0, done.stderr
    for file in server.files:
        written = Path(file.path).read_bytes()
        assert written == file.content.encode()
        assert f"wrote {file.path} sha256 {hashlib.sha256(written).hexdigest()}" in done.stdout
    for path, secret in server.secrets.items():
        assert Path(path).read_text() == SECRETS[secret]  # exactly, no newline added
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert f"wrote secret {path}" in done.stdout
    started_with = done.stdout.split(f"pipeline-entrypoint: exec {tmp_path}/print-environment\n")[1]
    assert "PIPELINE_" not in started_with
    for value in SECRETS.values():
        assert value not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ("file PIPELINE_FILE_MISSING /tmp/x\n", "PIPELINE_FILE_MISSING is not set"),
        ("file PATH relative/path\n", "is not an absolute path"),
        ("copy PATH /tmp/x\n", "is not file, secret or fill"),
        ("fill PATH /tmp/x BAD-NAME https://x.invalid/\n", "is not a variable name"),
        ("fill PATH /tmp/x WATCHDOG_URL\n", "names no placeholder"),
        ("file BAD-NAME /tmp/x\n", "is not a variable name"),
    ],
)
def test_a_broken_manifest_stops_before_the_server_runs(
    shell: tuple[list[str], str], tmp_path: Path, manifest: str, expected: str
) -> None:
    server = alertmanager(tmp_path)
    done = run(shell, server, {"PIPELINE_ENTRYPOINT": ENTRYPOINT, "PIPELINE_FILES": manifest})
    assert done.returncode == 78
    assert expected in done.stderr
    assert "exec" not in done.stdout


def test_a_value_railway_would_resolve_or_cannot_pass_is_refused(tmp_path: Path) -> None:
    server = alertmanager(tmp_path)
    for content, expected in (("x: ${{shared.TOKEN}}\n", "Railway resolves"), ("x" * 131072, "")):
        file = server.files[0]
        broken = Server(
            **{**server.__dict__, "files": (file.__class__(file.variable, file.path, content),)}
        )
        with pytest.raises(ValueError, match=expected or "exceeds"):
            _ = broken.variables


# A heartbeat URL with every character a URL may hold that a shell or YAML could misread.
HEARTBEAT = "https://hc-ping.com/canary-7f3e?a=1&b=$HOME;c=(x)*+,%20!~@:#frag"


def test_the_heartbeat_url_is_written_into_alertmanagers_config_alone_byte_exact(
    shell: tuple[list[str], str], tmp_path: Path
) -> None:
    server = alertmanager(tmp_path, heartbeat=True)
    [config] = [f for f in server.files if f.path.endswith("/alertmanager.yml")]
    values = {**SECRETS, "watchdog_url": HEARTBEAT}
    done = run(shell, server, {**server.variables, **secret_values(server, values)})
    assert done.returncode == 0, done.stderr
    written = Path(config.path).read_text()
    assert written == config.content.replace(placeholder("watchdog_url"), HEARTBEAT)
    assert stat.S_IMODE(os.stat(config.path).st_mode) == 0o600
    [receiver] = [r for r in yaml.safe_load(written)["receivers"] if r["name"] == WATCHDOG]
    assert receiver["webhook_configs"][0]["url"] == HEARTBEAT
    # nowhere else: not in what the stack renders or sets in plain, the log, the server's env
    assert HEARTBEAT not in json.dumps(server.variables)
    assert HEARTBEAT not in done.stdout + done.stderr
    started_with = done.stdout.split(f"pipeline-entrypoint: exec {tmp_path}/print-environment\n")[1]
    assert "WATCHDOG_URL" not in started_with


@pytest.mark.parametrize(
    "value",
    [HEARTBEAT + "\n", " " + HEARTBEAT, HEARTBEAT + "'", HEARTBEAT + '"', "", "https://a b.test/"],
)
def test_a_heartbeat_url_that_would_not_arrive_byte_exact_is_refused(
    shell: tuple[list[str], str], tmp_path: Path, value: str
) -> None:
    server = alertmanager(tmp_path, heartbeat=True)
    values = {**SECRETS, "watchdog_url": value}
    done = run(shell, server, {**server.variables, **secret_values(server, values)})
    assert done.returncode == 78
    assert "WATCHDOG_URL is empty or holds whitespace" in done.stderr
    assert "exec" not in done.stdout


def test_without_the_heartbeat_url_alertmanager_does_not_start(
    shell: tuple[list[str], str], tmp_path: Path
) -> None:
    server = alertmanager(tmp_path, heartbeat=True)
    values = {**server.variables, **secret_values(server, {**SECRETS, "watchdog_url": "x"})}
    del values["WATCHDOG_URL"]
    done = run(shell, server, values)
    assert done.returncode == 78
    assert "WATCHDOG_URL is not set" in done.stderr
    assert "exec" not in done.stdout
