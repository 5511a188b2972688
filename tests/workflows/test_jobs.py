"""The rendered deploy and rollback jobs, their `run:` steps executed in order as a runner would
(tests/workflows/runner.py): fake Railway/Vercel CLIs and loopback health endpoints for the
deploy; for the rollback, the real `python -m rollback` against the Railway and Vercel stand-ins.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from components.config import project_name
from tests.conftest import ROOT, THREE_SERVICES, stack_config
from tests.monitoring.loopback import App
from tests.railway.standin import PROJECT_ID, PROJECT_TOKEN, RailwayStandIn
from tests.rollback.standins import VERCEL_PROJECT, VERCEL_TOKEN, GitHubStandIn, VercelStandIn
from tests.workflows.conftest import CONFIGS, load, write_tree
from tests.workflows.runner import (
    calls,
    credentials,
    fake_cli,
    fake_docker,
    fake_railway,
    run_job,
)
from tests.workflows.variables import REPOSITORY, TOKEN, Variables
from workflows import WorkflowsConfig, render
from workflows.config import HealthCheck

RAILWAY_CANARY = "railway-token-canary-52c1e0"
VERCEL_CANARY = "vercel-token-canary-0b9d44"


def deploy_job(config: WorkflowsConfig, stack: str) -> dict[str, Any]:
    """The deploy job up to its health checks (the smoke and the end-to-end tests after them:
    test_ci_steps.py, test_playwright.py)."""
    job = load(render(config)[f".github/workflows/deploy-{stack}.yml"])["jobs"]["deploy"]
    names = [step.get("name") for step in job["steps"]]
    return {**job, "steps": job["steps"][: names.index("Health checks") + 1]}


@pytest.fixture
def apps() -> Iterator[dict[str, App]]:
    started = {service: App() for service in ("frontend", "backend", "worker")}
    yield started
    for app in started.values():
        app.close()


@pytest.fixture
def variables() -> Iterator[Variables]:
    """GitHub's environment variables, where the freeze gate reads the freeze afresh."""
    server = Variables()
    yield server
    server.close()


@pytest.fixture
def cli(tmp_path: Path) -> Path:
    """bin/ holds a fake npm whose `npm ci --prefix DIR` installs the fake railway and vercel
    (from tools/) into DIR/node_modules/.bin, as the lockfile install does."""
    tools = tmp_path / "tools"
    fake_railway(tools, ["DEPLOYING", "SUCCESS"])
    fake_cli(
        tools,
        "vercel",
        """\
case "$1" in
  pull) mkdir -p .vercel && echo '{}' > .vercel/project.json ;;
  build) mkdir -p .vercel/output && echo '{"version":3}' > .vercel/output/config.json ;;
  deploy) echo https://fixture-x.vercel.app ;;
esac""",
    )
    fake_docker(tmp_path / "bin")
    fake_cli(
        tmp_path / "bin",
        "npm",
        'mkdir -p "$3/node_modules/.bin"\n'
        f'cp "{tools}/railway" "{tools}/vercel" "$3/node_modules/.bin/"',
    )
    return tmp_path


def run_deploy(
    cli: Path,
    config: WorkflowsConfig,
    stack: str,
    apps: dict[str, App],
    *,
    freeze: str,
    variables: Variables,
) -> Any:
    """`freeze`: vars.DEPLOY_FREEZE as the job starts; `variables` holds its current value."""
    checkout = write_tree(render(config), cli / "app")
    contexts = {
        "vars.FRONTEND_URL": apps["frontend"].url,
        "vars.API_URL": apps["backend"].url,
        "vars.WORKER_URL": apps["worker"].url,
        "vars.VERCEL_ORG_ID": "team_fixture",
        "vars.VERCEL_PROJECT_ID": "prj_frontend",
        "vars.DEPLOY_FREEZE": freeze,
        "secrets.RAILWAY_TOKEN": RAILWAY_CANARY,
        "secrets.VERCEL_TOKEN": VERCEL_CANARY,
        "secrets.FREEZE_READ_TOKEN": TOKEN,
    }
    # What the runner sets; the Railway script's own pause between two checks, kept short here.
    runner = {
        "GITHUB_API_URL": variables.url,
        "GITHUB_REPOSITORY": REPOSITORY,
        "RAILWAY_DEPLOY_INTERVAL": "1",
    }
    return run_job(
        deploy_job(config, stack),
        checkout,
        contexts,
        bin_dir=cli / "bin",
        temp=cli / "runner-temp",
        runner_env=runner,
    )


def mkdirs(*paths: Path) -> None:
    for path in paths:
        path.mkdir(parents=True, exist_ok=True)


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_deploy_builds_then_ships_backend_worker_frontend_then_checks_health(
    cli: Path, apps: dict[str, App], stack: str, variables: Variables
) -> None:
    mkdirs(cli / "runner-temp")
    job = run_deploy(cli, CONFIGS["both"], stack, apps, freeze="false", variables=variables)
    assert job.failed is None, job.output
    tools = cli / "tools"
    railway = calls(tools, "railway")
    assert [c.split(" --environment")[0] for c in railway if c.startswith("up")] == [
        "up --service backend",
        "up --service worker",
    ]
    assert all(f"--environment {stack} " in c for c in railway)
    assert calls(tools, "vercel") == [
        "pull --yes --environment=production",
        "build --prod",
        "deploy --prebuilt --prod",
    ]
    assert "All 3 health checks passed." in job.output
    # The freeze was read afresh at the start and before each of the three deploying steps.
    assert len(variables.requests) == 4
    # The build runs the app's own scripts: no credential in its environment, only around it.
    assert credentials(tools, "vercel") == [["VERCEL_TOKEN"], [], ["VERCEL_TOKEN"]]
    # Tokens reach each CLI through its environment: never an argument, never the log.
    assert f"RAILWAY_TOKEN={RAILWAY_CANARY}" in (tools / "railway.env").read_text()
    assert f"VERCEL_TOKEN={VERCEL_CANARY}" in (tools / "vercel.env").read_text()
    everything = job.output + "".join(calls(tools, "railway") + calls(tools, "vercel"))
    assert RAILWAY_CANARY not in everything and VERCEL_CANARY not in everything


def test_a_preview_target_deploys_without_prod(
    cli: Path, apps: dict[str, App], variables: Variables
) -> None:
    mkdirs(cli / "runner-temp")
    data = CONFIGS["staging"].model_dump(by_alias=True)
    data["environments"][0]["vercelTarget"] = "preview"
    config = WorkflowsConfig.model_validate(data)
    job = run_deploy(cli, config, "staging", apps, freeze="", variables=variables)
    assert job.failed is None, job.output
    assert calls(cli / "tools", "vercel") == [
        "pull --yes --environment=preview",
        "build",
        "deploy --prebuilt",
    ]


@pytest.mark.parametrize("freeze", ["true", "TRUE"])
def test_a_frozen_environment_stops_before_anything_is_installed_or_deployed(
    cli: Path, apps: dict[str, App], freeze: str, variables: Variables
) -> None:
    mkdirs(cli / "runner-temp")
    job = run_deploy(
        cli, CONFIGS["production"], "production", apps, freeze=freeze, variables=variables
    )
    assert job.failed is not None and job.failed.name == "Deploy freeze gate"
    assert [s.name for s in job.steps] == ["Deploy freeze gate"]
    assert "Deploys to production are frozen" in job.failed.stdout
    for cli_name in ("npm", "railway", "vercel"):
        assert calls(cli / "bin", cli_name) == calls(cli / "tools", cli_name) == []


@pytest.mark.parametrize(
    ("request_number", "deployed"),
    [(3, ["up --service backend"]), (4, ["up --service backend", "up --service worker"])],
)
def test_a_freeze_set_during_the_deploy_stops_it_at_the_next_platform_step(
    cli: Path,
    apps: dict[str, App],
    variables: Variables,
    request_number: int,
    deployed: list[str],
) -> None:
    """The rollback service freezes deploys while this one runs: what was already shipped stays,
    nothing more is shipped."""
    mkdirs(cli / "runner-temp")
    variables.later.append((request_number, "production", "DEPLOY_FREEZE", "true"))
    job = run_deploy(
        cli, CONFIGS["production"], "production", apps, freeze="false", variables=variables
    )
    assert job.failed is not None and job.failed.name.startswith("Deploy freeze gate (before")
    assert "DEPLOY_FREEZE is true (read just now)" in job.failed.stdout
    railway = calls(cli / "tools", "railway")
    assert [c.split(" --environment")[0] for c in railway if c.startswith("up")] == deployed
    assert "deploy --prebuilt --prod" not in calls(cli / "tools", "vercel")


def test_an_unhealthy_service_after_the_deploy_fails_the_job(
    cli: Path, apps: dict[str, App], variables: Variables
) -> None:
    mkdirs(cli / "runner-temp")
    config = CONFIGS["production"].model_copy(
        update={"health_check": HealthCheck(tries=2, interval_seconds=1, timeout_seconds=2)}
    )
    apps["worker"].healthy = False
    job = run_deploy(cli, config, "production", apps, freeze="false", variables=variables)
    assert job.failed is not None and job.failed.name == "Health checks"
    assert f"{apps['worker'].url}/health did not answer 2xx after 2 tries" in job.failed.stdout
    assert len(calls(cli / "tools", "vercel")) == 3  # it deployed first, then found out


# --- the rollback workflow --------------------------------------------------------------------


@pytest.fixture(scope="session")
def pipeline_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this repository is checked out for the rollback job: one folder for the whole test
    run, its pytest-xdist workers included, which the dispatches take turns on (dispatch). The
    first dispatch installs for real; the later ones start from what it installed."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's folder, above each worker's own
    (shared / "rollback-job").mkdir(exist_ok=True)
    return shared / "rollback-job" / "pipeline"


def check_out(checkout: Path) -> None:
    """This repository as the rollback job checks it out, with the project and stack files of
    the fixture product the job is rendered for (CONFIGS). Every other top-level entry is
    linked, but `components` is copied: the program finds the project beside it, through
    links (components.config.ROOT)."""
    if checkout.exists():
        return
    checkout.mkdir(parents=True)
    own = {".git", "build", ".venv", "components", *(p.name for p in ROOT.glob("Pulumi*.yaml"))}
    for entry in [
        *(e for e in ROOT.iterdir() if e.name not in own),
        *THREE_SERVICES.glob("Pulumi*.yaml"),
    ]:
        (checkout / entry.name).symlink_to(entry)  # the job installs its own .venv
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "components", checkout / "components", ignore=ignore)


INSTALL = "Install what the rollback runs on"
ACTOR = "a-maintainer"  # who dispatches the rollback
TRUST = {"SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"}


def rollback_job() -> dict[str, Any]:
    return load(render(CONFIGS["staging"])[".github/workflows/rollback-staging.yml"])["jobs"][
        "rollback"
    ]


def run_rollback(
    checkout: Path,
    temp: Path,
    service: str,
    *,
    railway: RailwayStandIn,
    vercel: VercelStandIn,
    github: GitHubStandIn,
    caches: Path,
) -> Any:
    job = rollback_job()
    installed = checkout.parent / "installed"
    if installed.exists():
        # An earlier dispatch ran the install for real into this checkout; a runner would
        # install again, into a new machine, the same pinned requirements.
        steps = [s for s in job["steps"] if s.get("name") != INSTALL]
        assert len(steps) == len(job["steps"]) - 1, "the rollback job's install step was renamed"
        job = {**job, "steps": steps}
    names = [step.get("name") for step in job["steps"]]
    contexts = {
        "inputs.service": service,
        "inputs.reason": "health_check_failure: 5xx after the 14:02 deploy",
        "github.actor": ACTOR,
        "github.token": "ghs-runner-token-for-tests",
        "secrets.RAILWAY_TOKEN": PROJECT_TOKEN,
        "secrets.VERCEL_TOKEN": VERCEL_TOKEN,
        "vars.VERCEL_PROJECT_ID": VERCEL_PROJECT,
        "vars.VERCEL_ORG_ID": "team_fixture",
    }
    # What the runner sets itself, and the platforms' endpoints pointed at the stand-ins. The
    # install step downloads from the package index, as on a runner: this machine's trust store
    # and mirrors, and caches shared by the tests' runs.
    runner_env = {
        **{k: v for k, v in os.environ.items() if k in TRUST or k.startswith(("PIP_", "UV_"))},
        "PIP_CACHE_DIR": str(caches / "pip"),
        "UV_CACHE_DIR": str(caches / "uv"),
        "GITHUB_REPOSITORY": "fixture-owner/app",
        "GITHUB_API_URL": github.url,
        "RAILWAY_API_URL": railway.url,
        "VERCEL_API_URL": vercel.url,
    }
    mkdirs(temp / "bin")
    # actions/setup-python's `python` on the PATH: this interpreter's base Python.
    (temp / "bin" / "python").symlink_to(getattr(sys, "_base_executable", sys.executable))
    policy_step = names.index("Render the stack's rollback policy (offline synth, no credentials)")
    first = run_job(
        {"steps": job["steps"][: policy_step + 1]},
        checkout,
        contexts,
        bin_dir=temp / "bin",
        temp=temp,
        runner_env=runner_env,
        timeout=300,
    )
    assert first.failed is None, first.output
    installed.touch()
    # The synth read the checkout's stack's Railway project (the fixture product's, where the
    # job runs); the stand-in knows only its own project.
    railway = f"{project_name(THREE_SERVICES)}:railway"
    stack_project = stack_config("staging", THREE_SERVICES)[railway]["projectId"]
    assert first.contexts["steps.policy.outputs.railway_project_id"] == stack_project
    contexts = {**first.contexts, "steps.policy.outputs.railway_project_id": PROJECT_ID}
    return run_job(
        {"steps": job["steps"][policy_step + 1 :]},
        checkout,
        contexts,
        bin_dir=temp / "bin",
        temp=temp,
        runner_env=runner_env,
        timeout=120,
    )


def audit(temp: Path) -> list[dict[str, Any]]:
    lines = (temp / "rollback-audit.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="session")
def install_caches(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip's and uv's caches, shared by the rollback job's runs in this test session."""
    return tmp_path_factory.getbasetemp() / "install-caches"


@pytest.fixture
def dispatch(
    pipeline_checkout: Path,
    install_caches: Path,
    railway: RailwayStandIn,
    vercel: VercelStandIn,
    github: GitHubStandIn,
) -> Callable[[str], tuple[Any, Path]]:
    """Runs the rollback job for one `service` input; returns the run and its runner.temp (a new
    one per run, beside the checkout)."""

    def run(service: str) -> tuple[Any, Path]:
        with (pipeline_checkout.parent / "lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed: one dispatch at a time
            check_out(pipeline_checkout)
            temp = Path(tempfile.mkdtemp(prefix="run-", dir=pipeline_checkout.parent))
            job = run_rollback(
                pipeline_checkout,
                temp,
                service,
                railway=railway,
                vercel=vercel,
                github=github,
                caches=install_caches,
            )
        return job, temp

    return run


def test_rollback_of_all_runs_the_rollback_service_code_once_per_service(
    dispatch: Callable[[str], tuple[Any, Path]],
    pipeline_checkout: Path,
    railway: RailwayStandIn,
    vercel: VercelStandIn,
    github: GitHubStandIn,
) -> None:
    job, temp = dispatch("all")
    assert job.failed is None, job.output
    assert len(railway.world.rollbacks) == 2  # backend and worker: deploymentRollback
    assert vercel.promotions() == ["dpl_2"]  # the frontend's previous production deployment
    actions = [r for r in audit(temp) if r["event"] == "manual"]
    assert sorted(r["service"] for r in actions) == ["backend", "frontend", "worker"]
    assert {r["by"] for r in actions} == {ACTOR}
    summary = (temp / "summary.md").read_text()
    assert "Rollback of all in staging" in summary and "5xx after the 14:02 deploy" in summary
    assert github.calls == []  # a rollback by hand never touches the freeze
    assert PROJECT_TOKEN not in job.output and VERCEL_TOKEN not in job.output
    assert os.path.isdir(pipeline_checkout / "build" / "staging")


def test_rollback_of_one_service_touches_only_it_and_a_failure_fails_the_run(
    dispatch: Callable[[str], tuple[Any, Path]], railway: RailwayStandIn, vercel: VercelStandIn
) -> None:
    job, _ = dispatch("backend")
    assert job.failed is None, job.output
    assert len(railway.world.rollbacks) == 1 and vercel.calls == []

    vercel.fail_next, vercel.fail_status = 1_000, 403
    job, _ = dispatch("all")
    assert job.failed is not None and job.failed.name == "Roll back"
    assert "::error title=Rollback failed:: frontend" in job.failed.stdout
    assert len(railway.world.rollbacks) == 3  # backend and worker still rolled back
