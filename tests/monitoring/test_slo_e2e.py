"""The SLO alerts end to end on loopback: the real Prometheus and Alertmanager, started by the
deployed start commands and entrypoint, page on a steady error rate just above the fast tier's
factor within its long window, and mute a slower tier while a faster one fires.

Time is scaled so that it runs in seconds: the tiers' windows are the workbook's divided by 300
(1h -> 12s, 5m -> 1s, ...) over a 2.4h objective window (30d / 300), scraped and evaluated every
250ms. Factors, objective, floor and routing are the real ones."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitoring.durations import format_duration
from monitoring.slo_config import WORKBOOK_TIERS
from tests.conftest import target_of
from tests.monitoring import loopback
from tests.monitoring.conftest import require_tool
from tests.monitoring.loopback import (
    Loopback,
    Notification,
    Traffic,
    alerts_in,
    loopback_stack,
    query,
)

pytestmark = pytest.mark.e2e
TOOLS = ("busybox", "prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter")
SCALE = 300
OBJECTIVE = 99.0  # a 1% budget: the fast tier pages above 14.4% bad requests
RATE = 200.0  # requests per second: a 1s short window holds 200, so 14.4% is 29 of them
# The loopback stack is staging's: an objective of one of its scraped services.
STAGING = target_of("staging")
SERVICE = sorted(STAGING.scraped())[0]
SCALED: dict[str, Any] = {
    "scrapeInterval": "250ms",
    "scrapeTimeout": "250ms",
    "evaluationInterval": "250ms",
    "sloAlerting": {
        "tiers": [
            {"factor": t.factor, "longWindow": t.long_window / SCALE,
             "shortWindow": t.short_window / SCALE, "action": t.action}
            for t in WORKBOOK_TIERS
        ],
    },
    "slos": {
        SERVICE: [
            {"name": "availability", "objective": OBJECTIVE, "window": timedelta(days=30) / SCALE,
             "sli": {"kind": "availability"}},
        ]
    },
}  # fmt: skip
FAST = WORKBOOK_TIERS[0]
LONG = (FAST.long_window / SCALE).total_seconds()
# The fast tier alone: a slower tier's long window (up to 3d / 300 = 14m24s) cannot be filled
# with history in a test, and over a few seconds of data it would fire on the same burn.
FAST_ONLY = {**SCALED, "sloAlerting": {"tiers": SCALED["sloAlerting"]["tiers"][:1]}}


def _page(note: Notification) -> bool:
    return note.path == "/pagerduty" and "ErrorBudgetBurn" in str(note.body)


def _history(stack: Loopback) -> None:
    """Good traffic for a whole fast long window, as Prometheus has it recorded."""
    deadline = time.monotonic() + 20
    while not query(stack, f'slo:sli_requests:increase1s{{service="{SERVICE}"}} > 0'):
        assert time.monotonic() < deadline, f"Prometheus never recorded {SERVICE}'s traffic"
        time.sleep(0.2)
    time.sleep(LONG)


def test_a_steady_error_rate_just_above_the_fast_factor_pages_within_the_fast_window(
    tmp_path: Path,
) -> None:
    tools = {name: require_tool(name) for name in TOOLS}
    with loopback_stack(tmp_path, tools, overrides=FAST_ONLY) as stack:
        traffic = stack.apps[SERVICE].traffic = Traffic(RATE)
        _history(stack)
        share = FAST.factor * (100 - OBJECTIVE) / 100 * 1.1  # 10% above the factor
        burning = time.monotonic()
        traffic.set(share)
        page = stack.receiver.wait_for(_page, 3 * LONG, after=burning)
        took = page.arrived - burning
        fired = query(stack, 'ALERTS{alertname="ErrorBudgetBurn", alertstate="firing"}')

    # The long window fills with the burn at 1/1.1 of its length: never after the short window
    # alone, always within the long window (and the evaluation and delivery after it).
    assert LONG / 2 < took < LONG + 3, f"paged {took:.1f}s after the burn began"
    # The fast tier alone: the slower ones need longer windows of the burn.
    assert [r["metric"]["burnrate_tier"] for r in fired] == [
        format_duration(FAST.long_window / SCALE)
    ]
    assert f"{SERVICE}/availability" in page.body["payload"]["summary"]


def test_a_firing_tier_mutes_the_slower_tiers_of_its_objective(tmp_path: Path) -> None:
    """Alertmanager's inhibit rules, with alerts posted to it as Prometheus posts them."""
    tools = {name: require_tool(name) for name in TOOLS}
    with loopback_stack(tmp_path, tools, overrides=SCALED) as stack:
        tiers = [format_duration(t.long_window / SCALE) for t in WORKBOOK_TIERS]

        def post(tier: str, action: str, ends: str | None = None) -> None:
            labels = {"alertname": "ErrorBudgetBurn", "service": SERVICE, "slo": "availability",
                      "environment": STAGING.environment, "burnrate_tier": tier,
                      "slo_action": action,
                      "severity": "critical" if action == "page" else "warning"}  # fmt: skip
            alert: dict[str, Any] = {"labels": labels, "annotations": {"summary": tier}}
            if ends:
                alert["endsAt"] = ends
            loopback.post(f"{stack.alertmanager_url}/api/v2/alerts", json=[alert],
                       auth=stack.login("alertmanager"), timeout=5).raise_for_status()  # fmt: skip

        start = time.monotonic()
        post(tiers[0], "page")
        stack.receiver.wait_for(lambda n: n.path == "/pagerduty", 10, after=start)
        post(tiers[2], "ticket")  # a ticket tier begins while the page tier fires
        time.sleep(3)  # three group intervals
        muted = [n for n in stack.receiver.received if n.path == "/rollback"]
        # The page tier resolves: the ticket tier is heard now, at the rollback service.
        resolved = time.monotonic()
        post(tiers[0], "page", ends=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        ticket = stack.receiver.wait_for(
            lambda n: n.path == "/rollback" and bool(alerts_in(n, "firing", slo_action="ticket")),
            10,
            after=resolved,
        )
    assert muted == []
    assert [a["labels"]["burnrate_tier"] for a in alerts_in(ticket, "firing")] == [tiers[2]]
