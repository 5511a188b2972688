"""End to end on loopback: a backend that turns unhealthy triggers an immediate rollback through
the real Prometheus, blackbox exporter and Alertmanager, started by the deployed entrypoint and
start commands, and its recovery resolves the alert."""

import os
import stat
import time
from pathlib import Path

import pytest

from monitoring import secret_files
from tests.conftest import target_of
from tests.monitoring.conftest import require_tool
from tests.monitoring.loopback import (
    E2E_SECRETS,
    Notification,
    alerts_in,
    loopback_stack,
    wait_until_probed_healthy,
)

TOOLS = ("busybox", "prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter")
TIMEOUT = 30.0
# The staging stack's first critical service with a health check: its failure rolls back at once.
_STAGING = target_of("staging")
CRITICAL = next(n for n in sorted(_STAGING.probed()) if _STAGING.services[n].critical)


def _health(note: Notification, status: str, service: str) -> bool:
    return bool(alerts_in(note, status, alertname="HealthCheckFailed", service=service))


@pytest.mark.e2e
def test_unhealthy_backend_triggers_immediate_rollback_then_resolves(tmp_path: Path) -> None:
    tools = {name: require_tool(name) for name in TOOLS}
    with loopback_stack(tmp_path, tools) as stack:
        # The entrypoint wrote each secret to the file Alertmanager reads, for its eyes only,
        # and none is left in the servers' environments or on their command lines.
        for name, path in secret_files(stack.config).items():
            assert Path(path).read_text() == stack.secrets[name]
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        for process in stack.processes.values():
            seen = Path(f"/proc/{process.pid}/environ").read_bytes()
            seen += Path(f"/proc/{process.pid}/cmdline").read_bytes()
            for value in stack.secrets.values():
                assert value.encode() not in seen
            assert b"PIPELINE_FILE" not in seen  # the entrypoint unset every file variable
        wait_until_probed_healthy(stack)
        turned_unhealthy = time.monotonic()
        stack.apps[CRITICAL].healthy = False

        rollback = stack.receiver.wait_for(
            lambda n: n.path == "/rollback" and _health(n, "firing", CRITICAL),
            TIMEOUT,
            after=turned_unhealthy,
        )
        alert = alerts_in(rollback, "firing", alertname="HealthCheckFailed")[0]
        assert alert["labels"]["rollback_strategy"] == "immediate"
        assert alert["labels"]["service"] == CRITICAL
        assert alert["labels"]["environment"] == _STAGING.environment
        assert alert["labels"]["severity"] == "critical"
        assert alert["annotations"]["runbook_url"].endswith("#runbook-healthcheckfailed")
        # The bearer token came from the secret file, not from the rendered config.
        assert rollback.authorization == f"Bearer {E2E_SECRETS['rollback_webhook_token']}"

        # Critical: PagerDuty (key read from its file) and Slack (URL read from its file) too.
        pagerduty = stack.receiver.wait_for(
            lambda n: n.path == "/pagerduty", TIMEOUT, after=turned_unhealthy
        )
        assert pagerduty.body["routing_key"] == E2E_SECRETS["pagerduty_routing_key"]
        stack.receiver.wait_for(lambda n: n.path == "/slack", TIMEOUT, after=turned_unhealthy)
        # And email, logged in with the password read from its file.
        mail = stack.mailbox.wait_for(
            lambda m: f"HealthCheckFailed {CRITICAL}" in m.message["Subject"],
            TIMEOUT,
            after=turned_unhealthy,
        )
        receivers = stack.config.receivers
        assert mail.login == (receivers.smtp_username, E2E_SECRETS["smtp_password"])
        assert mail.message["Subject"] == (
            f"[FIRING:1] HealthCheckFailed {CRITICAL} ({_STAGING.environment})"
        )
        assert mail.envelope_to == receivers.email_to
        assert mail.message["From"] == receivers.email_from

        recovered = time.monotonic()
        stack.apps[CRITICAL].healthy = True
        stack.receiver.wait_for(
            lambda n: n.path == "/rollback" and _health(n, "resolved", CRITICAL),
            TIMEOUT,
            after=recovered,
        )

        # Only that service was unhealthy: no other service ever triggered a rollback.
        fired = {
            a["labels"]["service"]
            for n in stack.receiver.received
            if n.path == "/rollback"
            for a in alerts_in(n, "firing", alertname="HealthCheckFailed")
        }
        assert fired == {CRITICAL}
