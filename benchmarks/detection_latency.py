"""Detection latency of the health rollback trigger, end to end on loopback.

From the moment the backend turns unhealthy to the arrival of the rollback webhook, against the
floor the config implies: failures needed x probe interval + evaluation interval + group_wait.

    .venv/bin/python -m benchmarks.detection_latency [--trials 5]
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.monitoring.loopback import Loopback, alerts_in, loopback_stack, wait_until_probed_healthy

TOOLS = ("prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter")
TIMEOUT = 60.0


def floor_seconds(stack: Loopback) -> float:
    config = stack.config
    failures = config.triggers.health_check.consecutive_failures
    return (
        failures * config.probe_interval.total_seconds()
        + config.evaluation_interval.total_seconds()
        + config.routing.rollback_group_wait.total_seconds()
    )


def _trial(stack: Loopback) -> float:
    backend = stack.apps["backend"]
    start = time.monotonic()
    backend.healthy = False
    note = stack.receiver.wait_for(
        lambda n: (
            n.path == "/rollback"
            and bool(alerts_in(n, "firing", alertname="HealthCheckFailed", service="backend"))
        ),
        TIMEOUT,
        after=start,
    )
    recovered = time.monotonic()
    backend.healthy = True
    stack.receiver.wait_for(
        lambda n: (
            n.path == "/rollback"
            and bool(alerts_in(n, "resolved", alertname="HealthCheckFailed", service="backend"))
        ),
        TIMEOUT,
        after=recovered,
    )
    return note.arrived - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    tools = {name: shutil.which(name) for name in TOOLS}
    missing = [name for name, path in tools.items() if path is None]
    if missing:
        print(f"missing tools: {', '.join(missing)}", file=sys.stderr)
        return 2
    with (
        tempfile.TemporaryDirectory() as workdir,
        loopback_stack(Path(workdir), {k: v for k, v in tools.items() if v}) as stack,
    ):
        wait_until_probed_healthy(stack)
        floor = floor_seconds(stack)
        latencies = []
        for trial in range(1, args.trials + 1):
            wait_until_probed_healthy(stack)
            latency = _trial(stack)
            latencies.append(latency)
            print(f"trial {trial}: {latency:.2f}s (ratio {latency / floor:.2f})")
    median = statistics.median(latencies)
    print(f"floor (failures x probe + evaluation + group_wait): {floor:.2f}s")
    print(f"median detection latency: {median:.2f}s  max: {max(latencies):.2f}s")
    print(f"median / floor: {median / floor:.2f}  max / floor: {max(latencies) / floor:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
