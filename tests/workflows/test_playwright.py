"""The rendered Playwright config and steps, run for real: @playwright/test (from
tests/workflows/e2e/'s lockfile, installed with `npm ci --ignore-scripts`: no browser download)
drives Debian's Chromium (E2E_CHROMIUM, the config's one hook for a browser Playwright's
installer did not put in place) against a sample app on loopback. The rendered CI and deploy
steps run as the runner runs them (runner.run_job), from the service's folder of the rendered
tree. So the rendered settings are proven to work: the web server it starts, the base URL, the
bypass header, the smoke tag, traces and screenshots kept on failure, the HTML report. On
GitHub's runners the browser comes from Playwright's own installer instead (rendered, not run
here).

Under CI=true a missing Chromium, Node.js or npm fails these tests; elsewhere they skip."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import skip_or_fail
from tests.monitoring.loopback import free_port
from tests.workflows.conftest import CONFIGS, load, write_tree
from tests.workflows.runner import StepResult, run_job
from workflows import WorkflowsConfig, e2e, render

HERE = Path(__file__).parent / "e2e"
CHROMIUM = "/usr/bin/chromium"
BYPASS = "bypass-secret-canary-7d1e"
CI = ".github/workflows/ci.yml"
DEPLOY = ".github/workflows/deploy-production.yml"
LOCAL = "Playwright against the build served locally"


@pytest.fixture(scope="session")
def runner() -> Path:
    """Playwright's test runner, installed once from the lockfile (a lock keeps the test
    workers from installing it together)."""
    for needed in ("node", "npm", "npx"):
        if shutil.which(needed) is None:
            skip_or_fail(f"{needed} not installed (apt-get install nodejs npm)")
    if not os.access(CHROMIUM, os.X_OK):
        skip_or_fail(f"{CHROMIUM} not installed (apt-get install chromium)")
    cli = HERE / "node_modules" / "@playwright" / "test" / "cli.js"
    with open(HERE / "package.json") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not cli.exists():
            done = subprocess.run(
                ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                cwd=HERE,
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
            if done.returncode != 0:
                skip_or_fail(f"npm ci of @playwright/test failed: {done.stderr[-2000:]}")
    return cli


def _config(port: int, *, bypass: bool = False) -> WorkflowsConfig:
    """The production stack's config with Playwright on a free port (the machine is shared),
    one worker and no retry (a failure shows at once)."""
    data = CONFIGS["production"].model_dump(by_alias=True)
    data["appCi"]["playwright"].update(
        port=port, workers=1, retries=0, testTimeoutSeconds=20, protectionBypass=bypass
    )
    return WorkflowsConfig.model_validate(data)


def _folder(root: Path, config: WorkflowsConfig) -> Path:
    return root / config.services[config.e2e_service() or ""].root


def _app(tmp_path: Path, config: WorkflowsConfig) -> Path:
    """The sample app as an app repository holds it: the rendered files (the Playwright config
    in .github/e2e/) and, in the Node web service's folder, its package.json, specs and
    node_modules."""
    root = write_tree(render(config), tmp_path / "repo")
    folder = _folder(root, config)
    shutil.copytree(HERE / "sample", folder, dirs_exist_ok=True)
    (folder / "node_modules").symlink_to(HERE / "node_modules")
    return root


def _step(config: WorkflowsConfig, workflow: str, prefix: str) -> dict[str, Any]:
    jobs = load(render(config)[workflow])["jobs"].values()
    steps = [s for job in jobs for s in job.get("steps", [])]
    (step,) = [s for s in steps if str(s.get("name", "")).startswith(prefix)]
    return step


def _run_step(
    step: dict[str, Any],
    root: Path,
    config: WorkflowsConfig,
    contexts: dict[str, str],
    env: dict[str, str],
) -> StepResult:
    """The rendered step as the runner runs it, from the service's folder (its
    working-directory), with E2E_CHROMIUM pointing at Debian's Chromium."""
    temp = root.parent / "runner-temp"
    temp.mkdir(exist_ok=True)
    done = run_job(
        {"steps": [step]},
        _folder(root, config),
        contexts,
        bin_dir=Path(shutil.which("node") or "/usr/bin/node").parent,
        temp=temp,
        runner_env={"GITHUB_WORKSPACE": str(root), "E2E_CHROMIUM": CHROMIUM, **env},
        timeout=300,
    )
    (result,) = done.steps
    return result


def test_the_rendered_config_is_the_stacks_settings() -> None:
    config = CONFIGS["staging"]
    assert render(config)[e2e.CONFIG] == e2e.config_file(config.app_ci.playwright)
    assert f'"port": {config.app_ci.playwright.port}' in render(config)[e2e.CONFIG]


def test_ci_mode_starts_the_app_and_passes_in_chromium(runner: Path, tmp_path: Path) -> None:
    config = _config(free_port())
    root = _app(tmp_path, config)
    seen = root / "seen"
    done = _run_step(_step(config, CI, LOCAL), root, config, {}, {"SEEN_HEADERS": str(seen)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    # The web server the config started (`npm run start` on its port) served the browser.
    pages = [line for line in seen.read_text().splitlines() if line.startswith("/ ")]
    assert len(pages) >= 2 and set(pages) == {"/ -"}, "no bypass header without the secret"
    folder = _folder(root, config)
    assert (folder / e2e.REPORT / "index.html").exists()
    assert not list((folder / e2e.RESULTS).rglob("*.zip")), "no trace kept for a pass"


def test_a_failure_keeps_its_trace_and_screenshot(runner: Path, tmp_path: Path) -> None:
    config = _config(free_port())
    root = _app(tmp_path, config)
    done = _run_step(_step(config, CI, LOCAL), root, config, {}, {"SAMPLE_FAILS": "1"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed" in done.stdout and "1 passed" in done.stdout
    results = _folder(root, config) / e2e.RESULTS
    assert [p.name for p in results.rglob("trace.zip")] == ["trace.zip"]
    assert len(list(results.rglob("*.png"))) == 1


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The sample app already running, as a deployed environment is."""
    port, seen = free_port(), tmp_path / "seen-deployed"
    server = subprocess.Popen(
        ["node", str(HERE / "sample" / "server.mjs")],
        env={**os.environ, "PORT": str(port), "SEEN_HEADERS": str(seen)},
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", seen
    server.terminate()
    server.wait(timeout=10)


def test_after_a_production_deploy_only_the_smoke_set_runs_with_the_bypass_header(
    runner: Path, tmp_path: Path, deployed: tuple[str, Path]
) -> None:
    url, seen = deployed
    config = _config(free_port(), bypass=True)
    root = _app(tmp_path, config)
    step = _step(config, DEPLOY, "Playwright against the deployed")
    service = config.services[config.e2e_service() or ""]
    contexts = {
        f"vars.{service.url_variable}": url,
        f"secrets.{config.secrets.vercel_bypass}": BYPASS,
    }
    done = _run_step(step, root, config, contexts, {})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    # No web server of its own: the requests reached the deployed one, each with the header.
    requests = seen.read_text().splitlines()
    assert [r for r in requests if r.startswith("/ ")] == [f"/ {BYPASS}"]
    assert all(r.endswith(f" {BYPASS}") for r in requests)
    assert BYPASS not in done.stdout + done.stderr
