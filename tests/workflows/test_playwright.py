"""The rendered Playwright config, run for real: @playwright/test (from tests/workflows/e2e/'s
lockfile, installed with `npm ci --ignore-scripts`: no browser download) drives Debian's
Chromium (E2E_CHROMIUM, the config's one hook for a browser Playwright's installer did not put
in place) against a sample app on loopback. So the rendered settings are proven to work: the
web server it starts, the base URL, the bypass header, the smoke tag, traces and screenshots
kept on failure, the HTML report. On GitHub's runners the browser comes from Playwright's own
installer instead (rendered, not run here).

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

import pytest

from tests.conftest import skip_or_fail
from tests.workflows.conftest import CONFIGS
from workflows import e2e, render
from workflows.config import Playwright

HERE = Path(__file__).parent / "e2e"
CHROMIUM = "/usr/bin/chromium"
BYPASS = "bypass-secret-canary-7d1e"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def runner() -> Path:
    """Playwright's test runner, installed once from the lockfile (a lock keeps the test
    workers from installing it together)."""
    for needed in ("node", "npm"):
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


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """The sample app as an app repository holds it: the rendered config in .github/e2e/, the
    service's folder with its package.json, specs and node_modules."""
    root = tmp_path / "repo"
    config = e2e.config_file(
        Playwright(port=_free_port(), workers=1, test_timeout_seconds=20, retries=0)
    )
    (root / ".github" / "e2e").mkdir(parents=True)
    (root / e2e.CONFIG).write_text(config)
    shutil.copytree(HERE / "sample", root / "web")
    (root / "web" / "node_modules").symlink_to(HERE / "node_modules")
    return root


def _playwright(
    cli: Path, root: Path, *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """The rendered CI step's command (`playwright test --config $GITHUB_WORKSPACE/...`), from
    the service's folder."""
    return subprocess.run(
        ["node", str(cli), "test", "--config", str(root / e2e.CONFIG), *args],
        cwd=root / "web",
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(root),
            "CI": "true",
            "E2E_CHROMIUM": CHROMIUM,
            "GITHUB_WORKSPACE": str(root),
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_the_rendered_config_is_what_ci_renders() -> None:
    config = CONFIGS["staging"]
    assert render(config)[e2e.CONFIG] == e2e.config_file(config.app_ci.playwright)


def test_ci_mode_starts_the_app_and_passes_in_chromium(runner: Path, app: Path) -> None:
    seen = app / "seen"
    done = _playwright(runner, app, env={"SEEN_HEADERS": str(seen)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    # The web server the config started (`npm run start` on its port) served the browser.
    pages = [line for line in seen.read_text().splitlines() if line.startswith("/ ")]
    assert len(pages) >= 2 and set(pages) == {"/ -"}, "no bypass header without the secret"
    assert (app / "web" / e2e.REPORT / "index.html").exists()
    assert not list((app / "web" / e2e.RESULTS).rglob("*.zip")), "no trace kept for a pass"


def test_a_failure_keeps_its_trace_and_screenshot(runner: Path, app: Path) -> None:
    done = _playwright(runner, app, env={"SAMPLE_FAILS": "1"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed" in done.stdout and "1 passed" in done.stdout
    results = app / "web" / e2e.RESULTS
    assert [p.name for p in results.rglob("trace.zip")] == ["trace.zip"]
    assert len(list(results.rglob("*.png"))) == 1


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The sample app already running, as a deployed environment is."""
    port, seen = _free_port(), tmp_path / "seen-deployed"
    server = subprocess.Popen(
        ["node", str(HERE / "sample" / "server.mjs")],
        env={**os.environ, "PORT": str(port), "SEEN_HEADERS": str(seen)},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield url, seen
    server.terminate()
    server.wait(timeout=10)


def test_after_a_production_deploy_only_the_smoke_set_runs_with_the_bypass_header(
    runner: Path, app: Path, deployed: tuple[str, Path]
) -> None:
    url, seen = deployed
    smoke_tag = CONFIGS["production"].app_ci.playwright.smoke_tag
    done = _playwright(
        runner, app, "--grep", smoke_tag, env={"E2E_BASE_URL": url, "E2E_BYPASS": BYPASS}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    # No web server of its own: the requests reached the deployed one, each with the header.
    requests = seen.read_text().splitlines()
    assert [r for r in requests if r.startswith("/ ")] == [f"/ {BYPASS}"]
    assert all(r.endswith(f" {BYPASS}") for r in requests)
    assert BYPASS not in done.stdout + done.stderr
