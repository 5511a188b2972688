"""Detection latency of the health rollback trigger, end to end on loopback.

The blackbox exporter, Prometheus and Alertmanager start as the Railway services do (the deployed
start commands and entrypoint, busybox's sh); Alertmanager posts to the real rollback service.
Measured from the moment the backend turns unhealthy to the webhook's arrival at the rollback
service, and to the first Railway rollback call, against the floor the config implies:
failures needed x probe interval + evaluation interval + group_wait.

    .venv/bin/python -m benchmarks.detection_latency [--trials 5]
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from monitoring import MonitoringConfig
from rollback.deploy import WEBHOOK_PATH
from rollback.service import build_service
from rollback.settings import Settings
from tests.monitoring.loopback import Loopback, loopback_stack, wait_until_probed_healthy
from tests.railway.conftest import schema_path
from tests.railway.standin import RailwayStandIn, load_schema
from tests.rollback.conftest import TOKEN, rollback_yaml
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


def floor_seconds(config: MonitoringConfig) -> float:
    failures = config.triggers.health_check.consecutive_failures
    return (
        failures * config.probe_interval.total_seconds()
        + config.evaluation_interval.total_seconds()
        + config.routing.rollback_group_wait.total_seconds()
    )


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


def trial(stack: Loopback, clock: Clock, railway: RailwayStandIn) -> tuple[float, float]:
    backend = stack.apps["backend"]
    wait_until_probed_healthy(stack)
    rolled_back = len(railway.world.rollbacks)
    start = time.monotonic()
    backend.healthy = False
    _wait(lambda: any(t >= start for t in clock.webhooks))
    webhook = min(t for t in clock.webhooks if t >= start)
    _wait(lambda: len(railway.world.rollbacks) > rolled_back)
    rollback = time.monotonic()
    backend.healthy = True
    return webhook - start, rollback - start


def run(trials: int, tools: dict[str, str], schema: Path, workdir: Path) -> list[tuple[float, ...]]:
    samples = []
    for number in range(trials):  # a fresh service and stand-ins: one action per alert group
        railway = deploy_twice(RailwayStandIn(load_schema(schema)).start())
        vercel, github = VercelStandIn(), GitHubStandIn()
        vercel.start()
        github.start()
        clock = Clock()
        settings = Settings.from_env(
            {
                "ROLLBACK_CONFIG": rollback_yaml(),
                "ROLLBACK_WEBHOOK_TOKEN": TOKEN,
                "ROLLBACK_AUDIT_LOG": str(workdir / f"audit-{number}.jsonl"),
                **platform_env(railway.url, vercel, github),
            }
        )
        service = build_service(settings)
        try:
            with (
                serve(service, clock.wrap) as url,
                loopback_stack(
                    workdir / f"trial-{number}",
                    tools,
                    rollback_url=f"{url}{WEBHOOK_PATH}",
                    webhook_token=TOKEN,
                ) as stack,
            ):
                webhook, rollback = trial(stack, clock, railway)
                floor = floor_seconds(stack.config)
                samples.append((webhook, rollback, floor))
                print(
                    f"trial {number + 1}: webhook {webhook:.2f}s (ratio {webhook / floor:.2f}), "
                    f"first Railway rollback {rollback:.2f}s"
                )
                service.executor.wait_idle(TIMEOUT)
        finally:
            service.close()
            railway.stop()
            vercel.stop()
            github.stop()
    return samples


def main() -> int:
    warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")  # loopback SMTP
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    found = {name: shutil.which(name) for name in TOOLS}
    missing = [name for name, path in found.items() if path is None]
    schema = schema_path()
    if missing or schema is None:
        print(f"missing: {', '.join(missing) or 'Railway schema'}", file=sys.stderr)
        return 2
    tools = {name: path for name, path in found.items() if path}
    with tempfile.TemporaryDirectory() as workdir:
        samples = run(args.trials, tools, schema, Path(workdir))
    webhooks = [s[0] for s in samples]
    rollbacks = [s[1] for s in samples]
    floor = samples[0][2]
    median = statistics.median(webhooks)
    print(f"floor (failures x probe + evaluation + group_wait): {floor:.2f}s")
    print(f"webhook at the rollback service: median {median:.2f}s, max {max(webhooks):.2f}s")
    print(f"median / floor: {median / floor:.2f}  max / floor: {max(webhooks) / floor:.2f}")
    print(f"first Railway rollback: median {statistics.median(rollbacks):.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
