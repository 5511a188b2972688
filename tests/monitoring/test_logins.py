"""On loopback, the real Prometheus and Alertmanager started by the deployed entrypoint: a
neighbour on the private network without the login gets 401 (no silence, no posted alert, no
query), the servers' own clients log in (Prometheus to Alertmanager and to itself, amtool with
its http config), Prometheus watches Alertmanager, itself and the blackbox exporter, and the
Watchdog reaches the heartbeat receiver."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from monitoring.webauth import user_of
from tests.monitoring import loopback
from tests.monitoring.conftest import require_tool
from tests.monitoring.loopback import Loopback, alerts_in, loopback_stack, query

pytestmark = pytest.mark.e2e
TOOLS = ("busybox", "prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter")
TIMEOUT = 30.0


def _alert(name: str) -> list[dict[str, object]]:
    now = datetime.now(UTC)
    labels = {"alertname": name, "service": "backend", "environment": "staging",
              "severity": "critical", "rollback_strategy": "immediate"}  # fmt: skip
    return [
        {"labels": labels, "annotations": {"summary": "posted by a neighbour"},
         "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=5)).isoformat()}
    ]  # fmt: skip


def _silence() -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "matchers": [{"name": "alertname", "value": "HealthCheckFailed", "isRegex": False}],
        "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
        "createdBy": "neighbour", "comment": "shh",
    }  # fmt: skip


def _amtool(stack: Loopback, config: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [require_tool("amtool"), f"--alertmanager.url={stack.alertmanager_url}", *args]
    if config is not None:
        argv.insert(1, f"--http.config.file={config}")
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def test_without_the_login_nothing_is_silenced_posted_or_read(tmp_path: Path) -> None:
    tools = {name: require_tool(name) for name in TOOLS}
    with loopback_stack(tmp_path, tools) as stack:
        am, prom = stack.alertmanager_url, stack.prometheus_url
        anonymous = [
            loopback.post(f"{am}/api/v2/silences", json=_silence(), timeout=5),
            loopback.post(f"{am}/api/v2/alerts", json=_alert("PostedByANeighbour"), timeout=5),
            loopback.get(f"{am}/api/v2/alerts", timeout=5),
            loopback.get(f"{prom}/api/v1/query", params={"query": "up"}, timeout=5),
            loopback.get(f"{prom}/-/ready", timeout=5),
        ]
        wrong = httpx.BasicAuth(user_of("alertmanager"), "not-the-password-at-all")
        guessed = loopback.post(f"{am}/api/v2/silences", json=_silence(), auth=wrong, timeout=5)
        silences = loopback.get(f"{am}/api/v2/silences", auth=stack.login("alertmanager"))
        time.sleep(2.5)  # two group intervals: a posted alert would have gone out by now
        posted = [
            n
            for n in stack.receiver.received
            if alerts_in(n, "firing", alertname="PostedByANeighbour")
        ]
    assert [r.status_code for r in anonymous] == [401] * len(anonymous)
    assert guessed.status_code == 401
    assert silences.status_code == 200 and silences.json() == []
    assert posted == []


def test_its_own_clients_log_in(tmp_path: Path) -> None:
    tools = {name: require_tool(name) for name in TOOLS}
    with loopback_stack(tmp_path, tools) as stack:
        http_config = tmp_path / "amtool-http.yml"
        password = stack.secrets["alertmanager_password"]
        http_config.write_text(
            f"basic_auth:\n  username: {user_of('alertmanager')}\n  password: {password}\n"
        )
        refused = _amtool(stack, None, "silence", "query")
        added = _amtool(stack, http_config, "silence", "add", "alertname=Nothing",
                        "--comment=by amtool", "--duration=5m")  # fmt: skip
        deadline = time.monotonic() + TIMEOUT
        up: dict[str, str] = {}
        while time.monotonic() < deadline and sorted(up.values()) != ["1", "1", "1"]:
            jobs = 'up{job=~"prometheus|alertmanager|blackbox-exporter"}'
            up = {r["metric"]["job"]: r["value"][1] for r in query(stack, jobs)}
            time.sleep(0.5)
        heartbeat = stack.receiver.wait_for(lambda n: n.path == "/watchdog", TIMEOUT)
        failed_at_start = query(stack, "alertmanager_notifications_failed_total")
    assert refused.returncode != 0 and "401" in refused.stderr + refused.stdout
    assert added.returncode == 0, added.stderr
    # Prometheus scraped itself, Alertmanager (both logged in) and the exporter
    assert up == {"prometheus": "1", "alertmanager": "1", "blackbox-exporter": "1"}
    # the Watchdog went from Prometheus to Alertmanager (logged in) to the heartbeat receiver
    assert alerts_in(heartbeat, "firing", alertname="Watchdog")
    # Alertmanager counts failures per integration from its start, at 0: increase() sees the first
    integrations = {r["metric"]["integration"] for r in failed_at_start}
    assert {"webhook", "email", "slack", "pagerduty"} <= integrations
    assert {r["value"][1] for r in failed_at_start} == {"0"}
