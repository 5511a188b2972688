"""The loop the spec exists for, on loopback: a backend whose health check fails is probed by the
blackbox exporter, alerted on by Prometheus and routed by Alertmanager, all three started by the
deployed entrypoint and start commands, to the real rollback service, which rolls the Railway
stand-in back (and the Vercel frontend, and freezes deploys: the immediate strategy)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rollback.deploy import WEBHOOK_PATH
from tests.conftest import THREE_SERVICES
from tests.monitoring import loopback
from tests.monitoring.conftest import require_tool
from tests.monitoring.loopback import (
    Loopback,
    loopback_stack,
    query,
    wait_until_probed_healthy,
)
from tests.railway.standin import RailwayStandIn
from tests.rollback.conftest import TOKEN, WAIT, ServiceFactory, audit_events, rollback_yaml
from tests.rollback.standins import GitHubStandIn, VercelStandIn, bearer, serve, webhook

pytestmark = pytest.mark.e2e
TOOLS = ("busybox", "prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter")


def test_a_failing_health_check_rolls_back_through_the_deployed_servers(
    tmp_path: Path,
    make_service: ServiceFactory,
    railway: RailwayStandIn,
    vercel: VercelStandIn,
    github: GitHubStandIn,
) -> None:
    tools = {name: require_tool(name) for name in TOOLS}
    service = make_service()
    with (
        serve(service) as url,
        loopback_stack(
            tmp_path,
            tools,
            rollback_url=f"{url}{WEBHOOK_PATH}",
            webhook_token=TOKEN,
            project_dir=THREE_SERVICES,
        ) as stack,
    ):
        wait_until_probed_healthy(stack)
        assert railway.world.rollbacks == []
        stack.apps["backend"].healthy = False
        deadline = time.monotonic() + WAIT
        while len(railway.world.rollbacks) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert service.executor.wait_idle(WAIT)
        time.sleep(2.5)  # more group intervals (1s): a second action would show up now

    assert len(railway.world.rollbacks) == 2  # immediate: backend and worker
    assert vercel.promotions() == ["dpl_2"]
    assert github.variables["staging"]["DEPLOY_FREEZE"] == "true"
    [admitted] = audit_events(service, "admitted")
    assert admitted["strategy"] == "immediate"
    assert not audit_events(service, "unauthorized")  # the token came from the written file


def _firing(stack: Loopback, alertname: str, after: float) -> list[dict[str, str]]:
    """The labels of `alertname` as Prometheus fires it, once Alertmanager has posted it to
    Slack (whose message names it in its title)."""
    stack.receiver.wait_for(
        lambda n: n.path == "/slack" and f"[FIRING:1] {alertname} " in json.dumps(n.body),
        WAIT,
        after=after,
    )
    found = query(stack, f'ALERTS{{alertname="{alertname}", alertstate="firing"}}')
    return [r["metric"] for r in found]


def test_a_rollback_whose_platform_call_fails_alerts_on_the_first_failure(
    tmp_path: Path, make_service: ServiceFactory, vercel: VercelStandIn
) -> None:
    """RollbackActionsFailing, through the real Prometheus scraping the real service: the
    failure counter exists at 0 from the service's start, so its first failure is an increase."""
    tools = {name: require_tool(name) for name in TOOLS}
    vercel.fail_next = 10_000  # Vercel answers 500, whatever the retries
    fast = {"timeout": "2s", "actions": ["rollback_affected_service"],
            "notifications": ["slack", "email"]}  # fmt: skip
    service = make_service(yaml=rollback_yaml(fast=fast))
    failed = 'rollback_actions_total{outcome="failed", exported_service="frontend"}'
    with (
        serve(service) as url,
        loopback_stack(tmp_path, tools, rollback_url=f"{url}{WEBHOOK_PATH}", webhook_token=TOKEN,
                       project_dir=THREE_SERVICES)
        as stack,
    ):  # fmt: skip
        deadline = time.monotonic() + WAIT
        while not query(stack, failed) and time.monotonic() < deadline:
            time.sleep(0.2)
        before = query(stack, failed)
        sent = time.monotonic()
        payload = webhook("g-latency", alertname="HighLatencyP95", service="frontend",
                          strategy="fast")  # fmt: skip
        loopback.post(f"{url}{WEBHOOK_PATH}", json=payload, headers=bearer(TOKEN), timeout=10)
        alert = _firing(stack, "RollbackActionsFailing", after=sent)
    assert [r["value"][1] for r in before] == ["0"]  # scraped at 0 before anything failed
    [action] = audit_events(service, "action")
    assert action["outcome"] == "failed" and vercel.promotions() == []
    assert [a["severity"] for a in alert] == ["critical"]


def test_a_token_that_differs_between_alertmanager_and_the_service_alerts(
    tmp_path: Path, make_service: ServiceFactory, railway: RailwayStandIn
) -> None:
    """Alertmanager's token file and the service's token differ (a rotation done on one side):
    every webhook is refused while the service's /health stays 200. Two alerts say so."""
    tools = {name: require_tool(name) for name in TOOLS}
    service = make_service()
    with (
        serve(service) as url,
        loopback_stack(tmp_path, tools, rollback_url=f"{url}{WEBHOOK_PATH}",
                       webhook_token="a-token-rotated-on-one-side-only",
                       project_dir=THREE_SERVICES) as stack,
    ):  # fmt: skip
        wait_until_probed_healthy(stack)
        unhealthy = time.monotonic()
        stack.apps["backend"].healthy = False
        refused = _firing(stack, "RollbackWebhooksRefused", after=unhealthy)
        failing = _firing(stack, "AlertmanagerNotificationsFailing", after=unhealthy)
        health = loopback.get(f"{url}/health", timeout=5)
    assert health.status_code == 200  # the service itself looks fine
    assert railway.world.rollbacks == []  # nothing reached it
    assert [(a["service"], a["severity"]) for a in refused] == [("rollback", "critical")]
    assert "webhook" in {a["integration"] for a in failing}
