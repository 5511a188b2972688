"""An alert storm: 1,000 webhooks for 20 groups within 10 s, some repeated, some resolved,
lead to exactly one action per firing group and none for the others.

Groups of one service take turns (a group waits while another rolls the service back). One
that resolves while it waits rightly does nothing, so the storm ends as Alertmanager's next
flush would: one more firing webhook of each group still firing."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from rollback.service import build_service
from rollback.settings import Settings
from tests.rollback.conftest import RECORDED_PLATFORMS, TOKEN, WAIT, audit_events, rollback_yaml
from tests.rollback.standins import RecordingActions, bearer, serve, webhook

pytestmark = pytest.mark.e2e  # the service on 127.0.0.1

WEBHOOKS = 1_000
CONCURRENCY = 16


def storm(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], set[str], set[str]]:
    """12 groups that fire (and are re-sent, some later resolved), 8 that only resolve."""
    rng = random.Random(seed)
    kinds = [
        {"alertname": "HighLatencyP95", "strategy": "fast"},
        {"alertname": "HighErrorRate", "strategy": "fast"},
        {"alertname": "ConversionRateDrop", "strategy": "gradual"},
    ]
    services = ("frontend", "backend", "worker")
    firing = {f"fire-{n}" for n in range(12)}
    resolved_only = {f"resolved-{n}" for n in range(8)}
    payloads: list[dict[str, Any]] = []
    labels = {}
    for n, group in enumerate(sorted(firing | resolved_only)):
        labels[group] = {**kinds[n % len(kinds)], "service": services[n % len(services)]}
    for group in sorted(firing):  # each firing group: its first payload is firing
        payloads.append(webhook(group, "firing", **labels[group]))
    while len(payloads) < WEBHOOKS:
        group = rng.choice(sorted(firing | resolved_only))
        # A resolve during a gradual watch rightly calls it off: keep those groups firing.
        resolvable = labels[group]["strategy"] != "gradual" and rng.random() < 0.2
        status = "resolved" if group in resolved_only or resolvable else "firing"
        payloads.append(webhook(group, status, **labels[group]))
    head, tail = payloads[: len(firing)], payloads[len(firing) :]
    rng.shuffle(tail)
    still_firing = [webhook(group, "firing", **labels[group]) for group in sorted(firing)]
    return head + tail, still_firing, firing, resolved_only


async def send_all(url: str, payloads: list[dict[str, Any]]) -> list[int]:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for payload in payloads:
        queue.put_nowait(payload)
    statuses: list[int] = []
    async with httpx.AsyncClient(base_url=url, timeout=10, headers=bearer(TOKEN)) as client:

        async def worker() -> None:
            while not queue.empty():
                payload = queue.get_nowait()
                response = await client.post("/v1/alertmanager", json=payload)
                statuses.append(response.status_code)

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return statuses


def test_alert_storm_acts_once_per_firing_group(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "ROLLBACK_CONFIG": rollback_yaml(),
            "ROLLBACK_WEBHOOK_TOKEN": TOKEN,
            "ROLLBACK_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
            "ROLLBACK_GRADUAL_WATCH": "200ms",
            # Several groups hit the same service here; lift the loop guard so that each
            # firing group's own action is visible (the guard has its own test).
            "ROLLBACK_SERVICE_LOCKOUT": "1ms",
            **RECORDED_PLATFORMS,
        }
    )
    actions = RecordingActions()
    service = build_service(settings, actions=actions)
    payloads, still_firing, firing, resolved_only = storm(seed=8)
    with serve(service) as url:
        statuses = asyncio.run(send_all(url, payloads))
        statuses += asyncio.run(send_all(url, still_firing))
        assert service.executor.wait_idle(WAIT)
    assert len(statuses) == WEBHOOKS + len(firing) and set(statuses) == {200}
    acted = [r["groupKey"] for r in audit_events(service, "action")]
    assert sorted(acted) == sorted(firing)  # one action per firing group, none for the rest
    assert len(actions.calls) == len(firing)
    assert not set(acted) & resolved_only
