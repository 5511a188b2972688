"""The application repository's workflows as the stack declares them, and the gates that make
them the only path to production: Railway and Vercel deploy nothing on a push by themselves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import app_repository
from components.config import raw_project_config
from components.config.loading import required_secrets
from components.vercel import IGNORE_PRODUCTION_PUSHES
from tests.conftest import (
    NAMESPACE,
    PROJECT_DIR,
    ROOT,
    STACKS,
    SynthFn,
    config_error,
    key,
    stack_config,
    validated_stack,
)
from tools import synth

FILE = "github:index/repositoryFile:RepositoryFile"
RULESET = "github:index/repositoryRuleset:RepositoryRuleset"
VERCEL = next(iter(validated_stack("staging").of("vercel")))
ENVIRONMENT = validated_stack("production").environment.name


def managed(stack: str) -> Any:
    """An edit: the stack's workflows committed by pulumi up (`managed`), as its own App (its
    committerAppId, or a test id where it renders them); None where the stack manages them."""
    if validated_stack(stack).github.workflows == "managed":
        return None

    def edit(config: dict[str, Any]) -> None:
        config[key("github")].update(workflows="managed", committerAppId=4200 + STACKS.index(stack))

    return edit


def committer(stack: str) -> int:
    return validated_stack(stack).github.committer_app_id or 4200 + STACKS.index(stack)


def test_managed_workflows_are_committed_on_the_stacks_branch(
    run_stack: SynthFn, stack: str
) -> None:
    plan = run_stack(stack, managed(stack))
    committed = {r["inputs"]["file"]: r for r in plan.of_type(FILE)}
    config = validated_stack(stack)
    github = config.github.model_copy(
        update={"workflows": "managed", "committer_app_id": committer(stack)}
    )
    rendered = app_repository.files(config.model_copy(update={"github": github}))
    assert sorted(committed) == sorted(rendered)
    assert f".github/workflows/deploy-{config.environment.name}.yml" in committed
    for path, resource in committed.items():
        assert resource["inputs"]["content"] == rendered[path]
        assert resource["inputs"]["branch"] == config.github.branch
        assert resource["inputs"]["repository"] == config.github.name
        assert resource["protect"] is config.is_production
    app = {"actorType": "Integration", "actorId": committer(stack), "bypassMode": "always"}
    rulesets = {r["inputs"]["name"]: r["inputs"] for r in plan.of_type(RULESET)}
    environment = config.github.environment
    for kind in ("checks", "review"):  # the checks and the review rule both let it push
        assert app in rulesets[f"{kind}-{environment}"]["bypassActors"]
    assert "bypassActors" not in rulesets[f"branch-{environment}"]  # no one deletes or force-pushes


def test_each_stack_commits_as_its_own_app() -> None:
    """Staging's App is no bypass actor on production's branch: code merged to the pipeline's
    develop cannot push to the app's main (docs/security.md)."""
    apps = [validated_stack(s).github.committer_app_id for s in STACKS]
    apps = [app for app in apps if app is not None]
    if len(apps) < 2:
        pytest.skip("fewer than two stacks commit the app repository's workflows")
    assert len(set(apps)) == len(apps)


def test_rendered_workflows_commit_nothing_and_let_no_app_push(run_stack: SynthFn) -> None:
    def rendered(config: dict[str, Any]) -> None:
        github = config[key("github")]
        github["workflows"] = "rendered"
        github.pop("committerAppId", None)

    plan = run_stack("production", rendered)
    assert plan.of_type(FILE) == []
    github = validated_stack("production").github
    rulesets = {r["inputs"]["name"]: r["inputs"] for r in plan.of_type(RULESET)}
    assert "bypassActors" not in rulesets[f"branch-{github.environment}"]
    assert "bypassActors" not in rulesets[f"checks-{github.environment}"]  # the checks bind all
    actors = rulesets[f"review-{github.environment}"].get("bypassActors", [])
    # Only the maintainers' merges of their own pull requests.
    assert [(a["actorType"], a["bypassMode"]) for a in actors] == [
        ("User", "pull_request") for _ in github.merge_bypass
    ]


def test_the_environment_declares_what_the_workflows_read(run_stack: SynthFn, stack: str) -> None:
    plan = run_stack(stack)
    secrets = {r["inputs"]["secretName"] for r in plan.of_type(
        "github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret")}  # fmt: skip
    variables = {r["inputs"]["variableName"] for r in plan.of_type(
        "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable")}  # fmt: skip
    config = validated_stack(stack)
    assert secrets == set(app_repository.secrets(config))
    assert variables == set(app_repository.variables(config))
    assert app_repository.problems(config, app_repository.files(config)) == []


def test_no_push_deploys_around_the_workflow(run_stack: SynthFn, stack: str) -> None:
    plan = run_stack(stack)
    railway = validated_stack(stack).of("railway")
    for command in plan.of_type("command:local:Command"):
        if command["name"] in railway:
            source = json.loads(command["inputs"]["stdin"])["service"]["source"]
            built = railway[command["name"]].deploy == "built"  # the image CI built and pushed
            shipped = "imageRepository" if built else "rootDirectory"
            assert set(source) == {"deployedBy", shipped}  # no repo, no branch
    [project] = plan.of_type("vercel:index/project:Project")
    assert project["inputs"]["ignoreCommand"] == IGNORE_PRODUCTION_PUSHES


@pytest.mark.parametrize(
    ("vercel_env", "builds"), [("production", False), ("preview", True), ("development", True)]
)
def test_vercel_builds_no_production_push_but_still_previews(vercel_env: str, builds: bool) -> None:
    """Vercel's Ignored Build Step: exit 0 skips the build, 1 builds."""
    done = subprocess.run(
        ["sh", "-c", IGNORE_PRODUCTION_PUSHES], env={"VERCEL_ENV": vercel_env}, check=False
    )
    assert (done.returncode != 0) is builds


def test_managed_workflows_without_a_committer_fail_before_any_resource() -> None:
    def no_committer(config: dict[str, Any]) -> None:
        config[key("github")]["workflows"] = "managed"
        config[key("github")].pop("committerAppId", None)

    message = config_error("production", no_committer)
    assert "github.workflows managed needs github.committerAppId" in message


def test_a_required_check_the_ci_never_reports_fails_before_any_resource() -> None:
    def e2e(config: dict[str, Any]) -> None:
        config[key("github")]["requiredChecks"] = [*required, "e2e"]

    required = validated_stack("staging").github.required_checks
    message = config_error("staging", e2e)
    at = len(required)
    assert f"{key('github')}.requiredChecks[{at}]: 'e2e' is not a job of the rendered CI" in message
    assert "fix: " in message


def test_the_cli_writes_the_files_for_a_team_that_commits_them(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.app_workflows",
            "--project-dir",
            str(PROJECT_DIR),
            "--stack",
            "staging",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    written = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert written == set(app_repository.files(validated_stack("staging")))


def _app_ci(config: dict[str, Any]) -> dict[str, Any]:
    app_ci: dict[str, Any] = config.setdefault(key("appCi"), {})
    return app_ci


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: _app_ci(c).update(databases={"postgres": "postgres:16"}),
            "appCi.databases.postgres",
        ),
        (
            lambda c: _app_ci(c).update(dependencyUpdates={"time": "25:00"}),
            "appCi.dependencyUpdates.time",
        ),
        (lambda c: _app_ci(c).update(playwright={"workers": 0}), "appCi.playwright.workers"),
        (
            lambda c: c[key("services")][VERCEL].update(dockerfile="Dockerfile"),
            "dockerfile, schedule and deploy are Railway settings",
        ),
    ],
)
def test_bad_app_ci_settings_fail_before_any_resource_with_their_key(
    edit: Any, message: str
) -> None:
    assert message in config_error("staging", edit)


def test_a_bypass_of_deployment_protection_needs_its_secret_and_only_the_tests_get_it(
    run_stack: SynthFn,
) -> None:
    def bypass(config: dict[str, Any]) -> None:
        _app_ci(config).update(playwright={"protectionBypass": True})

    edited = stack_config("production")
    bypass(edited)
    assert "vercelBypassSecret" in required_secrets(raw_project_config(
        synth.pulumi_config(edited, namespace=NAMESPACE)[0], NAMESPACE))  # fmt: skip
    canary = "vercel-bypass-canary-41f0"
    to_manage = managed("production")

    def both(config: dict[str, Any]) -> None:
        bypass(config)
        if to_manage:  # the files pulumi up commits show what each step gets
            to_manage(config)

    plan = run_stack("production", both, {"vercelBypassSecret": canary})
    secrets = {r["inputs"]["secretName"]: r for r in plan.of_type(
        "github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret")}  # fmt: skip
    assert "VERCEL_AUTOMATION_BYPASS_SECRET" in secrets
    assert canary not in json.dumps([r["inputs"] for r in plan.of_type(FILE)])
    path = f".github/workflows/deploy-{ENVIRONMENT}.yml"
    deploy = next(r["inputs"]["content"] for r in plan.of_type(FILE)
                  if r["inputs"]["file"] == path)  # fmt: skip
    steps = yaml.safe_load(deploy)["jobs"]["deploy"]["steps"]
    holders = [s["name"] for s in steps if "VERCEL_AUTOMATION_BYPASS_SECRET" in str(s.get("env"))]
    assert holders == [f"Playwright against the deployed {VERCEL} (the smoke set)"]


def test_the_smoke_gate_is_the_alerts_bounds_of_the_stack(stack: str) -> None:
    config = validated_stack(stack)
    performance = config.monitoring.triggers.performance
    smoke = app_repository.workflows_config(config).smoke_test
    assert smoke.max_failure_ratio == performance.error_rate
    assert smoke.max_p95_seconds == performance.response_time_p95.total_seconds()
    deploy = app_repository.files(config)[f".github/workflows/deploy-{config.environment.name}.yml"]
    if not config.is_production:
        assert (
            f"SMOKE_MAX_P95_MS: '{performance.response_time_p95.total_seconds() * 1000:.0f}'"
            in (deploy)
        )


def _review_ruleset(plan: Any) -> dict[str, Any]:
    (review,) = [r for r in plan.of_type(RULESET) if r["inputs"]["name"].startswith("review-")]
    return review["inputs"]


def test_code_owners_must_approve_a_change_to_the_workflows(run_stack: SynthFn, stack: str) -> None:
    """With github.codeOwners, the stack commits a CODEOWNERS file owning .github/ and its
    review ruleset requires a code owner's approval: a pull request that adds a job named like
    the required check waits for them. Without it, neither."""
    gh = validated_stack(stack).github
    assert gh.code_owners, "the stacks under test name their code owners"
    manage = managed(stack)  # the stack's workflows committed by pulumi up

    def edited(change: Any = None) -> Any:
        def edit(config: dict[str, Any]) -> None:
            for step in (manage, change):
                if step is not None:
                    step(config)

        return run_stack(stack, edit)

    plan = edited()
    committed = {r["inputs"]["file"]: r["inputs"]["content"] for r in plan.of_type(FILE)}
    owners = [line for line in committed[".github/CODEOWNERS"].splitlines() if line[:1] != "#"]
    expected = [
        f"@{o.user}" if hasattr(o, "user") else f"@{gh.owner}/{o.team}" for o in gh.code_owners
    ]
    assert owners == [f"/.github/ {' '.join(expected)}"]
    assert _review_ruleset(plan)["rules"]["pullRequest"]["requireCodeOwnerReview"] is True

    def without(config: dict[str, Any]) -> None:
        config[key("github")].pop("codeOwners")

    bare = edited(without)
    assert ".github/CODEOWNERS" not in {r["inputs"]["file"] for r in bare.of_type(FILE)}
    assert _review_ruleset(bare)["rules"]["pullRequest"]["requireCodeOwnerReview"] is False
