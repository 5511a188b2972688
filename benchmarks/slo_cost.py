"""What a service level objective costs: its rules, and the time the real Prometheus spends
evaluating them over a full window of data.

A month (`--days`) of metrics of the services production's objectives are on, as
prometheus-fastapi-instrumentator exports them (`http_requests_total` by status, the
high-resolution latency histogram), one sample every `--step`, is backfilled into a TSDB with
`promtool tsdb create-blocks-from openmetrics`. Debian's
Prometheus then runs on 127.0.0.1 over a copy of it with nothing but rule files, evaluating every
`--interval`, and Prometheus' own rules API (`/api/v1/rules`: each group's `evaluationTime`)
gives the time of each group over `--evaluations` evaluations. Each objective is a group of its
own (`prometheus/rules/slo.yml`), so a group's time is one objective's cost. Beside them, the
whole of production's rule files (its four objectives and the rollback triggers), for scale.

The deployed Prometheus scrapes every 15s, so it holds 15s / `--step` times the samples measured
here: increase() over a window reads every sample in it, so scale the times by that much (or run
with `--step 15s`, which takes four times as long to prepare).

    .venv/bin/python -m benchmarks.slo_cost [--days 30] [--step 60s] [--evaluations 8]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks.measure import size
from components.monitoring import settings
from monitoring import MonitoringConfig, render
from monitoring import metrics as m
from monitoring.durations import format_duration, parse_duration
from monitoring.slo import le_values
from tests.conftest import validated_stack
from tests.monitoring import loopback
from tests.monitoring.conftest import STACK_TARGETS
from tests.monitoring.loopback import LOOPBACK, free_port

RATE = 10.0  # requests per second
SHARES = (("2xx", 0.97), ("4xx", 0.025), ("5xx", 0.005))
LATENCIES = ((0.1, 0.95), (0.75, 0.04), (3.0, 0.01))  # (seconds, share of requests)
TARGET = STACK_TARGETS["production"]
PRODUCTION = settings(validated_stack("production"))
SERVICES = tuple(sorted(PRODUCTION.slos))  # the services production's objectives are on


def alone(slo: dict[str, Any]) -> MonitoringConfig:
    """Production's monitoring with `slo` its only objective (on its first SLO service)."""
    base = PRODUCTION.model_dump(by_alias=True, mode="json", exclude_none=True)
    return MonitoringConfig.model_validate({**base, "slos": {SERVICES[0]: [slo]}})


def objective(kind: str, name: str) -> dict[str, Any]:
    sli: dict[str, Any] = {"kind": kind}
    if kind == "latency":
        sli["threshold"] = "2s"
    return {"name": name, "objective": 95, "window": "30d", "sli": sli}


def openmetrics(path: Path, days: int, step: float, end: float) -> int:
    """The services' series, every `step` seconds for `days` up to `end`; returns samples."""
    points = int(days * 86_400 / step)
    start = end - points * step
    per_step = RATE * step
    buckets = (*PRODUCTION.triggers.performance.latency_buckets, math.inf)
    labels = {s: f'job="{s}",service="{s}",instance="{s}:8000"' for s in SERVICES}
    samples = 0
    with path.open("w") as out:
        out.write("# TYPE http_requests counter\n")
        for service, status, share in ((s, st, sh) for s in SERVICES for st, sh in SHARES):
            for i in range(points + 1):
                out.write(f'http_requests_total{{{labels[service]},status="{status}"}} '
                          f"{int(i * per_step * share)} {start + i * step:.0f}\n")  # fmt: skip
                samples += 1
        out.write(f"# TYPE {m.LATENCY} histogram\n")
        for service in SERVICES:
            for i in range(points + 1):
                at, total, each = f"{start + i * step:.0f}", i * per_step, labels[service]
                for bound in buckets:
                    le = "+Inf" if bound == math.inf else le_values(bound)[-1]
                    count = sum(total * share for seconds, share in LATENCIES if seconds <= bound)
                    out.write(f'{m.LATENCY}_bucket{{{each},le="{le}"}} {int(count)} {at}\n')
                seconds = sum(total * share * lat for lat, share in LATENCIES)
                out.write(f"{m.LATENCY}_count{{{each}}} {int(total)} {at}\n")
                out.write(f"{m.LATENCY}_sum{{{each}}} {seconds:.3f} {at}\n")
                samples += len(buckets) + 2
        out.write("# EOF\n")
    return samples


@contextlib.contextmanager
def prometheus(tsdb: Path, rules: dict[str, str], interval: str, work: Path) -> Iterator[str]:
    """Debian's Prometheus over a copy of `tsdb`, evaluating `rules` (file name -> content)."""
    data = work / "data"
    shutil.copytree(tsdb, data)
    for name, text in rules.items():
        (work / name).write_text(text)
    config = work / "prometheus.yml"
    files = "\n".join(f"  - {name}" for name in rules)
    config.write_text(f"global:\n  evaluation_interval: {interval}\nrule_files:\n{files}\n")
    port = free_port()
    log = (work / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [shutil.which("prometheus") or "prometheus", f"--config.file={config}",
         f"--storage.tsdb.path={data}", "--storage.tsdb.retention.time=3650d",
         f"--web.listen-address={LOOPBACK}:{port}"],
        stdout=log, stderr=log,
    )  # fmt: skip
    url = f"http://{LOOPBACK}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if loopback.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"prometheus did not start: see {work / 'prometheus.log'}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def evaluation_times(url: str, evaluations: int, timeout: float) -> dict[str, list[float]]:
    """Group name -> its evaluationTime (seconds) at each of `evaluations` evaluations."""
    seen: dict[str, dict[str, float]] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        groups = loopback.get(f"{url}/api/v1/rules", timeout=5).json()["data"]["groups"]
        for group in groups:
            at = group.get("lastEvaluation", "")
            if not at.startswith("0001"):
                seen.setdefault(group["name"], {})[at] = group["evaluationTime"]
        if seen and all(len(times) > evaluations for times in seen.values()):
            break
        time.sleep(0.5)
    # The first evaluation also loads the blocks' chunks: it is left out.
    return {name: [t for _, t in sorted(times.items())][1:] for name, times in seen.items()}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.slo_cost")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--step", default="60s", help="one sample every STEP (scrapes: 15s)")
    parser.add_argument("--evaluations", type=int, default=8)
    parser.add_argument("--interval", default="5s", help="evaluation interval while measured")
    parser.add_argument(
        "--tsdb",
        type=Path,
        help="keep the backfilled TSDB here, and reuse it when it is there already (its data "
        "ends when it was made: measure within minutes of making it)",
    )
    args = parser.parse_args()
    promtool = shutil.which("promtool")
    if promtool is None or shutil.which("prometheus") is None:
        sys.exit("needs Debian's prometheus and promtool (apt-get install prometheus)")
    step = parse_duration(args.step)
    assert not isinstance(step, str)

    single = {kind: alone(objective(kind, kind)) for kind in ("availability", "latency")}
    rendered = {
        "availability": {
            "slo.yml": render(single["availability"], TARGET)["prometheus/rules/slo.yml"]
        },
        "latency": {"slo.yml": render(single["latency"], TARGET)["prometheus/rules/slo.yml"]},
        "production, every rule file": {
            name.rsplit("/", 1)[1]: text
            for name, text in render(PRODUCTION, TARGET).items()
            if name.startswith("prometheus/rules/")
        },
    }
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="slo-cost-") as tmp:
        work = Path(tmp)
        tsdb = args.tsdb or work / "tsdb"
        began = time.perf_counter()
        samples = written = 0
        if not tsdb.is_dir():
            samples = openmetrics(work / "series.om", args.days, step.total_seconds(), time.time())
            written = (work / "series.om").stat().st_size
            subprocess.run(
                [promtool, "tsdb", "create-blocks-from", "openmetrics", str(work / "series.om"),
                 str(tsdb)],
                check=True, capture_output=True,
            )  # fmt: skip
        prepared = time.perf_counter() - began
        rows = []
        for what, rules in rendered.items():
            run = work / what.replace(" ", "-").replace(",", "")
            run.mkdir()
            with prometheus(tsdb, rules, args.interval, run) as url:
                timeout = (args.evaluations + 4) * parse_duration(args.interval).total_seconds()
                times = evaluation_times(url, args.evaluations, 60 + 3 * timeout)
            rows.append((what, rules, times))
    made = (
        f"{samples:,} samples ({size(written)} of OpenMetrics), {args.days}d every "
        f"{format_duration(step)}, prepared in {prepared:.0f}s"
        if samples
        else f"the TSDB in {tsdb}"
    )
    print(f"{made}; load {load:.1f} -> {os.getloadavg()[0]:.1f}\n")
    print("| rules | group | recording rules | alerts | evaluation: median (max) of "
          f"{args.evaluations} | share of a core at 15s |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for what, rules, times in rows:
        counts = _counts(rules)
        total = 0.0
        for group, values in sorted(times.items()):
            if not values:
                continue
            recording, alerts = counts[group]
            median = statistics.median(values)
            total += median
            print(f"| {what} | {group} | {recording} | {alerts} | {median * 1000:.1f} ms "
                  f"({max(values) * 1000:.1f} ms) | {median / 15:.2%} |")  # fmt: skip
        if len(times) > 1:
            print(f"| {what} | all groups | | | {total * 1000:.1f} ms | {total / 15:.2%} |")


def _counts(rules: dict[str, str]) -> dict[str, tuple[int, int]]:
    import yaml

    found = {}
    for text in rules.values():
        for group in yaml.safe_load(text)["groups"]:
            alerts = sum("alert" in rule for rule in group["rules"])
            found[group["name"]] = (len(group["rules"]) - alerts, alerts)
    return found


if __name__ == "__main__":
    main()
