"""Running the service as a person does: the local recipe in docs/rollback.md word for word,
its stdout (JSON lines, never a secret), its settings errors (all at once, each with its fix),
where the audit log goes by default, and a path it cannot write."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from rollback.settings import Settings, SettingsError
from tests.monitoring import loopback
from tests.monitoring.loopback import LOOPBACK, Mailbox, Receiver, free_port
from tests.rollback.conftest import (
    SMTP_LOGIN,
    TOKEN,
    WAIT,
    rollback_yaml,
    service_env,
    services_yaml,
)
from tests.rollback.process import ROOT, ServiceProcess
from tests.rollback.standins import GitHubStandIn, VercelStandIn, bearer, platform_env, webhook

CANARIES = {
    "ROLLBACK_WEBHOOK_TOKEN": "canary-webhook-token-3f9a1c",
    "VERCEL_TOKEN": "canary-vercel-token-8d2e",
    "GITHUB_TOKEN": "canary-github-token-51c7",
    "RAILWAY_API_TOKEN": "canary-railway-token-a04b",
    "PAGERDUTY_ROUTING_KEY": "canary-pagerduty-key-77e1",
}
SLACK_CANARY = "canary-slack-path-T000-B000"


def recipe() -> str:
    """The first shell block of the "Running it locally" section, as written."""
    doc = (ROOT / "docs/rollback.md").read_text()
    section = doc.split("## Running it locally", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found is not None
    return found.group(1)


@pytest.mark.e2e
def test_the_local_recipe_works_word_for_word() -> None:
    shutil.rmtree(ROOT / "build/rollback-local", ignore_errors=True)  # as on a fresh clone
    port = free_port()  # the recipe's own default is 8080
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROLLBACK_")}
    shell = subprocess.Popen(
        ["bash", "-c", recipe()],
        cwd=ROOT,
        env={**env, "PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # so that what it started can be stopped with it
    )
    try:
        output, _ = shell.communicate(timeout=120)
        stopped = gone(f"http://{LOOPBACK}:{port}/health")  # `kill $!` stopped the service
        listed = ROOT / "build/rollback-local/monitoring/rollback-services.yml"
        services = yaml.safe_load(listed.read_text())["services"]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGTERM)
        shutil.rmtree(ROOT / "build/rollback-local", ignore_errors=True)
    text = output.decode()
    assert shell.returncode == 0, text
    assert '{"status":"ok","environment":"staging","dryRun":true}' in text
    assert '{"decision":"accepted","dryRun":true}' in text
    shown = [json.loads(line) for line in text.splitlines() if line.startswith('{"time"')]
    # the immediate strategy: every service rolled back, then the freeze
    assert [r["event"] for r in shown] == [
        "admitted",
        *["action"] * (len(services) + 1),
        "finished",
    ]
    assert {r["outcome"] for r in shown if r["event"] == "action"} == {"dry_run"}
    assert stopped


def gone(url: str, timeout: float = 15.0) -> bool:
    """True once nothing answers at `url`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            loopback.get(url, timeout=1)
        except httpx.TransportError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.e2e
def test_stdout_has_every_decision_as_json_and_no_secret(
    tmp_path: Path,
    vercel: VercelStandIn,
    github: GitHubStandIn,
    receiver: Receiver,
    mailbox: Mailbox,
) -> None:
    yaml = rollback_yaml(
        fast={
            "timeout": "2m",
            "actions": ["rollback_affected_service"],
            "notifications": ["slack", "pagerduty", "email"],
        }
    )
    env = {
        **service_env(tmp_path, receiver, platform_env("http://127.0.0.1:9", vercel, github), yaml),
        **CANARIES,
        "SLACK_WEBHOOK_URL": f"{receiver.url}/slack/{SLACK_CANARY}",
        "SMTP_HOST": mailbox.host,
        "SMTP_PORT": str(mailbox.port),
        "SMTP_STARTTLS": "false",
        "SMTP_USERNAME": SMTP_LOGIN[0],
        "SMTP_PASSWORD": SMTP_LOGIN[1],
        "SMTP_FROM": "rollback@fixture.example.test",
        "SMTP_TO": "oncall@fixture.example.test",
    }
    vercel.token, github.token = CANARIES["VERCEL_TOKEN"], CANARIES["GITHUB_TOKEN"]
    vercel.fail_next = 1  # one 500 first: a retry, and its error, on the way
    alert = webhook("g-p95", alertname="HighLatencyP95", service="frontend", strategy="fast")
    process = ServiceProcess(env).wait_ready()
    try:
        url = f"{process.url}/v1/alertmanager"
        good = bearer(CANARIES["ROLLBACK_WEBHOOK_TOKEN"])
        assert loopback.post(url, json=alert, headers=bearer(TOKEN)).status_code == 401
        assert loopback.post(url, json={"version": "4"}, headers=good).status_code == 400
        assert loopback.post(url, json=alert, headers=good).json()["decision"] == "accepted"
        mailbox.wait_for(lambda m: "done" in m.message.get_content(), WAIT)
        resolved = {**alert, "status": "resolved"}
        assert loopback.post(url, json=resolved, headers=good).json()["decision"] == "resolved"
    finally:
        process.stop()
    lines = [json.loads(line) for line in process.lines]  # every line is a JSON object
    events = [line["event"] for line in lines]
    for event in ("started", "refused_unauthorized", "invalid", "admitted", "attempt", "action"):
        assert event in events
    assert {"finished", "notification", "resolved"} <= set(events)
    assert {line["channel"] for line in lines if line["event"] == "notification"} == {
        "slack",
        "pagerduty",
        "email",
    }
    logged = [line["detail"] for line in lines if line["event"] == "log"]  # uvicorn's, as JSON
    assert any("listening on http://127.0.0.1:" in detail for detail in logged)
    assert any("Application startup complete" in detail for detail in logged)
    assert vercel.promotions() == ["dpl_2"]
    audit = Path(env["ROLLBACK_AUDIT_LOG"]).read_text()
    for secret in [*CANARIES.values(), SLACK_CANARY, SMTP_LOGIN[1]]:
        assert secret not in process.output() and secret not in audit


def test_settings_errors_list_every_problem_at_once_with_its_fix(tmp_path: Path) -> None:
    env = {"ROLLBACK_WEBHOOK_TOKEN": "short-secret", "ROLLBACK_SETTLE": "soon"}
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env, volume=tmp_path / "no-volume")
    message = str(raised.value)
    named = re.findall(r"^  - (\S+(?: or \S+)?):", message, re.MULTILINE)
    assert named == [
        "ROLLBACK_WEBHOOK_TOKEN",  # too short
        "ROLLBACK_SETTLE",  # not a duration
        "ROLLBACK_AUDIT_LOG",  # nowhere to go
        "ROLLBACK_CONFIG",  # neither given
        "ROLLBACK_SERVICES",  # neither given
        "RAILWAY_PROJECT_ID",  # and what acting needs (on every platform: none is known yet)
        "RAILWAY_API_TOKEN or RAILWAY_TOKEN",
        "VERCEL_TOKEN",
        "VERCEL_PROJECT_ID",
        "GITHUB_TOKEN",
        "GITHUB_REPOSITORY",
    ]
    assert message.startswith("11 problem(s) with the rollback settings")
    assert message.count("      fix: ") == 11
    assert "short-secret" not in message and "shorter than 16 characters" in message


def test_the_audit_log_defaults_to_the_volume_only_where_it_exists(tmp_path: Path) -> None:
    env = {
        "ROLLBACK_CONFIG": rollback_yaml(),
        "ROLLBACK_SERVICES": services_yaml(),
        "ROLLBACK_WEBHOOK_TOKEN": TOKEN,
    }
    dry = {**env, "ROLLBACK_DRY_RUN": "true"}
    volume = tmp_path / "data"
    with pytest.raises(SettingsError, match=r"ROLLBACK_AUDIT_LOG: not set, and .*data does not"):
        Settings.from_env(dry, volume=volume)
    volume.mkdir()
    assert Settings.from_env(dry, volume=volume).audit_log == volume / "rollback-audit.jsonl"
    given = tmp_path / "mine.jsonl"
    chosen = Settings.from_env({**dry, "ROLLBACK_AUDIT_LOG": str(given)}, volume=volume)
    assert chosen.audit_log == given


def test_an_audit_log_it_cannot_write_is_one_error_and_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = {
        "PATH": os.environ["PATH"],
        "ROLLBACK_CONFIG": rollback_yaml(),
        "ROLLBACK_SERVICES": services_yaml(),
        "ROLLBACK_WEBHOOK_TOKEN": TOKEN,
        "ROLLBACK_DRY_RUN": "true",
        "ROLLBACK_AUDIT_LOG": str(blocker / "audit.jsonl"),
        "PORT": str(free_port()),
    }
    done = subprocess.run(
        [sys.executable, "-m", "rollback", "serve", "--host", LOOPBACK],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"rollback: ROLLBACK_AUDIT_LOG={blocker / 'audit.jsonl'}: ")
    assert f"cannot write there ({blocker} is a file, not a folder)" in done.stderr
    assert "\n  fix: " in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_a_webhook_token_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    """Alertmanager trims the token file it reads: a token ending in a newline here would
    refuse every webhook. Refused at start, never trimmed silently."""
    env = {
        "ROLLBACK_CONFIG": rollback_yaml(),
        "ROLLBACK_WEBHOOK_TOKEN": f"{TOKEN}\n",
        "ROLLBACK_DRY_RUN": "true",
        "ROLLBACK_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
    }
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    message = str(raised.value)
    assert "ROLLBACK_WEBHOOK_TOKEN: starts or ends with whitespace" in message
    assert TOKEN not in message
