"""render(): deterministic files, the required check is a CI job, and the safety properties of
every workflow (pinned actions, least privilege, timeouts, one deploy at a time, the freeze
gate first, no expression inside a script)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from tests.conftest import ROOT
from tests.workflows.conftest import CONFIGS as FIXTURE_CONFIGS
from tests.workflows.conftest import STACK_CONFIGS as CONFIGS
from tests.workflows.conftest import load
from workflows import WorkflowsConfig, render, usage
from workflows.actions import PINS

PINNED = re.compile(r"^\s*(?:- )?uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)$")


def _root_of_each(root: str) -> dict[str, Any]:
    """A change of the staging config that moves every service's source folder to `root`."""
    services = CONFIGS["staging"].services.items()
    return {"services": {n: {**s.model_dump(by_alias=True), "root": root} for n, s in services}}


def workflows_of(config: WorkflowsConfig) -> dict[str, dict[str, Any]]:
    return {
        path: load(text)
        for path, text in render(config).items()
        if path.startswith(".github/workflows/")
    }


def test_render_is_byte_identical_for_the_same_config_even_in_another_process() -> None:
    config = CONFIGS["both"]
    again = WorkflowsConfig.model_validate(config.model_dump(by_alias=True))
    assert render.__wrapped__(config) == render.__wrapped__(again)  # render() caches by input
    script = (
        "import json, sys; from workflows import WorkflowsConfig, render; "
        "print(json.dumps(render(WorkflowsConfig.model_validate_json(sys.argv[1]))))"
    )
    other = subprocess.run(
        [sys.executable, "-c", script, config.model_dump_json(by_alias=True)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert json.loads(other.stdout) == render(config)


def test_the_application_repository_gets_ci_a_deploy_and_a_rollback_per_stack_and_scripts() -> None:
    """The fixture product's two stacks."""
    assert sorted(render(FIXTURE_CONFIGS["both"])) == [
        ".github/dependabot.yml",
        ".github/deploy-tools/package-lock.json",
        ".github/deploy-tools/package.json",
        ".github/e2e/playwright.config.mjs",
        ".github/scripts/freeze-gate.sh",
        ".github/scripts/health-check.sh",
        ".github/scripts/railway-deploy.sh",
        ".github/scripts/railway-lib.sh",
        ".github/smoke/locustfile.py",
        ".github/workflows/ci.yml",
        ".github/workflows/deploy-production.yml",
        ".github/workflows/deploy-staging.yml",
        ".github/workflows/rollback-production.yml",
        ".github/workflows/rollback-staging.yml",
    ]
    # A stack renders its own deploy and rollback, and the same shared files.
    staging, production = render(FIXTURE_CONFIGS["staging"]), render(FIXTURE_CONFIGS["production"])
    shared = set(staging) & set(production)
    assert {p for p in staging if "production" in p} == set()
    assert all(staging[p] == production[p] for p in shared)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_required_check_is_a_job_of_the_rendered_ci(name: str) -> None:
    config = CONFIGS[name]
    assert config.required_check == "test-and-quality"  # the stacks' requiredChecks
    assert config.required_check in usage(render(config)).ci_checks


def test_a_renamed_required_check_names_the_gate_job_that_needs_every_other_job() -> None:
    config = CONFIGS["staging"].model_copy(update={"required_check": "CI / quality gate (all)"})
    ci = workflows_of(config)[".github/workflows/ci.yml"]
    assert usage(render(config)).ci_checks[-1] == "CI / quality gate (all)"
    gate = next(job for job in ci["jobs"].values() if job["name"] == config.required_check)
    assert set(gate["needs"]) == set(config.ci_jobs())
    assert gate["if"] == "${{ always() }}"  # runs, and fails, when a needed job failed


def test_ci_runs_the_checks_of_the_issue_with_the_coverage_gate() -> None:
    config = CONFIGS["production"].model_copy(update={"coverage_gate": 85})
    ci = workflows_of(config)[".github/workflows/ci.yml"]
    scripts = {
        name: "\n".join(step.get("run", "") for step in job["steps"])
        for name, job in ci["jobs"].items()
    }
    # One job per source folder and language, named after its first service.
    assert list(ci["jobs"])[: len(config.ci_jobs())] == list(config.ci_jobs())
    for job, services in config.checked().items():
        first = config.services[services[0]]
        assert ci["jobs"][job]["defaults"]["run"]["working-directory"] == first.root
        if first.language == "python":  # its integration tests and its gate are jobs of their own
            scripts[job] += "\n".join(
                scripts[f"{job}{suffix}"] for suffix in ("-integration", "-coverage")
            )
        if first.language == "node":
            commands = ["npm ci", "eslint", "prettier --check", "tsc --noEmit", "next build",
                        "jest --ci --coverage"]  # fmt: skip
        else:
            packages = {config.services[s].python.package for s in services}  # type: ignore[union-attr]
            commands = ["ruff check", "ruff format --check", "mypy", "--fail-under=85",
                        "coverage combine .coverage.unit .coverage.integration",
                        'python -m pytest -m "not integration and not slow"',
                        'python -m pytest -m "integration or slow"', "python -m build --wheel",
                        *(f"--cov={package}" for package in packages)]  # fmt: skip
        for command in commands:
            assert command in scripts[job], f"{job}: {command}"
    for command in ("bandit", "pip-audit", "npm audit --audit-level=high"):
        assert command in scripts["security"]
    assert set(ci["on"]) == {"pull_request", "workflow_call"}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_action_is_pinned_to_a_release_sha_with_its_version_in_a_comment(name: str) -> None:
    for path, text in render(CONFIGS[name]).items():
        for line in text.splitlines():
            if "uses:" in line and "./.github/workflows/" not in line:
                match = PINNED.match(line)
                assert match, f"{path}: {line.strip()}"
                assert PINS[match.group(1)] == (match.group(2), match.group(3))


# The stacks under test, and the fixture product's with every Dockerfile's image built.
PRIVILEGES = {**CONFIGS, "built images (fixture)": FIXTURE_CONFIGS["built images"]}


@pytest.mark.parametrize("name", sorted(PRIVILEGES))
def test_least_privilege_timeouts_and_no_expression_inside_a_script(name: str) -> None:
    for path, workflow in workflows_of(PRIVILEGES[name]).items():
        assert workflow["permissions"] == {"contents": "read"}, path
        for job_id, job in workflow["jobs"].items():
            assert set(job["permissions"]) <= {"contents", "packages"}, f"{path}: {job_id}"
            assert job["permissions"].get("contents", "read") == "read"
            # Only the deploy's image job pushes (never a pull request's CI); its deploy job
            # reads the pushed image's digest.
            if "packages" in job["permissions"]:
                assert path.startswith(".github/workflows/deploy-"), f"{path}: {job_id}"
                packages = (job_id, job["permissions"]["packages"])
                assert packages in {("images", "write"), ("deploy", "read")}, f"{path}: {packages}"
            if "uses" in job:  # a reusable workflow's caller; ci.yml's jobs have timeouts
                continue
            assert 0 < job["timeout-minutes"] <= 60, f"{path}: {job_id}"
            for step in job["steps"]:
                assert "${{" not in step.get("run", ""), f"{path}: {job_id}: {step['name']}"
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_a_push_to_the_stack_branch_runs_ci_then_deploys_once_at_a_time(stack: str) -> None:
    config = CONFIGS["both"]
    environment = next(e for e in config.environments if e.name == stack)
    deploy = workflows_of(config)[f".github/workflows/deploy-{stack}.yml"]
    assert deploy["on"]["push"] == {"branches": [environment.branch]}
    assert deploy["jobs"]["ci"]["uses"] == "./.github/workflows/ci.yml"
    job = deploy["jobs"]["deploy"]
    assert job["needs"] == (["ci", "images"] if config.images() else "ci")
    assert job["environment"]["name"] == environment.github_environment
    assert job["concurrency"] == {"group": f"deploy-{stack}", "cancel-in-progress": False}
    names = [step.get("name", step.get("uses", "")) for step in job["steps"]]
    assert names[1] == "Deploy freeze gate"  # right after the checkout that brings the script
    assert ("Smoke test (Locust, headless)" in names) == (environment.kind != "production")
    shipped = [
        *(f"the {n} (Railway)" for n, s in config.on("railway").items() if s.deploy == "workflow"),
        *(f"the {n} (Vercel, production)" for n in config.on("vercel")),
    ]
    assert shipped
    deploys = [names.index(f"Deploy {what}") for what in shipped]
    assert names.index("Health checks") > max(deploys)
    # The Vercel service is built before anything ships, so a build that fails deploys nothing.
    for name in config.on("vercel"):
        build = f"Build the {name} (Vercel, production; in a container, no token)"
        assert names.index(build) < min(deploys)
    # Each platform step comes right after its own read of the freeze.
    for index in deploys:
        assert names[index - 1].startswith("Deploy freeze gate (before")


def test_the_rollback_workflow_offers_each_service_and_a_reason_and_runs_the_pipeline_code() -> (
    None
):
    config = CONFIGS["production"]
    rollback = workflows_of(config)[".github/workflows/rollback-production.yml"]
    inputs = rollback["on"]["workflow_dispatch"]["inputs"]
    offered = [name for name, service in config.services.items() if service.rollback]
    assert inputs["service"]["options"] == ["all", *offered]
    assert inputs["reason"]["type"] == "string" and inputs["reason"]["required"] is True
    job = rollback["jobs"]["rollback"]
    assert job["environment"] == "production"
    # The deploy's group: a rollback cancels a deploy in flight, and a deploy waits for it.
    deploy = workflows_of(config)[".github/workflows/deploy-production.yml"]["jobs"]["deploy"]
    assert job["concurrency"] == {
        "group": deploy["concurrency"]["group"],
        "cancel-in-progress": True,
    }
    checkout = job["steps"][1]["with"]
    assert (checkout["repository"], checkout["ref"]) == (config.pipeline_repository, "main")
    script = next(s["run"] for s in job["steps"] if s.get("name") == "Roll back")
    assert '.venv/bin/python -m rollback rollback --service "$service"' in script
    assert not any("freeze-gate" in s.get("run", "") for s in job["steps"])


def test_a_ci_job_named_like_the_required_check_is_refused() -> None:
    data = CONFIGS["staging"].model_dump(by_alias=True)
    first_job = next(iter(CONFIGS["staging"].checked()))
    with pytest.raises(ValidationError, match="is the name of a CI job that it gates"):
        WorkflowsConfig.model_validate({**data, "requiredCheck": first_job})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"healthCheck": {"tries": 0}}, "greater than or equal to 1"),
        ({"healthCheck": {"intervalSeconds": 600}}, "less than or equal to 120"),
        ({"smokeTest": {"users": 500}}, "less than or equal to 50"),
        ({"smokeTest": {"durationSeconds": 1}}, "greater than or equal to 5"),
        ({"coverageGate": 101}, "less than or equal to 100"),
        ({"nodeVersion": "18.x"}, "'20.x' or '22.x'"),
        ({"requiredCheck": "security"}, "is the name of a CI job that it gates"),
        ({"secrets": {"railwayToken": "railway token"}}, "should match pattern"),
        (_root_of_each("../elsewhere"), "should match pattern"),
        (_root_of_each("app/../../etc"), "should match pattern"),
        ({"typo": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_config_is_refused_with_its_key(change: dict[str, Any], message: str) -> None:
    data = CONFIGS["staging"].model_dump(by_alias=True) | change
    with pytest.raises(ValidationError, match=message):
        WorkflowsConfig.model_validate(data)


def test_two_environments_cannot_share_a_branch() -> None:
    data = CONFIGS["both"].model_dump(by_alias=True)
    data["environments"][1]["branch"] = data["environments"][0]["branch"]
    with pytest.raises(ValidationError, match=r"branch \['develop'\] used more than once"):
        WorkflowsConfig.model_validate(data)


@pytest.mark.parametrize("managed", [True, False])
def test_dependabot_leaves_the_files_the_pipeline_commits_to_it(managed: bool) -> None:
    """Managed, the pipeline owns the workflows and the deploy CLIs' lockfile: a Dependabot pull
    request to them would be overwritten by the next `pulumi up`, so only the app's own folders
    are updated; rendered, the team owns them all."""
    config = CONFIGS["staging"].model_copy(update={"managed": managed})
    updates = yaml.safe_load(render(config)[".github/dependabot.yml"])["updates"]
    ecosystems = {(u["package-ecosystem"], u["directory"]) for u in updates}
    services = config.services.values()
    app = {("npm" if s.language == "node" else "pip", f"/{s.root}") for s in services}
    docker = {("docker", f"/{s.root}") for s in services if s.dockerfile}
    owned = {("npm", "/.github/deploy-tools"), ("github-actions", "/")}
    assert ecosystems == app | docker | (set() if managed else owned)
    schedule = config.app_ci.dependency_updates
    assert all(u["cooldown"]["default-days"] == schedule.cooldown_days for u in updates)
    assert all(u["schedule"]["time"] == schedule.time for u in updates)
