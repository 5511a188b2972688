"""Rollback reaction time, per strategy: from sending the webhook to the first rollback call
reaching the platform stand-in (Vercel promote, Railway deploymentRollback), on 127.0.0.1,
against the strategy's timeout. Our own time only: the stand-ins answer at once. gradual's
figure includes its watch (set to 0.5 s here; 5 min by default).

    .venv/bin/python -m benchmarks.rollback_latency [--trials 20]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from graphql import GraphQLSchema

from rollback.settings import Settings
from tests.conftest import validated_stack
from tests.railway.conftest import schema_path
from tests.railway.standin import RailwayStandIn, load_schema
from tests.rollback.conftest import TOKEN, rollback_yaml, services_yaml
from tests.rollback.process import ServiceProcess
from tests.rollback.standins import (
    GitHubStandIn,
    VercelStandIn,
    bearer,
    deploy_twice,
    platform_env,
    webhook,
)

CASES = {
    "immediate": {"alertname": "HealthCheckFailed", "service": "frontend"},
    "fast": {"alertname": "HighLatencyP95", "service": "backend"},
    "gradual": {"alertname": "ConversionRateDrop", "service": "backend"},
}


def trial(strategy: str, schema: GraphQLSchema, workdir: Path) -> float:
    railway = deploy_twice(RailwayStandIn(schema).start())
    vercel, github = VercelStandIn(), GitHubStandIn()
    vercel.start()
    github.start()
    env = {
        "ROLLBACK_CONFIG": rollback_yaml(),
        "ROLLBACK_SERVICES": services_yaml(),
        "ROLLBACK_WEBHOOK_TOKEN": TOKEN,
        "ROLLBACK_AUDIT_LOG": str(workdir / f"audit-{time.monotonic_ns()}.jsonl"),
        "ROLLBACK_GRADUAL_WATCH": "500ms",
        **platform_env(railway.url, vercel, github),
    }
    Settings.from_env(env)  # a bad setting stops here, with its message, not as a timeout
    # The service in its own process, as deployed: the stand-ins' threads (and the collector's
    # scans of the schema they hold) do not compete with it for this process's interpreter.
    service = ServiceProcess(env).wait_ready()
    try:
        with httpx.Client(base_url=service.url, headers=bearer(TOKEN)) as http:
            http.get("/health")  # warm the connection
            payload = webhook("bench", strategy=strategy, **CASES[strategy])
            sent = time.monotonic()
            http.post("/v1/alertmanager", json=payload)
            if CASES[strategy]["service"] == "frontend":
                arrived = vercel.wait_for("POST", r".*/promote/\w+", 60).arrived
            else:
                deadline = time.monotonic() + 60
                while not railway.world.rollbacks and time.monotonic() < deadline:
                    time.sleep(0.001)
                arrived = time.monotonic()
        return arrived - sent
    finally:
        service.stop()
        railway.stop()
        vercel.stop()
        github.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    path = schema_path()
    if path is None:
        sys.exit("Railway's schema not found (../shared/railway/schema.graphql or $RAILWAY_SCHEMA)")
    schema = load_schema(path)
    # The stand-ins' objects (Railway's whole schema above all): kept out of the collector's
    # scans, they do not add its pauses to the stand-ins' answers.
    gc.freeze()
    strategies = validated_stack("production").monitoring.strategies
    print(f"{'strategy':<10} {'median':>9} {'p95':>9} {'max':>9} {'timeout':>8}  (n={args.trials})")
    with tempfile.TemporaryDirectory() as tmp:
        for name in CASES:
            samples = sorted(trial(name, schema, Path(tmp)) for _ in range(args.trials))
            p95 = samples[max(0, round(0.95 * len(samples)) - 1)]
            timeout = strategies.of(name).timeout.total_seconds()  # type: ignore[arg-type]
            print(
                f"{name:<10} {statistics.median(samples) * 1000:>7.1f}ms {p95 * 1000:>7.1f}ms "
                f"{samples[-1] * 1000:>7.1f}ms {timeout:>7.0f}s"
            )


if __name__ == "__main__":
    main()
