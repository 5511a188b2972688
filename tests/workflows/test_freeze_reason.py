"""The freeze gate and the freeze's reason: a commit marked as a reliability fix (a
`Reliability-Fix:` trailer) passes an error-budget freeze, and no other. The freezes are written
by the rollback service's own code (rollback.platforms.LiveActions) into the GitHub stand-in the
gate then reads: the contract between the two is tried end to end, not restated."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitoring import ROLLBACK_SERVICES, render
from rollback.budget import BUDGET_PREFIX
from rollback.platforms import LiveActions
from rollback.policy import load_policy
from rollback.settings import Settings
from tests.conftest import THREE_SERVICES, monitoring_config, target_of
from tests.rollback.standins import GITHUB_TOKEN, GitHubStandIn
from workflows import SCRIPTS

# The fixture product's production stack: it sets objectives (the stack under test may not).
TARGET = target_of("production", THREE_SERVICES)
ENVIRONMENT = TARGET.environment
# An objective of the stack: the freeze's reason names it.
OBJECTIVE = next(
    f"{service}/{o.name}"
    for service, objectives in monitoring_config(
        stack="production", project_dir=THREE_SERVICES
    ).slos.items()
    for o in objectives
)
FREEZE, REASON = "DEPLOY_FREEZE", "DEPLOY_FREEZE_REASON"
FIX = "Reliability-Fix: retry the payment provider instead of failing the checkout"


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    server = GitHubStandIn()
    server.start()
    yield server
    server.stop()


def live(github: GitHubStandIn, tmp_path: Path) -> LiveActions:
    """The rollback service's platforms, as production's service builds them."""
    files = render(monitoring_config(stack="production", project_dir=THREE_SERVICES), TARGET)
    policy = load_policy(files["rollback-config.yml"], files[ROLLBACK_SERVICES])
    settings = Settings.model_validate(
        {
            "config_yaml": "unused",
            "webhook_token": "webhook-token-0123456789",
            "audit_log": tmp_path / "audit.jsonl",
            "railway_project_id": "p",
            "railway_api_token": "t",
            "vercel_token": "t",
            "vercel_project_id": "p",
            "github_token": GITHUB_TOKEN,
            "github_repository": "fixture-owner/app",
            "github_api_url": github.url,
        }
    )
    return LiveActions(settings, policy)


def commit(repo: Path, message: str) -> Path:
    """A repository whose checked-out commit has `message`, as the deploy job checks it out."""
    env = {"GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.test",
           "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.test",
           "PATH": "/usr/bin:/bin", "HOME": str(repo)}  # fmt: skip
    repo.mkdir(exist_ok=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "--allow-empty", "-m", message],
                   check=True, env=env)  # fmt: skip
    return repo


def gate(
    github: GitHubStandIn, repo: Path, started: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    settings = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(repo),
        "DEPLOY_FREEZE": started,
        "DEPLOY_ENVIRONMENT": ENVIRONMENT,
        "FREEZE_READ_TOKEN": GITHUB_TOKEN,
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOSITORY": "fixture-owner/app",
        **env,
    }
    return subprocess.run(
        ["bash", str(SCRIPTS / "freeze-gate.sh")],
        env=settings,
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def budget_reason(service: str = OBJECTIVE) -> str:
    return f"{BUDGET_PREFIX}{service} in {ENVIRONMENT} spent its error budget (95% over 30d)"


@pytest.mark.parametrize("started", ["", "true"])
def test_a_reliability_fix_passes_an_error_budget_freeze(
    github: GitHubStandIn, tmp_path: Path, started: str
) -> None:
    live(github, tmp_path).budget_freeze(budget_reason(), timeout=5)
    result = gate(github, commit(tmp_path / "app", f"Retry payments\n\n{FIX}"), started)
    assert result.returncode == 0, result.stdout + result.stderr
    notice = result.stdout.splitlines()[-1]
    assert notice.startswith("::notice title=Reliability fix deployed through an error-budget")
    assert "retry the payment provider" in notice and OBJECTIVE in notice


def test_without_the_trailer_an_error_budget_freeze_stops_and_says_how_to_pass(
    github: GitHubStandIn, tmp_path: Path
) -> None:
    live(github, tmp_path).budget_freeze(budget_reason(), timeout=5)
    result = gate(github, commit(tmp_path / "app", "A new feature\n\nNothing to do with it"))
    assert result.returncode == 1
    assert f"::error title=Deploys to {ENVIRONMENT} are frozen::" in result.stdout
    assert "'Reliability-Fix: <why>' trailer" in result.stdout


def test_a_reliability_fix_never_passes_an_incidents_freeze(
    github: GitHubStandIn, tmp_path: Path
) -> None:
    platforms = live(github, tmp_path)
    platforms.budget_freeze(budget_reason(), timeout=5)
    platforms.freeze(timeout=5)  # then an immediate rollback froze deploys too
    result = gate(github, commit(tmp_path / "app", f"Retry payments\n\n{FIX}"), "true")
    assert result.returncode == 1
    assert "::error title=Not an error-budget freeze::" in result.stdout
    assert "rollback: an automated rollback froze deploys" in result.stdout


@pytest.mark.parametrize(
    ("reason", "reason_at", "frozen_at"),
    [
        # A person froze by hand (gh variable set) after an earlier budget freeze was lifted.
        (budget_reason(), "2026-03-01T10:00:00Z", "2026-03-02T08:00:00Z"),
        (None, None, "2026-03-02T08:00:00Z"),  # no reason at all
        ("error budget: spelled otherwise", "2026-03-02T08:00:00Z", "2026-03-02T08:00:00Z"),
        (budget_reason(), "2026-03-02 09:00:00", "2026-03-02T08:00:00Z"),  # not GitHub's stamp
    ],
)
def test_a_reliability_fix_passes_only_a_reason_written_with_the_freeze(
    github: GitHubStandIn,
    tmp_path: Path,
    reason: str | None,
    reason_at: str | None,
    frozen_at: str,
) -> None:
    if reason is not None:
        github.put(ENVIRONMENT, REASON, reason, reason_at)
    github.put(ENVIRONMENT, FREEZE, "true", frozen_at)
    result = gate(github, commit(tmp_path / "app", f"Retry payments\n\n{FIX}"))
    assert result.returncode == 1
    assert "::error title=Not an error-budget freeze::" in result.stdout


def test_an_empty_trailer_or_a_mention_in_the_subject_is_no_fix(
    github: GitHubStandIn, tmp_path: Path
) -> None:
    live(github, tmp_path).budget_freeze(budget_reason(), timeout=5)
    for n, message in enumerate(["Retry payments\n\nReliability-Fix:", FIX]):
        result = gate(github, commit(tmp_path / f"app{n}", message))
        assert result.returncode == 1, message
        assert "are frozen" in result.stdout


def test_a_reason_cannot_smuggle_a_workflow_command(github: GitHubStandIn, tmp_path: Path) -> None:
    """Whoever can write the reason variable must not be able to issue workflow commands
    (`::add-mask::`, `::stop-commands::`) through the gate's log."""
    github.put(ENVIRONMENT, REASON, budget_reason() + "\n::stop-commands::pwned\r%0A::error::x")
    github.put(ENVIRONMENT, FREEZE, "true")
    result = gate(github, commit(tmp_path / "app", f"Fix\n\n{FIX}\n"))
    commands = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert len(commands) == 1 and commands[0].startswith("::notice title=Reliability fix")
    assert "%" not in commands[0]
