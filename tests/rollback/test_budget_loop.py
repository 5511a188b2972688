"""The error-budget loop on loopback: a service whose errors spend its budget is scraped by the
real Prometheus, whose ErrorBudgetExhausted reaches the real rollback service through the real
Alertmanager; the service freezes deploys at the GitHub stand-in, with the budget's reason, and
rolls nothing back.

Scaled to run in seconds: a 99% objective over a 30s window, burn-rate tiers within it,
`exhaustedFor` 1s, 250ms scrapes and evaluations; the loopback stack is staging, so the stack
asks for the freeze (`sloAlerting.freeze`), as production does by default."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from monitoring import render
from rollback.budget import BUDGET_PREFIX
from rollback.deploy import WEBHOOK_PATH
from tests.conftest import THREE_SERVICES
from tests.monitoring.conftest import require_tool
from tests.monitoring.loopback import Traffic, loopback_stack, query
from tests.railway.standin import RailwayStandIn
from tests.rollback.conftest import (
    TARGET,
    TOKEN,
    WAIT,
    ServiceFactory,
    audit_events,
    monitoring_config,
)
from tests.rollback.standins import GitHubStandIn, serve

pytestmark = pytest.mark.e2e
TOOLS = ("busybox", "prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter")
SERVICE = sorted(TARGET.scraped())[0]  # a service of the loopback (staging) stack with metrics
SLO: dict[str, Any] = {
    "scrapeInterval": "250ms",
    "scrapeTimeout": "250ms",
    "evaluationInterval": "250ms",
    "sloAlerting": {
        "tiers": [
            {"factor": 14.4, "longWindow": "4s", "shortWindow": "1s", "action": "page"},
            {"factor": 6, "longWindow": "8s", "shortWindow": "2s", "action": "page"},
            {"factor": 3, "longWindow": "16s", "shortWindow": "4s", "action": "ticket"},
            {"factor": 1, "longWindow": "24s", "shortWindow": "6s", "action": "ticket"},
        ],
        "exhaustedFor": "1s",
        "freeze": True,
    },
    "slos": {
        SERVICE: [
            {"name": "availability", "objective": 99, "window": "30s",
             "sli": {"kind": "availability"}},
        ]
    },
}  # fmt: skip


def test_a_spent_budget_freezes_deploys_through_the_deployed_servers(
    tmp_path: Path,
    make_service: ServiceFactory,
    railway: RailwayStandIn,
    github: GitHubStandIn,
) -> None:
    tools = {name: require_tool(name) for name in TOOLS}
    # The service's policy, rendered from the same objectives.
    policy = render(monitoring_config(SLO), TARGET)["rollback-config.yml"]
    service = make_service(yaml=policy)
    with (
        serve(service) as url,
        loopback_stack(tmp_path, tools, rollback_url=f"{url}{WEBHOOK_PATH}", webhook_token=TOKEN,
                       overrides=SLO, project_dir=THREE_SERVICES) as stack,
    ):  # fmt: skip
        traffic = stack.apps[SERVICE].traffic = Traffic(200.0)
        traffic.set(0.05)  # five times the 1% budget, from the start
        deadline = time.monotonic() + WAIT
        while "DEPLOY_FREEZE" not in github.variables.get(TARGET.environment, {}):
            assert time.monotonic() < deadline, "the freeze was never set"
            time.sleep(0.1)
        remaining = query(stack, f'slo:error_budget_remaining:ratio{{service="{SERVICE}"}}')
        assert service.budget.idle(WAIT)

    assert float(remaining[0]["value"][1]) <= 0
    variables = github.variables[TARGET.environment]
    assert variables["DEPLOY_FREEZE"] == "true"
    assert variables["DEPLOY_FREEZE_REASON"].startswith(f"{BUDGET_PREFIX}{SERVICE}/availability")
    assert railway.world.rollbacks == []  # a spent budget freezes; it never rolls back
    [frozen] = [r for r in audit_events(service, "budget") if r["action"] == "freeze"]
    assert frozen["outcome"] == "succeeded"
