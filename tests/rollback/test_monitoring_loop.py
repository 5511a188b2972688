"""The loop the spec exists for, on loopback: a backend whose health check fails is probed by the
blackbox exporter, alerted on by Prometheus and routed by Alertmanager, all three started by the
deployed entrypoint and start commands, to the real rollback service, which rolls the Railway
stand-in back (and the Vercel frontend, and freezes deploys: the immediate strategy)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rollback.deploy import WEBHOOK_PATH
from tests.monitoring.conftest import require_tool
from tests.monitoring.loopback import loopback_stack, wait_until_probed_healthy
from tests.railway.standin import RailwayStandIn
from tests.rollback.conftest import TOKEN, WAIT, ServiceFactory, audit_events
from tests.rollback.standins import GitHubStandIn, VercelStandIn, serve

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
            tmp_path, tools, rollback_url=f"{url}{WEBHOOK_PATH}", webhook_token=TOKEN
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
