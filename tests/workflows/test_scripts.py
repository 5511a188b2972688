"""The scripts the workflows call, run with bash: the freeze gate, the health check against
loopback stand-ins (requests counted), Railway's deploy-and-wait against a fake CLI, and the CI
gate job's own step."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.monitoring.loopback import HttpStandIn, Quiet, free_port
from tests.workflows.conftest import CONFIGS, load
from tests.workflows.runner import calls, fake_railway
from tests.workflows.variables import REPOSITORY, TOKEN, Variables
from workflows import SCRIPTS, render

CANARY = "railway-token-canary-7f3a91"


def bash(
    script: Path, *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


# --- freeze gate ----------------------------------------------------------------------------


@pytest.fixture
def variables() -> Iterator[Variables]:
    server = Variables()
    yield server
    server.close()


def gate(
    variables: Variables, started: str = "", *, environment: str = "production", **env: str
) -> subprocess.CompletedProcess[str]:
    """The gate as a deploy job runs it: `started` is vars.DEPLOY_FREEZE from the job's start."""
    settings = {
        "DEPLOY_FREEZE": started,
        "DEPLOY_ENVIRONMENT": environment,
        "FREEZE_READ_TOKEN": TOKEN,
        "GITHUB_API_URL": variables.url,
        "GITHUB_REPOSITORY": REPOSITORY,
    }
    return bash(SCRIPTS / "freeze-gate.sh", env={**settings, **env})


@pytest.mark.parametrize("value", ["true", "TRUE", "True"])
def test_frozen_when_the_job_started_stops_with_a_clear_message(
    variables: Variables, value: str
) -> None:
    result = gate(variables, value)
    assert result.returncode == 1
    assert "::error title=Deploys to production are frozen::" in result.stdout
    assert (
        "(when the job started)" in result.stdout and "Nothing more was deployed" in result.stdout
    )
    assert "python -m rollback unfreeze" in result.stdout


def test_a_freeze_set_since_the_job_started_stops_the_next_step(variables: Variables) -> None:
    variables.values[("production", "DEPLOY_FREEZE")] = "true"
    result = gate(variables, "false")
    assert result.returncode == 1
    assert "DEPLOY_FREEZE is true (read just now)" in result.stdout
    assert variables.requests == [
        f"/repos/{REPOSITORY}/environments/production/variables/DEPLOY_FREEZE"
    ]


@pytest.mark.parametrize(("started", "now"), [("", None), ("false", "false"), ("", "")])
def test_not_frozen_passes(variables: Variables, started: str, now: str | None) -> None:
    if now is not None:
        variables.values[("staging", "DEPLOY_FREEZE")] = now
    result = gate(variables, started, environment="staging")
    assert result.returncode == 0, result.stdout
    assert result.stdout == "Deploy freeze: off for staging.\n"
    assert len(variables.requests) == 1


def test_a_freeze_value_that_is_neither_true_nor_false_stops_too(variables: Variables) -> None:
    variables.values[("production", "DEPLOY_FREEZE")] = "yes please"
    result = gate(variables, "false")
    assert result.returncode == 1
    assert (
        "is 'yes please'" in result.stdout and "set it to true (frozen) or false" in result.stdout
    )


@pytest.mark.parametrize(("status", "token"), [(500, TOKEN), (None, "a-revoked-token")])
def test_a_freeze_that_cannot_be_read_stops_rather_than_guess(
    variables: Variables, status: int | None, token: str
) -> None:
    variables.fail_status = status
    result = gate(variables, "false", FREEZE_READ_TOKEN=token)
    assert result.returncode == 1
    assert "::error title=The freeze of production cannot be read::" in result.stdout
    assert token not in result.stdout + result.stderr


def test_without_the_reading_token_the_gate_stops_before_asking(variables: Variables) -> None:
    result = gate(variables, "false", FREEZE_READ_TOKEN="")
    assert result.returncode == 1
    assert "::error title=FREEZE_READ_TOKEN is not set::" in result.stdout
    assert variables.requests == []


def test_the_reading_token_is_never_on_a_command_line(variables: Variables, tmp_path: Path) -> None:
    """curl gets the header on its standard input: its arguments show in any process list."""
    logged = tmp_path / "curl.args"
    wrapper = tmp_path / "bin" / "curl"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/bash\nprintf "%s\\n" "$@" >> "{logged}"\nexec /usr/bin/curl "$@"\n')
    wrapper.chmod(0o755)
    result = gate(variables, "false", PATH=f"{wrapper.parent}:/usr/bin:/bin")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--config" in logged.read_text() and TOKEN not in logged.read_text()


# --- health check ---------------------------------------------------------------------------


class Health(HttpStandIn):
    """Answers GET with 503 until `healthy_from` requests have arrived (0: healthy at once,
    None: never), optionally after `delay` seconds. Counts every request."""

    def __init__(self, healthy_from: int | None = 0, delay: float = 0.0) -> None:
        self.requests = 0
        self.lock = threading.Lock()
        standin = self

        class Handler(Quiet):
            def do_GET(self) -> None:
                with standin.lock:
                    standin.requests += 1
                    number = standin.requests
                time.sleep(delay)
                healthy = healthy_from is not None and number >= healthy_from
                body = b"ok" if healthy else b"unhealthy"
                self.send_response(200 if healthy else 503)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._serve(Handler)


@pytest.fixture
def servers() -> Iterator[list[Health]]:
    started: list[Health] = []
    yield started
    for server in started:
        server.close()


def health_check(*urls: str, tries: int = 3, timeout: int = 2) -> subprocess.CompletedProcess[str]:
    settings = {
        "HEALTH_CHECK_TRIES": str(tries),
        "HEALTH_CHECK_INTERVAL": "1",
        "HEALTH_CHECK_TIMEOUT": str(timeout),
    }
    return bash(SCRIPTS / "health-check.sh", *urls, env=settings)


def test_healthy_services_pass_with_one_request_each(servers: list[Health]) -> None:
    servers += [Health(), Health()]
    result = health_check(f"{servers[0].url}/api/health", f"{servers[1].url}/health")
    assert result.returncode == 0, result.stdout
    assert [s.requests for s in servers] == [1, 1]
    assert "All 2 health checks passed." in result.stdout


def test_an_unhealthy_service_is_tried_a_bounded_number_of_times_then_fails(
    servers: list[Health],
) -> None:
    servers += [Health(healthy_from=None), Health()]
    bad = f"{servers[0].url}/health"
    result = health_check(bad, f"{servers[1].url}/api/health", tries=3)
    assert result.returncode == 1
    assert servers[0].requests == 3  # exactly the tries, then it stops
    assert servers[1].requests == 1  # a healthy one is not asked again
    assert (
        f"::error title=Health check failed::{bad} did not answer 2xx after 3 tries (last: 503"
        in result.stdout
    )


def test_a_service_that_turns_healthy_on_the_second_try_passes(servers: list[Health]) -> None:
    servers.append(Health(healthy_from=2))
    result = health_check(f"{servers[0].url}/health", tries=5)
    assert result.returncode == 0, result.stdout
    assert servers[0].requests == 2
    assert "not healthy yet" in result.stdout and "HTTP 200, try 2/5" in result.stdout


def test_each_try_is_cut_at_the_timeout(servers: list[Health]) -> None:
    servers.append(Health(delay=3.0))
    result = health_check(f"{servers[0].url}/health", tries=2, timeout=1)
    assert result.returncode == 1
    assert servers[0].requests == 2
    assert "timed out" in result.stdout


def test_nothing_listening_fails_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/health"
    result = health_check(url, tries=2)
    assert result.returncode == 1
    assert f"{url} did not answer 2xx after 2 tries" in result.stdout


@pytest.mark.parametrize("env", [{"HEALTH_CHECK_TRIES": "0"}, {"HEALTH_CHECK_TIMEOUT": "ten"}])
def test_bad_settings_or_no_url_are_refused(env: dict[str, str]) -> None:
    assert bash(SCRIPTS / "health-check.sh", "http://127.0.0.1:1/health", env=env).returncode == 2
    assert bash(SCRIPTS / "health-check.sh", env={}).returncode == 2


# --- Railway: deploy, then wait for the deployment --------------------------------------------


def railway_deploy(
    bin_dir: Path, tries: int = 5, token: str = CANARY
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "RAILWAY_TOKEN": token,
        "RAILWAY_DEPLOY_TRIES": str(tries),
        "RAILWAY_DEPLOY_INTERVAL": "1",
    }
    return bash(SCRIPTS / "railway-deploy.sh", "backend", "staging", env=env)


def test_railway_deploy_waits_until_the_new_deployment_is_live(tmp_path: Path) -> None:
    fake_railway(tmp_path, ["BUILDING", "DEPLOYING", "SUCCESS"])
    result = railway_deploy(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    up, *lists = calls(tmp_path, "railway")
    assert up.startswith("up --service backend --environment staging --detach --json")
    assert (
        lists == ["deployment list --service backend --environment staging --limit 20 --json"] * 3
    )
    assert "Railway deployment dep-1 of backend is live (SUCCESS)." in result.stdout
    # The token reached the CLI through its environment, never its arguments or the log.
    assert (tmp_path / "railway.env").read_text().count(f"RAILWAY_TOKEN={CANARY}") == 4
    assert CANARY not in (tmp_path / "railway.calls").read_text() + result.stdout + result.stderr


@pytest.mark.parametrize("status", ["FAILED", "CRASHED"])
def test_railway_deploy_fails_when_the_deployment_fails(tmp_path: Path, status: str) -> None:
    fake_railway(tmp_path, ["BUILDING", status])
    result = railway_deploy(tmp_path)
    assert result.returncode == 1
    assert f"deployment dep-1 is {status}" in result.stdout
    assert len(calls(tmp_path, "railway")) == 3


def test_railway_deploy_gives_up_after_its_bounded_checks(tmp_path: Path) -> None:
    fake_railway(tmp_path, ["BUILDING"])
    result = railway_deploy(tmp_path, tries=3)
    assert result.returncode == 1
    assert len(calls(tmp_path, "railway")) == 1 + 3
    assert "was not SUCCESS after 3 checks" in result.stdout


def test_railway_deploy_without_a_token_stops_before_calling_railway(tmp_path: Path) -> None:
    fake_railway(tmp_path, ["SUCCESS"])
    result = railway_deploy(tmp_path, token="")
    assert result.returncode == 1
    assert "RAILWAY_TOKEN is not set" in result.stdout
    assert calls(tmp_path, "railway") == []


# --- the CI gate job ------------------------------------------------------------------------


def gate_script() -> tuple[str, dict[str, str]]:
    ci = load(render(CONFIGS["staging"])[".github/workflows/ci.yml"])
    (step,) = ci["jobs"]["test-and-quality"]["steps"]
    return step["run"], step["env"]


JOBS = (
    "FRONTEND",
    "BACKEND",
    "BACKEND_INTEGRATION",
    "BACKEND_COVERAGE",
    "IMAGE_WORKER",
    "SECURITY",
)


@pytest.mark.parametrize(
    ("results", "failed"),
    [
        (dict.fromkeys(JOBS, "success"), []),
        (dict.fromkeys(JOBS, "success") | {"BACKEND": "failure"}, ["backend"]),
        # The coverage gate's failure alone fails the check; a job skipped fails it too.
        (
            dict.fromkeys(JOBS, "success")
            | {"FRONTEND": "cancelled", "BACKEND_COVERAGE": "failure", "SECURITY": "skipped"},
            ["frontend", "backend-coverage", "security"],
        ),
    ],
)
def test_the_required_check_fails_when_any_needed_job_did_not_succeed(
    results: dict[str, str], failed: list[str]
) -> None:
    script, env = gate_script()
    assert set(env) == set(results)
    result = subprocess.run(
        ["bash", "-e", "-c", script],
        env={"PATH": "/usr/bin:/bin", **results},
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    assert result.returncode == (1 if failed else 0)
    for job in failed:
        assert f"::error title={job} did not succeed::" in result.stdout
    assert result.stdout.count("::error") == len(failed)
