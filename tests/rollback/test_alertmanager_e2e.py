"""End to end: the real Alertmanager, configured by `monitoring.render`, delivers a rollback
alert with its bearer token (read from a file) to the real service, which rolls back through
the Railway, Vercel and GitHub stand-ins, once, although Alertmanager is told twice."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitoring import render, secret_files
from tests.monitoring import loopback
from tests.monitoring.conftest import require_tool
from tests.monitoring.loopback import LOOPBACK, _stop, _wait_ready, loopback_config
from tests.railway.standin import RailwayStandIn
from tests.rollback.conftest import (
    TARGET,
    TOKEN,
    WAIT,
    ServiceFactory,
    audit_events,
    monitoring_config,
)
from tests.rollback.standins import GitHubStandIn, VercelStandIn, serve

pytestmark = pytest.mark.e2e


def test_alertmanager_delivers_to_the_service_which_acts_once(
    tmp_path: Path,
    make_service: ServiceFactory,
    railway: RailwayStandIn,
    vercel: VercelStandIn,
    github: GitHubStandIn,
) -> None:
    binary = require_tool("prometheus-alertmanager")
    service = make_service()
    with serve(service) as url:
        secrets = tmp_path / "secrets"
        secrets.mkdir()
        overrides = loopback_config(monitoring_config(), "http://127.0.0.1:9", secrets)
        overrides["receivers"]["rollbackWebhookUrl"] = f"{url}/v1/alertmanager"
        config = monitoring_config(overrides)
        for name, path in secret_files(config).items():
            Path(path).write_text(TOKEN if name == "rollback_webhook_token" else "unused")
        tree = tmp_path / "monitoring"
        for relative, content in render(config, TARGET).items():
            (tree / relative).parent.mkdir(parents=True, exist_ok=True)
            (tree / relative).write_text(content)
        address = config.addresses.alertmanager
        log = (tmp_path / "alertmanager.log").open("wb")
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={tree / 'alertmanager/alertmanager.yml'}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address={address}",
                "--cluster.listen-address=",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_ready(f"http://{address}/-/ready", process)
            alert = [
                {
                    "labels": {
                        "alertname": "HealthCheckFailed",
                        "service": "backend",
                        "environment": "staging",
                        "severity": "critical",
                        "rollback_strategy": "immediate",
                    },
                    "annotations": {"summary": "backend health check failing"},
                    "startsAt": datetime.now(UTC).isoformat(),
                    "endsAt": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
                }
            ]
            for _ in range(2):  # Prometheus re-sends firing alerts every evaluation
                loopback.post(f"http://{address}/api/v2/alerts", json=alert, timeout=5)
                time.sleep(1.5)
            deadline = time.monotonic() + WAIT
            while not audit_events(service, "finished") and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(2.5)  # more group_intervals (1s): any re-delivery would show up now
            assert service.executor.wait_idle(WAIT)
        finally:
            _stop(process)
            log.close()
    assert LOOPBACK in url
    assert [r["event"] for r in audit_events(service, "admitted")] == ["admitted"]
    assert len(railway.world.rollbacks) == 2  # backend and worker
    assert vercel.promotions() == ["dpl_2"]
    assert github.variables["staging"]["DEPLOY_FREEZE"] == "true"
    assert not audit_events(service, "unauthorized")  # the token came from the file
