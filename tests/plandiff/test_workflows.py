"""The repository's own workflows: valid schema, no zizmor finding even as an auditor, and the
safety properties (pinned actions, least privilege, every secret in an environment and none
beside a pull request's code, state backend required, one deploy per stack, each stack's own
GitHub App)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import (
    NAMESPACE,
    schema_check,
    skip_or_fail,
    validated_stack,
    workflow_schema_check,
    zizmor_findings,
)
from workflows import yamltext
from workflows.consistency import APP_CODE

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def workflow_files() -> list[Path]:
    files = sorted(WORKFLOWS.glob("*.yml"))
    if not files:
        skip_or_fail(f"no workflow files in {WORKFLOWS}")
    return files


def load(name: str) -> dict[str, Any]:
    path = WORKFLOWS / name
    if not path.exists():
        skip_or_fail(f"{path} missing")
    return yamltext.load(path.read_text(encoding="utf-8"))


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith(f"{action}@")]


def test_workflows_match_the_github_actions_schema() -> None:
    result = workflow_schema_check(workflow_files())
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_even_as_an_auditor() -> None:
    """The auditor persona adds the pedantic audits: secrets outside a dedicated environment,
    permissions without a comment saying why."""
    dependabot = WORKFLOWS.parent / "dependabot.yml"
    findings = zizmor_findings([*workflow_files(), dependabot], "--persona", "auditor")
    assert [f"{f['ident']}: {f['desc']}" for f in findings] == []


def test_dependabot_updates_what_this_repository_pins_and_matches_its_schema() -> None:
    dependabot = WORKFLOWS.parent / "dependabot.yml"
    result = schema_check("vendor.dependabot", [dependabot])
    assert result.returncode == 0, result.stdout + result.stderr
    updates = yaml.safe_load(dependabot.read_text(encoding="utf-8"))["updates"]
    covered = {(u["package-ecosystem"], u["directory"]) for u in updates}
    assert covered == {
        ("pip", "/"),
        ("github-actions", "/"),
        ("npm", "/workflows/scripts/deploy-tools"),
    }


SECRET = re.compile(r"\$\{\{\s*secrets\.(\w+)")


def jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path.name, name, job)
        for path in workflow_files()
        for name, job in load(path.name)["jobs"].items()
    ]


def test_every_secret_is_read_in_a_job_bound_to_an_environment() -> None:
    """A repository secret is readable by a workflow on any pushed branch; an environment's only
    by the jobs its protection (branch policy, reviewers) admits."""
    for workflow, name, job in jobs():
        secrets = set(SECRET.findall(json.dumps(job))) - {"GITHUB_TOKEN"}
        if secrets:
            assert job.get("environment"), f"{workflow}: {name} reads {sorted(secrets)}"


def test_jobs_that_run_a_pull_requests_code_hold_no_secret_and_no_environment() -> None:
    pull_request = load("pull-request.yml")["jobs"]
    for name in ("test", "plan-diff"):
        job = pull_request[name]
        assert "environment" not in job and "secrets." not in json.dumps(job), name
    assert "secrets." not in json.dumps(load("deploy.yml")["jobs"]["test"])
    # The schema is fetched beside a token of an empty project, from the base commit's code.
    schema = pull_request["railway-schema"]
    assert schema["steps"][0]["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"


def test_only_the_comment_workflow_silences_zizmor_and_only_for_its_trigger() -> None:
    silenced = {
        (path.name, match)
        for path in workflow_files()
        for match in re.findall(r"zizmor: ignore\[([^\]]+)\]", path.read_text(encoding="utf-8"))
    }
    assert silenced <= {("plan-diff-comment.yml", "dangerous-triggers")}


def test_every_action_is_pinned_to_a_full_commit_sha() -> None:
    for path in workflow_files():
        for line in path.read_text(encoding="utf-8").splitlines():
            used = re.search(r"uses:\s*(\S+)", line)
            if used:
                assert PINNED.match(used.group(1)), f"{path.name}: {line.strip()}"


def test_permissions_are_empty_by_default_and_granted_per_job() -> None:
    for path in workflow_files():
        workflow = load(path.name)
        assert workflow["permissions"] == {}, path.name
        for name, job in workflow["jobs"].items():
            assert "permissions" in job, f"{path.name}: job {name} has no permissions block"
            assert "write-all" not in str(job["permissions"])
            assert job["permissions"].get("contents", "read") == "read", f"{path.name}: {name}"


def test_pull_request_code_never_runs_with_write_access_or_secrets() -> None:
    pull_request = load("pull-request.yml")
    assert set(pull_request["on"]) == {"pull_request"}
    plan_diff = pull_request["jobs"]["plan-diff"]
    assert "secrets." not in json.dumps(plan_diff)
    assert plan_diff["permissions"] == {"contents": "read"}
    for job in pull_request["jobs"].values():
        for step in steps_using(job, "actions/checkout"):
            assert step["with"]["persist-credentials"] is False

    comment = load("plan-diff-comment.yml")
    assert comment["on"]["workflow_run"]["workflows"] == [pull_request["name"]]
    job = comment["jobs"]["comment"]
    assert not steps_using(job, "actions/checkout"), "the privileged workflow must not check out"
    script = job["steps"][-1]["run"]
    assert "${{" not in script, "event data reaches the script through env, never inline"
    assert "pulls/$pr" in script and "HEAD_SHA" in script, "comments only on the matching PR"


def test_a_live_preview_runs_only_in_an_environment_a_person_approves() -> None:
    """The pull request's program runs there with the stack's passphrase: preview-<stack> has
    required reviewers (docs/security.md), and its GitHub token is the read-only App's."""
    preview = load("pull-request.yml")["jobs"]["preview"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in preview["if"]
    assert preview["environment"] == "preview-${{ matrix.stack }}"
    assert preview["needs"] == "stacks"
    assert preview["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    assert preview["permissions"] == {"contents": "read"}
    (pulumi,) = steps_using(preview, "pulumi/actions")
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["diff"] is True
    (token,) = steps_using(preview, "actions/create-github-app-token")
    assert token["with"]["client-id"] == "${{ vars.READER_APP_CLIENT_ID }}"
    assert {v for k, v in token["with"].items() if k.startswith("permission-")} == {"read"}


MATRIX = "${{ fromJSON(needs.test.outputs.stacks) }}"


def stacks_of(*args: str) -> list[str]:
    """What the workflows' lister prints: `python -m tools.stacks ARGS`."""
    done = subprocess.run(
        [sys.executable, "-m", "tools.stacks", *args],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    found: list[str] = json.loads(done.stdout)
    return found


def test_a_push_deploys_each_stack_of_its_branch_in_that_stacks_environment() -> None:
    """One job per stack whose `github.branch` is the pushed branch, in the GitHub environment
    named after the stack (whose branch policy and reviewers hold its secrets), one update per
    stack at a time, then the rollback service shipped from this commit."""
    deploy = load("deploy.yml")
    test_job = deploy["jobs"]["test"]
    (lister,) = [s for s in test_job["steps"] if s.get("id") == "stacks"]
    assert lister["env"] == {"BRANCH": "${{ github.ref_name }}"}
    assert 'tools.stacks --branch "$BRANCH"' in lister["run"]
    assert test_job["outputs"] == {"stacks": "${{ steps.stacks.outputs.stacks }}"}
    job = deploy["jobs"]["up"]
    assert job["needs"] == "test"
    assert job["if"] == "needs.test.outputs.stacks != '[]'"
    assert job["strategy"]["matrix"]["stack"] == MATRIX
    assert job["environment"] == "${{ matrix.stack }}"
    assert job["concurrency"] == {
        "group": "pulumi-${{ matrix.stack }}",
        "cancel-in-progress": False,
    }
    (pulumi,) = steps_using(job, "pulumi/actions")
    assert pulumi["with"]["command"] == "up"
    assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"
    names = [step.get("name", step.get("uses", "")) for step in job["steps"]]
    ship = job["steps"][names.index("Ship the rollback service from this commit (Railway)")]
    assert job["steps"].index(ship) > job["steps"].index(pulumi)
    assert ship["env"]["STACK"] == "${{ matrix.stack }}"
    assert 'railway-deploy.sh rollback "$STACK"' in ship["run"]


def test_every_stack_deploys_from_a_branch_the_workflow_is_pushed_on() -> None:
    """The lister finds each committed stack on its own branch only, and the push trigger covers
    every stack's branch: a stack on a branch missing here would never deploy."""
    branches = load("deploy.yml")["on"]["push"]["branches"]
    found = {branch: stacks_of("--branch", branch) for branch in branches}
    for stack in stacks_of():
        branch = validated_stack(stack).github.branch
        assert branch in branches, f"{stack} deploys from {branch}, which deploy.yml never runs on"
        assert [b for b, listed in found.items() if stack in listed] == [branch]
    assert stacks_of("--branch", "no-such-branch") == []


def test_each_stack_mints_its_own_app_with_only_what_it_may_do() -> None:
    """A stack that is not of kind production gets a token that may commit to its branch and
    nothing else: no administration (main's rulesets, production's reviewers), no environments
    (production's secrets). Which token a stack gets is read from its stack file."""
    job = load("deploy.yml")["jobs"]["up"]
    tokens = {s["id"]: s for s in steps_using(job, "actions/create-github-app-token")}
    assert set(tokens) == {"commit-token", "admin-token"}
    granted = {}
    for token in tokens.values():
        assert token["with"]["private-key"] == "${{ secrets.PIPELINE_APP_PRIVATE_KEY }}"
        granted[token["if"]] = {
            k: v for k, v in token["with"].items() if k.startswith("permission-")
        }
    assert granted == {
        "steps.app.outputs.administers != 'true'": {
            "permission-contents": "write",
            "permission-workflows": "write",
        },
        "steps.app.outputs.administers == 'true'": {
            "permission-administration": "write",
            "permission-contents": "write",
            "permission-environments": "write",
            "permission-workflows": "write",
        },
    }
    (pulumi,) = steps_using(job, "pulumi/actions")
    assert pulumi["env"]["GITHUB_TOKEN"] == (
        "${{ steps.admin-token.outputs.token || steps.commit-token.outputs.token }}"
    )
    for stack in stacks_of():
        printed = subprocess.run(
            [sys.executable, "-m", "tools.app_workflows", "--stack", stack, "--repository"],
            cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
        ).stdout  # fmt: skip
        administers = str(validated_stack(stack).is_production).lower()
        assert f"administers={administers}\n" in printed


def test_jobs_that_touch_state_require_the_backend_secret_first() -> None:
    checked = 0
    for path in workflow_files():
        for name, job in load(path.name)["jobs"].items():
            if not steps_using(job, "pulumi/actions"):
                continue
            checked += 1
            guard = job["steps"][0]
            assert guard["env"] == {"PULUMI_BACKEND_URL": "${{ secrets.PULUMI_BACKEND_URL }}"}
            assert 'if [ -z "$PULUMI_BACKEND_URL" ]' in guard["run"], f"{path.name}: {name}"
            assert "exit 1" in guard["run"]
            for step in steps_using(job, "pulumi/actions"):
                assert step["with"]["cloud-url"] == "${{ secrets.PULUMI_BACKEND_URL }}"
    assert checked == 3  # preview, up, drift (each a matrix of the stacks)


@pytest.mark.parametrize("backend", ["", f"s3://state-bucket/{NAMESPACE}"])
def test_backend_guard_stops_with_a_clear_message_only_when_the_secret_is_missing(
    backend: str,
) -> None:
    guard = load("deploy.yml")["jobs"]["up"]["steps"][0]["run"]
    result = subprocess.run(
        ["bash", "-c", guard],
        env={"PATH": "/usr/bin:/bin", "PULUMI_BACKEND_URL": backend},
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    if backend:
        assert result.returncode == 0
        assert result.stdout == ""
    else:
        assert result.returncode == 1
        assert "::error title=PULUMI_BACKEND_URL is not set::" in result.stdout
        assert "never falls back to a local state" in result.stdout


def test_no_step_that_installs_or_runs_packages_holds_a_secret() -> None:
    """An install script (npm ci) or the program's own dependencies must not see a token: the
    tools are installed in steps of their own, and only the step that calls the platform gets
    the token (workflows.consistency.APP_CODE, the check the app's workflows pass too)."""
    checked = 0
    for path in workflow_files():
        for name, job in load(path.name)["jobs"].items():
            for step in job.get("steps", []):
                if APP_CODE.search(str(step.get("run", ""))):
                    checked += 1
                    assert "secrets." not in json.dumps(step.get("env", {})), (path.name, name)
    assert checked >= 1  # the Railway CLI's install in the deploy job
