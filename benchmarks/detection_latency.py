"""Detection latency of the health rollback trigger, end to end on loopback.

The blackbox exporter, Prometheus and Alertmanager start as the Railway services do (the deployed
start commands and entrypoint, busybox's sh); Alertmanager posts to the real rollback service.
Measured from the moment the backend turns unhealthy to the webhook's arrival at the rollback
service, and to the first Railway rollback call.

The model the config implies, with P the probe interval, E the evaluation interval, N the
failures needed (the rule's `for` is (N-1) x P) and W the rollback route's group_wait: the first
failed probe comes U after the backend fails, U uniform in [0, P) (the probe's phase); the
next evaluation sees it V later, V uniform in [0, E), and the alert goes pending; it fires
(N-1) x P later and Alertmanager sends it after W. So the latency is at least (N-1) x P + W
(the minimum), on average (N-1) x P + P/2 + E/2 + W (the expectation), at most N x P + E + W
(the worst case). Each trial also reads when Prometheus made the alert pending (its
`activeAt`), which splits the latency into the phases U + V and the rest, which the model says
is `for` + W: what is beyond that is delivery (Prometheus to Alertmanager to the webhook).

Each trial fails the backend at a random moment of the probe interval, as a real failure
comes. Goal, with 20 trials: the median within 0.25 s of the expectation, every U + V within
0.25 s of P + E, and every delivery under 0.25 s; a regression of 0.5 s fails it: in `for`,
group_wait or the delivery on every trial, in the probes or evaluations through the median
(whose spread over 20 trials is about 0.12 s) and, on most trials, the U + V bound.

    .venv/bin/python -m benchmarks.detection_latency [--trials 20]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from monitoring import MonitoringConfig
from monitoring.rules import HEALTH_ALERT
from rollback.deploy import WEBHOOK_PATH
from rollback.service import build_service
from rollback.settings import Settings
from tests.conftest import THREE_SERVICES
from tests.monitoring import loopback
from tests.monitoring.loopback import Loopback, loopback_stack, wait_until_probed_healthy
from tests.railway.conftest import schema_path
from tests.railway.standin import RailwayStandIn, load_schema
from tests.rollback.conftest import TOKEN, rollback_yaml, services_yaml
from tests.rollback.standins import (
    GitHubStandIn,
    VercelStandIn,
    deploy_twice,
    platform_env,
    serve,
)

TOOLS = ("busybox", "prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter")
TIMEOUT = 60.0
Scope = MutableMapping[str, Any]
ASGI = Callable[[Scope, Any, Any], Awaitable[None]]


MARGIN = 0.25  # seconds: the goal's slack over the model, half the regression it must catch


@dataclass(frozen=True)
class Model:
    minimum: float
    expectation: float
    worst: float
    for_: float
    group_wait: float
    phases: float  # P + E: U + V stay under it

    @classmethod
    def of(cls, config: MonitoringConfig) -> Model:
        probe = config.probe_interval.total_seconds()
        evaluation = config.evaluation_interval.total_seconds()
        for_ = config.health_for.total_seconds()
        wait = config.routing.rollback_group_wait.total_seconds()
        return cls(
            minimum=for_ + wait,
            expectation=for_ + probe / 2 + evaluation / 2 + wait,
            worst=for_ + probe + evaluation + wait,
            for_=for_,
            group_wait=wait,
            phases=probe + evaluation,
        )


@dataclass(frozen=True)
class Sample:
    webhook: float  # seconds from the backend failing to the webhook at the rollback service
    pending: float  # from the backend failing to the alert going pending (the phases U + V)
    rollback: float  # to the first Railway rollback call

    def delivery(self, model: Model) -> float:
        """What is beyond the model once the alert is pending: `for` and group_wait aside."""
        return self.webhook - self.pending - model.for_ - model.group_wait


class Clock:
    """Wraps the service's ASGI app: when each webhook reached it."""

    def __init__(self) -> None:
        self.webhooks: list[float] = []

    def wrap(self, app: ASGI) -> ASGI:
        async def timed(scope: Scope, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"] == WEBHOOK_PATH:
                self.webhooks.append(time.monotonic())
            await app(scope, receive, send)

        return timed


def _wait(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("no rollback within the timeout")
        time.sleep(0.005)


def active_at(stack: Loopback) -> float:
    """When Prometheus made the backend's health alert pending (epoch seconds)."""
    response = loopback.get(
        f"{stack.prometheus_url}/api/v1/alerts", timeout=5, auth=stack.login("prometheus")
    )
    for alert in response.json()["data"]["alerts"]:
        labels = alert["labels"]
        if labels.get("alertname") == HEALTH_ALERT and labels.get("service") == "backend":
            return datetime.fromisoformat(alert["activeAt"].replace("Z", "+00:00")).timestamp()
    raise RuntimeError("Prometheus has no health alert for the backend")


def trial(stack: Loopback, clock: Clock, railway: RailwayStandIn) -> Sample:
    backend = stack.apps["backend"]
    wait_until_probed_healthy(stack)
    # That wait ends just after a probe; a real failure comes at any moment of the interval.
    time.sleep(random.uniform(0, stack.config.probe_interval.total_seconds()))
    rolled_back = len(railway.world.rollbacks)
    start, wall = time.monotonic(), time.time()
    backend.healthy = False
    _wait(lambda: any(t >= start for t in clock.webhooks))
    webhook = min(t for t in clock.webhooks if t >= start)
    pending = active_at(stack) - wall
    _wait(lambda: len(railway.world.rollbacks) > rolled_back)
    rollback = time.monotonic()
    backend.healthy = True
    return Sample(webhook - start, pending, rollback - start)


def run(
    trials: int, tools: dict[str, str], schema: Path, workdir: Path
) -> tuple[Model, list[Sample]]:
    samples: list[Sample] = []
    model: Model | None = None
    for number in range(trials):  # a fresh service and stand-ins: one action per alert group
        railway = deploy_twice(RailwayStandIn(load_schema(schema)).start())
        vercel, github = VercelStandIn(), GitHubStandIn()
        vercel.start()
        github.start()
        clock = Clock()
        settings = Settings.from_env(
            {
                "ROLLBACK_CONFIG": rollback_yaml(),
                "ROLLBACK_SERVICES": services_yaml(),
                "ROLLBACK_WEBHOOK_TOKEN": TOKEN,
                "ROLLBACK_AUDIT_LOG": str(workdir / f"audit-{number}.jsonl"),
                **platform_env(railway.url, vercel, github),
            }
        )
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            service = build_service(settings)  # its "started" line
        try:
            with (
                serve(service, clock.wrap) as url,
                loopback_stack(
                    workdir / f"trial-{number}",
                    tools,
                    rollback_url=f"{url}{WEBHOOK_PATH}",
                    webhook_token=TOKEN,
                    project_dir=THREE_SERVICES,  # the rollback service's fixture product
                ) as stack,
            ):
                with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
                    sample = trial(stack, clock, railway)  # the service's decisions: not here
                    service.executor.wait_idle(TIMEOUT)
                model = Model.of(stack.config)
                samples.append(sample)
                print(
                    f"trial {number + 1}: webhook {sample.webhook:.2f} s (pending after "
                    f"{sample.pending:.2f} s, delivery {sample.delivery(model):.2f} s), "
                    f"first Railway rollback {sample.rollback:.2f} s",
                    flush=True,
                )
        finally:
            service.close()
            railway.stop()
            vercel.stop()
            github.stop()
    assert model is not None
    return model, samples


def main() -> int:
    warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")  # loopback SMTP
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    found = {name: shutil.which(name) for name in TOOLS}
    missing = [name for name, path in found.items() if path is None]
    schema = schema_path()
    if missing or schema is None:
        print(f"missing: {', '.join(missing) or 'Railway schema'}", file=sys.stderr)
        return 2
    tools = {name: path for name, path in found.items() if path}
    with tempfile.TemporaryDirectory() as workdir:
        model, samples = run(args.trials, tools, schema, Path(workdir))
    webhooks = [s.webhook for s in samples]
    deliveries = [s.delivery(model) for s in samples]
    median = statistics.median(webhooks)
    print(
        f"model: minimum {model.minimum:.2f} s, expectation {model.expectation:.2f} s, "
        f"worst {model.worst:.2f} s"
    )
    print(
        f"webhook at the rollback service (n={len(samples)}): median {median:.2f} s "
        f"({median - model.expectation:+.2f} s on the expectation), min {min(webhooks):.2f} s, "
        f"max {max(webhooks):.2f} s ({max(webhooks) - model.worst:+.2f} s on the worst case)"
    )
    print(
        f"delivery beyond for + group_wait: median {statistics.median(deliveries):.2f} s, "
        f"max {max(deliveries):.2f} s"
    )
    print(f"first Railway rollback: median {statistics.median(s.rollback for s in samples):.2f} s")
    pending = max(s.pending for s in samples)
    print(f"pending after U + V: max {pending:.2f} s (the model: under {model.phases:.2f} s)")
    met = (
        median <= model.expectation + MARGIN
        and pending <= model.phases + MARGIN
        and max(deliveries) <= MARGIN
    )
    print(
        f"goal (median <= expectation + {MARGIN} s; every pending <= P + E + {MARGIN} s and "
        f"every delivery <= {MARGIN} s): {'met' if met else 'NOT met'}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
