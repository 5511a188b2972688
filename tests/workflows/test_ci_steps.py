"""The new steps of the rendered jobs, run for real step by step (tests/workflows/runner.py):
the Python job's unit and integration tests selected by marker and one coverage gate over both
(pytest, pytest-cov and coverage at the rendered pins' versions, on a sample package named as
the stack's), and the deploy job's Locust smoke judged by the alerts' p95 and error rate
against loopback services, its report kept."""

from __future__ import annotations

import math
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import tool
from tests.monitoring.loopback import App
from tests.workflows.conftest import CONFIGS, load, write_tree
from tests.workflows.runner import run_job
from workflows import WorkflowsConfig, render

VENV_BIN = Path(sys.executable).parent
CI = ".github/workflows/ci.yml"


def _python_job(config: WorkflowsConfig) -> tuple[str, dict[str, Any]]:
    name = next(
        n for n, s in config.checked().items() if config.services[s[0]].language == "python"
    )
    return name, load(render(config)[CI])["jobs"][name]


def _steps(job: dict[str, Any], *prefixes: str) -> dict[str, Any]:
    steps = [s for s in job["steps"] if str(s.get("name", "")).startswith(prefixes)]
    assert len(steps) == len(prefixes), [s.get("name") for s in job["steps"]]
    return {**job, "steps": steps}


def _sample(root: Path, package: str, integration: str) -> None:
    """Two functions; a unit test covers one, the integration test (`integration`) the other."""
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text(
        textwrap.dedent(
            """\
            def unit_part(x):
                return x + 1


            def database_part(url):
                scheme = url.split(":")[0]
                return scheme
            """
        )
    )
    (root / "tests").mkdir()
    (root / "tests" / "test_unit.py").write_text(
        f"from {package} import unit_part\n\n\ndef test_unit():\n    assert unit_part(1) == 2\n"
    )
    if integration:
        (root / "tests" / "test_integration.py").write_text(
            f"import os\n\nimport pytest\n\nfrom {package} import database_part\n\n\n"
            f"{textwrap.dedent(integration)}"
        )
    # The markers the app registers (docs/app-workflows.md): unknown ones are errors.
    (root / "pytest.ini").write_text(
        "[pytest]\naddopts = --strict-markers\nmarkers =\n    unit\n    integration\n    slow\n"
    )


PASSING = """\
    @pytest.mark.integration
    def test_against_the_databases():
        assert database_part(os.environ["DATABASE_URL"]) == "postgresql"
        assert os.environ["REDIS_URL"].startswith("redis://localhost:6379")
    """


def _run(tmp_path: Path, integration: str) -> Any:
    """The unit job's tests, the integration job and the coverage job, in that order (the order
    `needs` imposes), in one checkout: the coverage job reads what the two left, as the artifact
    steps (skipped here) carry it on GitHub."""
    config = CONFIGS["staging"]
    name, job = _python_job(config)
    jobs = load(render(config)[CI])["jobs"]
    assert jobs[f"{name}-coverage"]["needs"] == [name, f"{name}-integration"]
    package = config.services[config.checked()[name][0]].python.package  # type: ignore[union-attr]
    root = tmp_path / "app"
    _sample(root, package, integration)
    steps = [
        *_steps(job, "Unit tests")["steps"],
        *_steps(jobs[f"{name}-integration"], "Integration tests")["steps"],
        *_steps(jobs[f"{name}-coverage"], "Coverage of both")["steps"],
    ]
    return run_job({"steps": steps}, root, {}, bin_dir=VENV_BIN, temp=tmp_path / "runner-temp")


def test_each_test_job_keeps_its_coverage_data_for_the_gate() -> None:
    """The data files are hidden (`.coverage.*`): uploaded only with include-hidden-files, and
    downloaded into the folder the gate combines in."""
    config = CONFIGS["staging"]
    name, _ = _python_job(config)
    jobs = load(render(config)[CI])["jobs"]
    root = config.services[config.checked()[name][0]].root
    for job_id, kind in ((name, "unit"), (f"{name}-integration", "integration")):
        (upload,) = [
            s
            for s in jobs[job_id]["steps"]
            if s.get("with", {}).get("name") == f"coverage-{name}-{kind}"
        ]
        assert upload["with"]["path"] == f"{root}/.coverage.{kind}"
        assert upload["with"]["include-hidden-files"] is True
    (download,) = [
        s for s in jobs[f"{name}-coverage"]["steps"] if "download-artifact" in s.get("uses", "")
    ]
    assert download["with"] == {
        "pattern": f"coverage-{name}-*",
        "merge-multiple": True,
        "path": root,
    }
    # The containers serve the integration job alone.
    assert "services" in jobs[f"{name}-integration"] and "services" not in jobs[name]


@pytest.fixture(autouse=True)
def _runner_temp(tmp_path: Path) -> None:
    (tmp_path / "runner-temp").mkdir()


def test_unit_and_integration_tests_each_run_once_and_the_gate_counts_both(
    tmp_path: Path,
) -> None:
    done = _run(tmp_path, PASSING)
    assert done.failed is None, done.output
    unit, integration, gate = done.steps
    assert "1 passed, 1 deselected" in unit.stdout
    assert "1 passed, 1 deselected" in integration.stdout
    # Either file alone covers half the package; together all of it, above the gate.
    assert "TOTAL" in gate.stdout and gate.stdout.rstrip().endswith("100%")


def test_a_failing_integration_test_fails_the_job(tmp_path: Path) -> None:
    done = _run(tmp_path, PASSING.replace('== "postgresql"', '== "mysql"'))
    assert done.failed is not None and done.failed.name.startswith("Integration tests")


def test_coverage_below_the_gate_fails_it_even_when_every_test_passes(tmp_path: Path) -> None:
    """The integration test runs, but covers nothing of the package: 50% < the gate."""
    untouched = """\
    @pytest.mark.integration
    def test_nothing_of_the_package():
        assert os.environ["DATABASE_URL"]
    """
    done = _run(tmp_path, untouched)
    assert done.failed is not None and done.failed.name.startswith("Coverage of both")
    assert "Coverage failure" in done.failed.stdout + done.failed.stderr


def test_a_folder_without_integration_tests_fails_until_it_has_them(tmp_path: Path) -> None:
    """pytest exits 5 when the marker selects nothing: the spec's integration tests are due."""
    done = _run(tmp_path, "")
    assert done.failed is not None and done.failed.name.startswith("Integration tests")
    assert done.failed.returncode == 5


# --- the Locust smoke after a deploy ------------------------------------------------------


@pytest.fixture
def services() -> Iterator[dict[str, App]]:
    started = {variable: App() for variable in ("FRONTEND_URL", "API_URL", "WORKER_URL")}
    yield started
    for app in started.values():
        app.close()


def _smoke(tmp_path: Path, services: dict[str, App], duration: int = 5) -> Any:
    tool("locust")
    data = CONFIGS["staging"].model_dump(by_alias=True)
    data["smokeTest"]["durationSeconds"] = duration
    config = WorkflowsConfig.model_validate(data)
    job = load(render(config)[".github/workflows/deploy-staging.yml"])["jobs"]["deploy"]
    smoke = _steps(job, "Smoke test")
    checkout = write_tree(render(config), tmp_path / "checkout")
    contexts = {f"vars.{variable}": app.url for variable, app in services.items()}
    return (
        run_job(
            smoke, checkout, contexts, bin_dir=VENV_BIN, temp=tmp_path / "runner-temp", timeout=120
        ),
        checkout,
        config,
    )


def test_the_smoke_passes_within_the_alerts_bounds_and_keeps_its_report(
    tmp_path: Path, services: dict[str, App]
) -> None:
    done, checkout, _config = _smoke(tmp_path, services)
    assert done.failed is None, done.output
    assert "0.0% failed" in done.output
    report = checkout / "smoke-report"
    assert (report / "locust.html").exists() and (report / "locust_stats.csv").exists()


def test_a_slow_service_fails_the_smoke_at_the_alerts_p95(
    tmp_path: Path, services: dict[str, App]
) -> None:
    bound = CONFIGS["staging"].smoke_test.max_p95_seconds
    services["API_URL"].delay = bound * 1.5
    # Long enough for slow requests to finish on a busy machine: a run in which none finished
    # fails as "no request was made", not at the p95 this test is about.
    done, checkout, _config = _smoke(tmp_path, services, duration=math.ceil(bound * 1.5 * 3))
    assert done.failed is not None, done.output
    assert f"more than {bound * 1000:.0f} ms" in done.output
    assert (checkout / "smoke-report" / "locust_stats.csv").exists()


def test_errors_above_the_alerts_rate_fail_the_smoke(
    tmp_path: Path, services: dict[str, App]
) -> None:
    services["WORKER_URL"].healthy = False  # a third of the requests fail
    done, _checkout, config = _smoke(tmp_path, services)
    assert config.smoke_test.max_failure_ratio < 1 / 3
    assert done.failed is not None, done.output
    assert "of requests failed, more than" in done.output
