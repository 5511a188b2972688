"""usage() reports what the rendered workflows read; check() finds every disagreement with what
the GitHub component declares: one test per kind of problem, and the real defaults pass."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import yaml

from tests.workflows.conftest import (
    CONFIGS,
    DECLARED_SECRETS,
    DECLARED_VARIABLES,
    declared_for,
    load,
)
from workflows import WorkflowsConfig, check, render, usage
from workflows.consistency import Declared, DeclaredEnvironment

DEPLOY = ".github/workflows/deploy-production.yml"
CI = ".github/workflows/ci.yml"


def step(job: dict[str, Any], name: str) -> int:
    """The index of the job's step named `name`."""
    return [s.get("name") for s in job["steps"]].index(name)


def deploy_job(stack: str) -> dict[str, Any]:
    path = f".github/workflows/deploy-{stack}.yml"
    job: dict[str, Any] = yaml.safe_load(render(CONFIGS[stack])[path])["jobs"]["deploy"]
    return job


def edit(files: dict[str, str], path: str, change: Any) -> dict[str, str]:
    """The files with one workflow's YAML changed by `change(workflow)`."""
    workflow = yaml.safe_load(files[path])
    change(workflow)
    return {**files, path: yaml.safe_dump(workflow, sort_keys=False)}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_real_defaults_are_consistent(name: str) -> None:
    config = CONFIGS[name]
    assert check(render(config), declared_for(config)) == []


def test_usage_reports_the_ci_checks_and_what_each_workflow_reads() -> None:
    report = usage(render(CONFIGS["both"]))
    assert report.ci_checks == (
        "frontend",
        "backend",
        "backend integration",
        "backend coverage",
        "image-worker",
        "security",
        "test-and-quality",
    )
    assert report.secrets[".github/workflows/ci.yml"] == ()
    assert report.variables[".github/workflows/ci.yml"] == ()
    # GitHub's own token, for the images job's push, besides the declared ones.
    assert report.secrets[DEPLOY] == tuple(sorted({*DECLARED_SECRETS, "GITHUB_TOKEN"}))
    assert report.variables[DEPLOY] == (
        "API_URL",
        "DEPLOY_FREEZE",
        "FRONTEND_URL",
        "VERCEL_ORG_ID",
        "VERCEL_PROJECT_ID",
        "WORKER_URL",
    )
    assert report.environments[DEPLOY] == ("production",)
    assert report.environments[".github/workflows/rollback-staging.yml"] == ("staging",)
    # The rollback reads no freeze: it must work while deploys are frozen.
    assert "DEPLOY_FREEZE" not in report.variables[".github/workflows/rollback-production.yml"]
    everything = {n for names in report.variables.values() for n in names}
    assert everything <= DECLARED_VARIABLES and "ENVIRONMENT" not in everything


def test_a_required_check_that_is_not_a_ci_job() -> None:
    config = CONFIGS["production"]
    declared = replace(declared_for(config), required_checks=("test-and-quality", "e2e"))
    (problem,) = check(render(config), declared)
    assert problem.key == "github.requiredChecks[1]"
    assert "'e2e' is not a job of the rendered CI" in problem.message
    assert "require 'test-and-quality'" in problem.fix


def test_a_secret_the_environment_does_not_declare() -> None:
    config = CONFIGS["production"]
    declared = declared_for(config)
    declared = replace(
        declared,
        environments={
            "production": DeclaredEnvironment(
                DECLARED_SECRETS - {"RAILWAY_TOKEN"}, DECLARED_VARIABLES
            )
        },
    )
    problems = check(render(config), declared)
    assert problems and all("secrets.RAILWAY_TOKEN" in p.message for p in problems)
    keys = {p.key for p in problems}
    backend = step(deploy_job("production"), "Deploy the backend (Railway)")
    assert f"{DEPLOY}: jobs.deploy.steps[{backend}].env.RAILWAY_TOKEN" in keys
    assert any(k.startswith(".github/workflows/rollback-production.yml: ") for k in keys)
    assert "declare the secret RAILWAY_TOKEN in 'production'" in problems[0].fix


def test_a_variable_the_environment_does_not_declare() -> None:
    staging = CONFIGS["staging"]
    name, service = next((n, s) for n, s in staging.services.items() if s.url_variable)
    renamed = service.model_copy(update={"url_variable": "UNDECLARED_URL"})
    config = staging.model_copy(update={"services": {**staging.services, name: renamed}})
    problems = check(render(config), declared_for(config))
    assert problems
    assert all(
        "reads vars.UNDECLARED_URL, which the environment 'staging' does not declare" in p.message
        for p in problems
    )
    health = step(deploy_job("staging"), "Health checks")
    key = f".github/workflows/deploy-staging.yml: jobs.deploy.steps[{health}].env.UNDECLARED_URL"
    assert key in {p.key for p in problems}


def test_a_secret_read_outside_any_environment() -> None:
    config = CONFIGS["staging"]

    def leak(workflow: dict[str, Any]) -> None:
        workflow["jobs"]["backend"]["steps"][0]["env"] = {"TOKEN": "${{ secrets.RAILWAY_TOKEN }}"}

    files = edit(render(config), ".github/workflows/ci.yml", leak)
    (problem,) = check(files, declared_for(config))
    assert problem.key == ".github/workflows/ci.yml: jobs.backend.steps[0].env.TOKEN"
    assert "outside any GitHub environment" in problem.message


def test_an_environment_that_is_not_declared() -> None:
    config = CONFIGS["both"]
    declared = declared_for(config)
    declared = replace(declared, environments={"staging": declared.environments["staging"]})
    problems = check(render(config), declared)
    environment = [p for p in problems if p.key.endswith(".environment")]
    assert {p.key for p in environment} == {
        f"{DEPLOY}: jobs.deploy.environment",
        ".github/workflows/rollback-production.yml: jobs.rollback.environment",
    }
    assert "'production', which is not declared (declared: staging)" in environment[0].message
    # and what those jobs read is reported too, since nothing is declared for them
    assert any("secrets.RAILWAY_TOKEN" in p.message for p in problems)


BACKEND_GATE = "Deploy freeze gate (before the backend)"
WORKER_GATE = "Deploy freeze gate (before the worker)"
FRONTEND_GATE = "Deploy freeze gate (before the frontend)"


def _move_after(job: dict[str, Any], name: str, after: str) -> None:
    steps = job["steps"]
    moved = steps.pop(step(job, name))
    steps.insert(step(job, after) + 1, moved)


def _gate(job: dict[str, Any], name: str) -> dict[str, Any]:
    gate: dict[str, Any] = job["steps"][step(job, name)]
    return gate


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda job: [
                job["steps"].pop(step(job, n)) for n in ("Deploy freeze gate", BACKEND_GATE)
            ],
            "deploys before any freeze gate",
        ),
        (
            lambda job: _move_after(job, WORKER_GATE, "Deploy the worker (Railway)"),
            "deploys without reading the freeze again since the step that deployed before it",
        ),
        (
            lambda job: job["steps"].pop(step(job, FRONTEND_GATE)),
            "deploys without reading the freeze again since the step that deployed before it",
        ),
        (lambda job: _gate(job, WORKER_GATE).update({"if": "false"}), "may be skipped or ignored"),
        (
            lambda job: _gate(job, FRONTEND_GATE).update({"continue-on-error": True}),
            "may be skipped or ignored",
        ),
        (
            lambda job: _gate(job, BACKEND_GATE)["env"].update(DEPLOY_FREEZE="false"),
            "does not read vars.DEPLOY_FREEZE",
        ),
        (
            lambda job: _gate(job, FRONTEND_GATE)["env"].pop("FREEZE_READ_TOKEN"),
            "cannot read the freeze again (no secrets.FREEZE_READ_TOKEN)",
        ),
        (lambda job: job.pop("environment"), "deploys outside a GitHub environment"),
    ],
)
def test_the_freeze_is_read_again_before_every_step_that_deploys(change: Any, message: str) -> None:
    config = CONFIGS["production"]
    files = edit(render(config), DEPLOY, lambda workflow: change(workflow["jobs"]["deploy"]))
    problems = [p for p in check(files, declared_for(config)) if message in p.message]
    assert len(problems) == 1, check(files, declared_for(config))
    assert problems[0].key.startswith(f"{DEPLOY}: jobs.deploy")
    assert "freeze-gate.sh" in problems[0].fix or "environment" in problems[0].fix


@pytest.mark.parametrize("where", ["step", "job", "workflow"])
def test_a_secret_beside_the_application_build_is_caught(where: str) -> None:
    config = CONFIGS["staging"]
    deploy = ".github/workflows/deploy-staging.yml"
    token = {"VERCEL_TOKEN": "${{ secrets.VERCEL_TOKEN }}"}

    def leak(workflow: dict[str, Any]) -> None:
        job = workflow["jobs"]["deploy"]
        build = job["steps"][step(job, BUILD)]
        {"step": build, "job": job, "workflow": workflow}[where].setdefault("env", {}).update(token)

    edited = edit(render(config), deploy, leak)
    problems = [
        p
        for p in check(edited, declared_for(config))
        if "runs the application's code with a secret" in p.message
    ]
    job = load(edited[deploy])["jobs"]["deploy"]
    # The build, and with a job- or workflow-wide token also the end-to-end tests' install and run.
    app_code = [step(job, BUILD)] + (
        [i for i, s in enumerate(job["steps"]) if "npm ci --no" in str(s.get("run"))]
        + [i for i, s in enumerate(job["steps"]) if "playwright test" in str(s.get("run"))]
        if where != "step"
        else []
    )
    assert [p.key for p in problems] == [f"{deploy}: jobs.deploy.steps[{i}]" for i in app_code]
    assert all("VERCEL_TOKEN" in p.message for p in problems)
    assert "never to the build" in problems[0].fix


BUILD = "Build the frontend (Vercel, production; in a container, no token)"


def test_a_build_on_the_runner_before_the_steps_that_hold_tokens_is_caught() -> None:
    """`vercel build` run on the runner itself could write $GITHUB_ENV / $GITHUB_PATH or the
    deploy CLIs for the token-holding steps after it: each of those steps is reported."""
    config = CONFIGS["production"]
    deploy = ".github/workflows/deploy-production.yml"

    def unwall(workflow: dict[str, Any]) -> None:
        job = workflow["jobs"]["deploy"]
        job["steps"][step(job, BUILD)]["run"] = "vercel build --prod\n"

    rendered = render(config)
    assert check(rendered, declared_for(config)) == []
    problems = [
        p
        for p in check(edit(rendered, deploy, unwall), declared_for(config))
        if "after steps[" in p.message
    ]
    job = load(edit(rendered, deploy, unwall)[deploy])["jobs"]["deploy"]
    holding = [
        i
        for i, s in enumerate(job["steps"])
        if i > step(job, BUILD) and "secrets." in str(s.get("env", {}))
    ]
    assert holding, "the deploy steps after the build hold tokens"
    assert [p.key for p in problems] == [f"{deploy}: jobs.deploy.steps[{i}]" for i in holding]
    assert "walled off" in problems[0].fix


@pytest.mark.parametrize("install", ["npm ci", "npm install --no-audit"])
def test_an_install_of_the_apps_dependencies_beside_a_secret_is_caught(install: str) -> None:
    config = CONFIGS["staging"]

    def leak(workflow: dict[str, Any]) -> None:
        job = workflow["jobs"]["frontend"]
        job["steps"][step(job, "Install")]["env"] = {"NPM_TOKEN": "${{ secrets.NPM_TOKEN }}"}
        job["steps"][step(job, "Install")]["run"] = install

    problems = check(edit(render(config), CI, leak), declared_for(config))
    assert any("runs the application's code with a secret" in p.message for p in problems)


def test_the_deployed_end_to_end_tests_get_the_bypass_secret_and_nothing_else() -> None:
    data = CONFIGS["staging"].model_dump(by_alias=True)
    data["appCi"]["playwright"]["protectionBypass"] = True
    config = WorkflowsConfig.model_validate(data)
    deploy = ".github/workflows/deploy-staging.yml"
    rendered = render(config)
    job = load(rendered[deploy])["jobs"]["deploy"]
    tests = job["steps"][step(job, "Playwright against the deployed frontend (every spec)")]
    assert tests["env"]["E2E_BYPASS"] == "${{ secrets.VERCEL_AUTOMATION_BYPASS_SECRET }}"
    declared = declared_for(config)
    environments = {
        name: DeclaredEnvironment(e.secrets | {"VERCEL_AUTOMATION_BYPASS_SECRET"}, e.variables)
        for name, e in declared.environments.items()
    }
    declared = Declared(
        declared.required_checks,
        environments,
        app_secrets=frozenset({"VERCEL_AUTOMATION_BYPASS_SECRET"}),
    )
    assert check(rendered, declared) == []

    def leak(workflow: dict[str, Any]) -> None:
        job = workflow["jobs"]["deploy"]
        index = step(job, "Playwright against the deployed frontend (every spec)")
        job["steps"][index]["env"]["RAILWAY_TOKEN"] = "${{ secrets.RAILWAY_TOKEN }}"

    problems = check(edit(rendered, deploy, leak), declared)
    assert [p.message.split(":")[0] for p in problems] == [
        "holds a secret (RAILWAY_TOKEN) after steps[{}] ran the application's code on the "
        "runner, which could have changed this step's environment, PATH or tools".format(
            step(job, "Install the frontend's dependencies (for its end-to-end tests)")
        ),
        "runs the application's code with a secret in its environment (RAILWAY_TOKEN)",
    ]


def test_a_deploy_step_added_to_another_job_needs_its_own_gate() -> None:
    config = CONFIGS["production"]

    def sneak(workflow: dict[str, Any]) -> None:
        workflow["jobs"]["hotfix"] = {
            "runs-on": "ubuntu-24.04",
            "environment": "production",
            "steps": [{"run": "railway up --service backend --environment production --detach"}],
        }

    (problem,) = check(edit(render(config), DEPLOY, sneak), declared_for(config))
    assert problem.key == f"{DEPLOY}: jobs.hotfix.steps[0]"
    assert problem.message == "deploys before any freeze gate has run"


def test_a_renamed_freeze_variable_is_caught() -> None:
    config = CONFIGS["production"]
    declared = replace(declared_for(config), freeze_variable="DEPLOYS_FROZEN")
    problems = check(render(config), declared)
    # one gate before each of the three steps that deploy: backend, worker, frontend
    assert [p.message for p in problems] == [
        "the freeze gate before it does not read vars.DEPLOYS_FROZEN"
    ] * 3


def test_every_problem_prints_its_key_and_fix() -> None:
    config = WorkflowsConfig.model_validate(CONFIGS["staging"].model_dump(by_alias=True))
    problems = check(render(config), Declared(required_checks=("lint",)))
    text = "\n".join(map(str, problems))
    assert "github.requiredChecks[0]: 'lint' is not a job" in text
    assert text.count("\n    fix: ") == len(problems) >= 3
    assert DECLARED_SECRETS  # the declared names come from the component, not from render
