"""Drift detection: the scheduled workflow, and the one issue per stack it opens, updates and
closes (tools.drift_issue against a GitHub stand-in on loopback)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import PROJECT_DIR, ROOT, STACKS, validated_stack
from tests.monitoring.loopback import HttpStandIn, JsonReplies
from tools import drift_issue
from workflows import yamltext

TOKEN = "github-token-for-drift-tests"


class IssuesStandIn(HttpStandIn):
    """GitHub's issues API, as much as the drift issue uses: list, create, edit, comment."""

    def __init__(self) -> None:
        self.issues: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[str]] = {}
        self.lock = threading.Lock()
        issues = self

        class Handler(JsonReplies):
            def _body(self) -> Any:
                return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") == f"Bearer {TOKEN}":
                    return True
                self._reply(401, {"message": "Bad credentials"})
                return False

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                query = parse_qs(urlsplit(self.path).query)
                with issues.lock:
                    found = [
                        i
                        for i in issues.issues.values()
                        if i["state"] == query["state"][0] and query["labels"][0] in i["labels"]
                    ]
                self._reply(200, found)

            def do_POST(self) -> None:
                if not self._authorized():
                    return
                parts = urlsplit(self.path).path.split("/")
                body = self._body()
                with issues.lock:
                    if parts[-1] == "comments":
                        issues.comments.setdefault(int(parts[-2]), []).append(body["body"])
                        self._reply(201, {"id": 1})
                        return
                    number = len(issues.issues) + 1
                    issues.issues[number] = {"number": number, "state": "open", **body}
                self._reply(201, issues.issues[number])

            def do_PATCH(self) -> None:
                if not self._authorized():
                    return
                number = int(urlsplit(self.path).path.split("/")[-1])
                with issues.lock:
                    issues.issues[number].update(self._body())
                self._reply(200, issues.issues[number])

        self._serve(Handler)


@pytest.fixture
def github() -> Any:
    server = IssuesStandIn()
    yield server
    server.close()


def run(github: IssuesStandIn, tmp_path: Path, drifted: bool, report: str = "") -> int:
    (tmp_path / "report.txt").write_text(report)
    env = {
        "GITHUB_REPOSITORY": validated_stack("production").rollback.repository,
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": github.url,
        "GITHUB_RUN_URL": "https://github.com/run/1",
    }
    argv = ["--stack", "production", "--drifted", str(drifted).lower()]
    return drift_issue.main([*argv, "--report", str(tmp_path / "report.txt")], env)


def test_drift_opens_one_issue_updates_it_and_closes_it_when_clean(
    github: IssuesStandIn, tmp_path: Path
) -> None:
    assert run(github, tmp_path, drifted=False) == 0
    assert github.issues == {}  # clean and no issue: nothing to do

    assert run(github, tmp_path, True, "backend: variable LOG_LEVEL differs from the spec") == 0
    [issue] = github.issues.values()
    assert issue["title"] == "Infrastructure drift: production"
    assert issue["labels"] == ["infrastructure-drift"]
    assert "backend: variable LOG_LEVEL differs" in issue["body"]
    assert "pulumi up -s production" in issue["body"]

    assert run(github, tmp_path, True, "worker: no volume at /data") == 0
    assert len(github.issues) == 1  # the same issue, updated
    assert "worker: no volume at /data" in issue["body"]
    assert "Still drifted" in github.comments[issue["number"]][0]

    assert run(github, tmp_path, drifted=False) == 0
    assert issue["state"] == "closed"
    assert "clean again" in github.comments[issue["number"]][-1]


def test_a_refused_token_is_one_line_and_exit_1(
    github: IssuesStandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"GITHUB_REPOSITORY": "o/r", "GITHUB_TOKEN": "wrong", "GITHUB_API_URL": github.url}
    assert drift_issue.main(["--stack", "staging", "--drifted", "true"], env) == 1
    assert "GitHub refused" in capsys.readouterr().err
    assert drift_issue.main(["--stack", "staging", "--drifted", "true"], {}) == 1


def _workflow(name: str) -> dict[str, Any]:
    return yamltext.load((ROOT / ".github/workflows" / name).read_text())


def test_the_drift_workflow_previews_with_refresh_checks_railway_and_keeps_one_issue() -> None:
    workflow = _workflow("drift.yml")
    assert "schedule" in workflow["on"] and "workflow_dispatch" in workflow["on"]
    job = workflow["jobs"]["drift"]
    # Every stack file here, listed at run time (tools.stacks): a new stack is checked too.
    assert job["needs"] == "stacks"
    assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    assert "python -m tools.stacks" in workflow["jobs"]["stacks"]["steps"][-1]["run"]
    assert job["permissions"] == {"contents": "read", "issues": "write"}
    steps = {s.get("id", s.get("name")): s for s in job["steps"]}
    preview = steps["preview"]["with"]
    assert preview["command"] == "preview"
    assert preview["refresh"] is True and preview["expect-no-changes"] is True
    assert "tools.railway_drift" in steps["railway"]["run"]
    assert "tools.drift_issue" in job["steps"][-1]["run"]


def test_the_pipeline_app_token_is_scoped_to_the_stacks_application_repository() -> None:
    """Read from the stack file at run time, never a name typed into the workflow."""
    minted = 0
    for name in ("deploy.yml", "drift.yml", "pull-request.yml"):
        for job in _workflow(name)["jobs"].values():
            steps = {s.get("id"): s for s in job["steps"]}
            for step in job["steps"]:
                if not str(step.get("uses", "")).startswith("actions/create-github-app-token@"):
                    continue
                minted += 1
                token = step["with"]
                assert token["owner"] == "${{ steps.app.outputs.owner }}"
                assert token["repositories"] == "${{ steps.app.outputs.name }}"
                assert "tools.app_workflows --stack" in steps["app"]["run"]
                assert "--repository" in steps["app"]["run"]
    assert minted == 4  # deploy (committing and administering), drift, preview
    for stack in STACKS:
        printed = subprocess.run(
            [sys.executable, "-m", "tools.app_workflows", "--project-dir", str(PROJECT_DIR),
             "--stack", stack, "--repository"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        owner, name = validated_stack(stack).github.repository.split("/")
        assert printed.startswith(f"owner={owner}\nname={name}\n")
