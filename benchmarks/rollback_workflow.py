"""The emergency rollback workflow, from its first step to its first platform call.

    .venv/bin/python -m benchmarks.rollback_workflow [--trials 3]

Runs the `run:` steps of the rendered rollback-staging.yml job as a runner would
(tests/workflows/runner.py, `service: all`) in a copy of this working tree without its .venv:
a new virtualenv, its install step, the offline synth of the stack's rollback policy, then
`python -m rollback rollback` against the Railway, Vercel and GitHub stand-ins on 127.0.0.1,
and takes the time until the first request reaches one of them. Beside the job as rendered,
the same job installing everything a developer installs (requirements-dev.txt: what the job
installed before it installed only requirements.txt), the two taking turns. One pip cache
serves all runs and a warm-up run of each fills it, so the figures are the installs, not the
downloads (a runner downloads both, the larger one more). Exits non-zero, measuring nothing,
when a step fails. The `uses:` steps (checkout, setup-python) are not run: the copy is the
checkout, and this interpreter's base Python stands for setup-python's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks import measure
from tests.railway.conftest import schema_path
from tests.railway.standin import PROJECT_ID, PROJECT_TOKEN, RailwayStandIn, load_schema
from tests.rollback.standins import (
    VERCEL_PROJECT,
    VERCEL_TOKEN,
    GitHubStandIn,
    VercelStandIn,
    deploy_twice,
)
from tests.workflows.conftest import CONFIGS, load
from tests.workflows.runner import run_job
from workflows import render

STACK = "staging"
INSTALL = "Install what the rollback runs on"
POLICY = "Render the stack's rollback policy (offline synth, no credentials)"
EVERYTHING = "bash tools/venv requirements-dev.txt"
PASSED = {"SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"}
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "build", "__pycache__", ".*_cache", ".hypothesis", ".pulumi-state"
)


def rollback_steps(install: str | None) -> list[dict[str, Any]]:
    """The job's steps; `install` replaces its install step's command."""
    workflow = load(render(CONFIGS[STACK])[f".github/workflows/rollback-{STACK}.yml"])
    steps: list[dict[str, Any]] = workflow["jobs"]["rollback"]["steps"]
    names = [step.get("name") for step in steps]
    if INSTALL not in names or POLICY not in names:
        sys.exit(f"the rollback job has no step named {INSTALL!r} or {POLICY!r}: {names}")
    if install is not None:
        steps[names.index(INSTALL)] = {**steps[names.index(INSTALL)], "run": install}
    return steps


class FirstCall:
    """When the first request reached any stand-in, polled every millisecond."""

    def __init__(self, railway: RailwayStandIn, vercel: VercelStandIn, github: GitHubStandIn):
        self._seen = len(railway.queries) + len(railway.mutations)
        self._railway, self._vercel, self._github = railway, vercel, github
        self.at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set() and self.at is None:
            railway = len(self._railway.queries) + len(self._railway.mutations)
            if railway > self._seen or self._vercel.calls or self._github.calls:
                self.at = time.monotonic()
            time.sleep(0.001)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def trial(steps: list[dict[str, Any]], schema: Path, work: Path, pip_cache: Path) -> list[float]:
    """Seconds of each step up to the rollback, and to the first platform call."""
    checkout, temp = work / "pipeline", work / "runner"
    shutil.copytree(measure.ROOT, checkout, ignore=COPY_IGNORE)
    (temp / "bin").mkdir(parents=True)
    railway = deploy_twice(RailwayStandIn(load_schema(schema)).start())
    vercel, github = VercelStandIn(), GitHubStandIn()
    vercel.start()
    github.start()
    python = Path(getattr(sys, "_base_executable", sys.executable)).parent
    runner_env = {
        # This machine's trust store (a runner's is the system's), and its package mirrors.
        **{k: v for k, v in os.environ.items() if k in PASSED or k.startswith(("PIP_", "UV_"))},
        "PATH": os.pathsep.join([str(python), "/usr/bin", "/bin"]),
        "PIP_CACHE_DIR": str(pip_cache),
        "UV_CACHE_DIR": str(pip_cache / "uv"),
        "GITHUB_REPOSITORY": "owner/app",
        "GITHUB_API_URL": github.url,
        "RAILWAY_API_URL": railway.url,
        "VERCEL_API_URL": vercel.url,
    }
    contexts = {
        "inputs.service": "all",
        "inputs.reason": "benchmark",
        "github.actor": "benchmark",
        "github.token": "ghs-benchmark",
        "secrets.RAILWAY_TOKEN": PROJECT_TOKEN,
        "secrets.VERCEL_TOKEN": VERCEL_TOKEN,
        "vars.VERCEL_PROJECT_ID": VERCEL_PROJECT,
        "vars.VERCEL_ORG_ID": "team_benchmark",
    }
    watch = FirstCall(railway, vercel, github)
    took: list[float] = []
    try:
        start = time.monotonic()
        for step in (s for s in steps if "run" in s):
            began = time.monotonic()
            done = run_job(
                {"steps": [step]},
                checkout,
                contexts,
                bin_dir=temp / "bin",
                temp=temp,
                runner_env=runner_env,
                timeout=600,
            )
            if done.failed is not None:
                sys.exit(f"step {step['name']!r} failed; nothing measured:\n{done.output[-4000:]}")
            contexts = done.contexts
            if step.get("id") == "policy":  # the stand-in knows only its own project
                contexts["steps.policy.outputs.railway_project_id"] = PROJECT_ID
            took.append(time.monotonic() - began)
            if watch.at is not None:
                break
        if watch.at is None:
            sys.exit("the job ended without a call to any platform; nothing measured")
        took[-1] = watch.at - began  # the rollback step: up to its first call only
        took.append(watch.at - start)
        return took
    finally:
        watch.stop()
        railway.stop()
        vercel.stop()
        github.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    trials = parser.parse_args().trials
    measure.require("pulumi", "pydantic", "graphql", "uvicorn")
    schema = schema_path()
    if schema is None:
        sys.exit("Railway's schema not found (../shared/railway/schema.graphql or $RAILWAY_SCHEMA)")
    rendered = rollback_steps(None)
    variants = {
        "as rendered (uv installs requirements.txt)": rendered,
        f"installing everything (`{EVERYTHING}`, before)": rollback_steps(EVERYTHING),
    }
    names = [s["name"] for s in next(iter(variants.values())) if "run" in s]
    samples: dict[str, list[list[float]]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp:
        pip_cache = Path(tmp) / "pip-cache"
        for number in range(trials + 1):  # run 0 fills the pip cache
            for variant, steps in variants.items():
                work = Path(tmp) / f"{number}-{len(samples[variant])}-{hash(variant)}"
                took = trial(steps, schema, work, pip_cache)
                shutil.rmtree(work, ignore_errors=True)
                if number:
                    samples[variant].append(took)
                    print(f"{variant}: {took[-1]:.1f} s to the first platform call", flush=True)
    print()
    header = [*names[: len(next(iter(samples.values()))[0]) - 1], "first platform call"]
    print(f"| job (median of {trials}) | " + " | ".join(header) + " |")
    print("|" + " --- |" * (len(header) + 1))
    for variant, runs in samples.items():
        medians = [statistics.median(column) for column in zip(*runs, strict=True)]
        print(f"| {variant} | " + " | ".join(f"{m:.1f} s" for m in medians) + " |")


if __name__ == "__main__":
    main()
