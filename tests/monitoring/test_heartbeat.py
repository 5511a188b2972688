"""The dead man's switch on loopback: the real Alertmanager (0.25, which has no `url_file`),
started by the deployed entrypoint, posts the Watchdog to the heartbeat URL it got as a secret
variable, and that URL is in no rendered file, log or other written file than the config
Alertmanager reads (mode 0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.monitoring import loopback
from tests.monitoring.conftest import require_tool
from tests.monitoring.loopback import alerts_in, loopback_stack

pytestmark = pytest.mark.e2e
TOOLS = ("busybox", "prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter")
TIMEOUT = 30.0
CANARY = "heartbeat-canary-0b7d4e"


def test_the_watchdog_reaches_the_secret_heartbeat_url_and_it_is_written_nowhere_else(
    tmp_path: Path,
) -> None:
    tools = {name: require_tool(name) for name in TOOLS}
    path = f"/ping/{CANARY}"
    with loopback_stack(tmp_path, tools, heartbeat=path) as stack:
        heartbeat = stack.receiver.wait_for(lambda n: n.path == path, TIMEOUT)
        anonymous = loopback.get(f"{stack.alertmanager_url}/api/v2/status", timeout=5)
    assert alerts_in(heartbeat, "firing", alertname="Watchdog")
    # only the receiver's URL path was secret; it never went anywhere else
    assert all(n.path != "/watchdog" for n in stack.receiver.received)
    holding = [p for p in tmp_path.rglob("*") if p.is_file() and CANARY.encode() in p.read_bytes()]
    assert [p.relative_to(tmp_path) for p in holding] == [
        Path("root/etc/alertmanager/alertmanager.yml")
    ]
    assert stat.S_IMODE(os.stat(holding[0]).st_mode) == 0o600
    # Alertmanager 0.25's status API shows its config, this URL included, to a client that
    # logged in (who can silence everything anyway: docs/security.md), and to nobody else
    assert anonymous.status_code == 401 and CANARY not in anonymous.text
