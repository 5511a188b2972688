"""The offline check over the real program: both stacks pass, each weakening fails it."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import components.monitoring
import components.pipeline
from components.railway.spec import SECRET_ENV_PREFIX
from policy import settings as policy_settings
from policy.checks import rollback as rollback_checks
from tests.conftest import NAMESPACE, PROJECT_DIR, STACKS, SynthFn, validated_stack
from tests.policy.weakenings import OWN_HOSTS, PINS, WEAKENINGS, advisories, github, pack_config
from tools import policycheck

RULESET_URN = (
    f"urn:pulumi:production::{NAMESPACE}::pipeline:github:Environment"
    "$github:index/repositoryRuleset:RepositoryRuleset::github-branch-ruleset"
)
ENVIRONMENT_URN = (
    f"urn:pulumi:production::{NAMESPACE}::pipeline:github:Environment"
    "$github:index/repositoryEnvironment:RepositoryEnvironment::github-environment"
)


def offline(plan: Any, config: Any = None) -> tuple[bool, str]:
    """The offline check with the settings of the plan's stack (committed, or `config`)."""
    out = io.StringIO()
    config = pack_config(plan.stack) if config is None else config
    failed = policycheck.run(plan.to_json(), config, out=out)
    return failed, out.getvalue()


def test_real_stacks_pass(run_stack: SynthFn, stack: str) -> None:
    plan = run_stack(stack)
    violations = policycheck.check(plan.to_json(), policycheck.pack_config(stack, PROJECT_DIR))
    assert [v for v in violations if v.level == "mandatory"] == []
    failed, _ = offline(plan)
    assert not failed


def test_production_flags_self_review_and_every_bypass_for_a_human() -> None:
    """The advisories name who may pass production's rules, as the stack file grants it
    (weakenings.advisories)."""
    from tools import synth

    violations = policycheck.check(
        synth.synthesize("production", project_dir=PROJECT_DIR).to_json(),
        policycheck.pack_config("production", PROJECT_DIR),
    )
    expected = advisories("production")
    assert expected, "the stack grants no bypass: nothing shows the advisories"
    assert sorted((v.rule, v.resource.name) for v in violations) == expected
    assert {v.level for v in violations} == {"advisory"}
    urns = {v.resource.name: v.resource.urn for v in violations}
    review = RULESET_URN.replace("branch-ruleset", "review-ruleset")  # where mergeBypass is
    for name, urn in (("github-environment", ENVIRONMENT_URN), ("github-review-ruleset", review)):
        assert urns.get(name, urn) == urn


@pytest.mark.parametrize("weakening", sorted(WEAKENINGS))
def test_weakened_production_stack_fails(run_stack: SynthFn, weakening: str) -> None:
    edit, rule, resource_name, message = WEAKENINGS[weakening]
    pinned = PINS[weakening]() if weakening in PINS else None
    plan = run_stack("production", edit)
    failed, report = offline(plan, pack_config("production", edit, pinned))
    assert failed
    # Each reported violation is a block: level, rule, (type: name), description, message, urn.
    blocks = report.split("\n        - ")[1:]
    assert any(
        block.startswith(f"[mandatory]  {rule}  ")
        and f": {resource_name})" in block
        and message in block
        for block in blocks
    ), report


@pytest.mark.parametrize("weakening", sorted(PINS))
def test_a_stack_naming_another_repository_expects_that_one(
    run_stack: SynthFn, weakening: str
) -> None:
    """Unpinned (a settings file without pins), the repository the policy expects is the one
    the stack file names; the committed production settings pin it, so a swap fails."""
    edit, rule, _, _ = WEAKENINGS[weakening]
    plan = run_stack("production", edit)
    unpinned = pack_config("production", edit, {})
    assert [v for v in policycheck.check(plan.to_json(), unpinned) if v.rule == rule] == []
    # The committed settings (the other repository) refuse the edited plan.
    failed, report = offline(plan, pack_config("production"))
    assert failed and f"[mandatory]  {rule}  " in report


@pytest.mark.parametrize("change", sorted(OWN_HOSTS))
def test_a_credential_goes_only_to_the_stacks_own_host(run_stack: SynthFn, change: str) -> None:
    """A host the stack names as its SMTP smarthost or rollback URL is trusted with its
    credential; the same plan judged with the settings of a stack that does not name it (the
    committed one) fails."""
    edit, rule, _, message = OWN_HOSTS[change]
    edited = run_stack("production", edit)
    failed, report = offline(edited, pack_config("production", edit))
    assert not failed, report
    failed, report = offline(edited, pack_config("production"))
    assert failed
    assert f"[mandatory]  {rule}  " in report and message in report


def test_staging_may_skip_review_and_wait(run_stack: SynthFn) -> None:
    edit = github(lambda gh: gh.update(reviewers=[], waitTimer=0))
    failed, report = offline(run_stack("staging", edit), pack_config("staging", edit))
    assert not failed, report


def test_token_in_a_variable_fails(
    run_stack: SynthFn, stack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A code change that moves a token into an Actions variable (no stack key can do it)."""
    original = components.pipeline.GitHubEnvironment

    def leaky(name: str, args: Any, opts: Any) -> Any:
        leaked = args.variables | {"DEPLOY_HOOK": "ghp_" + "k9L8m7N6o5" * 4}
        return original(name, dataclasses.replace(args, variables=leaked), opts)

    monkeypatch.setattr(components.pipeline, "GitHubEnvironment", leaky)
    failed, report = offline(run_stack(stack))
    assert failed
    assert (
        "[mandatory]  no-secret-in-plain-channel  (github:index/actionsEnvironmentVariable"
        in report
    )
    assert "github-variable-deploy_hook" in report
    assert "DEPLOY_HOOK holds a GitHub token" in report
    assert "k9L8m7N6o5" not in report


def test_alert_without_summary_fails(run_stack: SynthFn, monkeypatch: pytest.MonkeyPatch) -> None:
    original = components.monitoring.render

    def unsummarised(config: Any) -> dict[str, str]:
        files = original(config)
        path = "prometheus/rules/alerts.yml"
        files[path] = files[path].replace("summary:", "headline:")
        return files

    monkeypatch.setattr(components.monitoring, "render", unsummarised)
    failed, report = offline(run_stack("staging"))
    assert failed
    stash = "pulumi:index:Stash: monitoring-prometheus/rules/alerts.yml"
    assert f"[mandatory]  alert-rules-labelled  ({stash})" in report
    assert "lacks annotation summary" in report


def _project(tmp_path: Path, stack: str, settings: str) -> Path:
    """A copy of the project's stack with `settings` as its policy settings file."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name in ("Pulumi.yaml", f"Pulumi.{stack}.yaml"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    path = policy_settings.path_of(tmp_path, stack)
    path.parent.mkdir(parents=True)
    path.write_text(settings)
    return tmp_path


def test_cli_exit_codes(
    tmp_path: Path, run_stack: SynthFn, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(run_stack("production").to_json()))
    weak = tmp_path / "weak.json"
    weak.write_text(
        json.dumps(run_stack("production", github(lambda gh: gh.update(waitTimer=1))).to_json())
    )
    stricter_wait = validated_stack("production").github.wait_timer + 1
    stricter = _project(
        tmp_path / "strict",
        "production",
        f"rules: {{production-environment-protection: {{minWaitTimer: {stricter_wait}}}}}",
    )
    typo = _project(
        tmp_path / "typo",
        "production",
        "rules: {production-environment-protection: {minWaitTimr: 10}}",
    )

    project = ["--project-dir", str(PROJECT_DIR)]
    assert policycheck.main([str(good), *project]) == 0
    assert policycheck.main([str(weak), *project]) == 1
    assert policycheck.main([str(good), "--project-dir", str(stricter)]) == 1
    assert f"minimum of {stricter_wait}" in capsys.readouterr().out
    assert policycheck.main([str(good), "--project-dir", str(typo)]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # nothing ran
    assert (
        "rules.production-environment-protection.minWaitTimr: unknown key; "
        "did you mean minWaitTimer?" in err
    )
    unset = _project(tmp_path / "unset", "production", "")
    policy_settings.path_of(unset, "production").unlink()
    assert policycheck.main([str(good), "--project-dir", str(unset)]) == 2  # no settings file
    assert "no policy settings for the stack 'production'" in capsys.readouterr().err
    assert policycheck.main([str(tmp_path / "missing.json")]) == 2


def test_pack_config_prints_the_settings_crossguard_gets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = ["--project-dir", str(PROJECT_DIR)]
    assert policycheck.main(["--pack-config", "--stack", "production", *project]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == policycheck.pack_config("production", PROJECT_DIR)


def _server(plan: dict[str, Any], name: str) -> dict[str, Any]:
    (command,) = [
        r for r in plan["resources"] if r["type"] == "command:local:Command" and r["name"] == name
    ]
    return command


def _edit_spec(command: dict[str, Any], **service: Any) -> None:
    spec = json.loads(command["inputs"]["stdin"])
    spec["service"].update(service)
    command["inputs"]["stdin"] = json.dumps(spec)


@pytest.mark.parametrize(
    ("name", "change", "rule"),
    [
        ("prometheus", lambda c: c.update(protect=False), "production-monitoring-protected"),
        (
            "alertmanager",
            lambda c: _edit_spec(c, settings={"startCommand": "/bin/alertmanager"}),
            "monitoring-authenticated",
        ),
        (
            "grafana",
            lambda c: _edit_spec(c, source={"image": "grafana/grafana-oss:12.1.1"}),
            "images-pinned-by-digest",
        ),
    ],
)
def test_a_weakened_monitoring_server_fails_the_offline_check(
    run_stack: SynthFn, name: str, change: Callable[[dict[str, Any]], None], rule: str
) -> None:
    plan = run_stack("production").to_json()
    change(_server(plan, name))
    config = policycheck.pack_config("production", PROJECT_DIR)
    mandatory = [v for v in policycheck.check(plan, config) if v.level == "mandatory"]
    assert [(v.rule, v.resource.name) for v in mandatory] == [(rule, name)]


def _ruleset(plan: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [r for r in plan["resources"] if r["name"] == f"github-{name}-ruleset"]
    return found


def _unbound_check(plan: dict[str, Any]) -> None:
    checks = _ruleset(plan, "checks")["inputs"]["rules"]["requiredStatusChecks"]
    for check in checks["requiredChecks"]:
        check.pop("integrationId")


def _app_past_force_pushes(plan: dict[str, Any]) -> None:
    app = _ruleset(plan, "checks")["inputs"]["bypassActors"][0]
    _ruleset(plan, "branch")["inputs"]["bypassActors"] = [app]


# The App's bypass exists where pulumi up commits the app repository's workflows.
_COMMITTER_APP = github(
    lambda gh: gh.update(workflows="managed", committerAppId=gh.get("committerAppId", 7654321))
)
STACK_EDITS = {_app_past_force_pushes: _COMMITTER_APP}


def _rollback_built_on_push(plan: dict[str, Any]) -> None:
    _, name = validated_stack("production").rollback.repository.split("/")
    source = {"repo": f"someone/{name}", "branch": "main"}
    _edit_spec(_server(plan, "rollback"), source=source)


def _rollback_with_an_account_token(plan: dict[str, Any]) -> None:
    command = _server(plan, "rollback")
    spec = json.loads(command["inputs"]["stdin"])
    spec["service"]["secretVariables"].append("RAILWAY_API_TOKEN")
    command["inputs"]["stdin"] = json.dumps(spec)
    command["inputs"]["environment"][f"{SECRET_ENV_PREFIX}RAILWAY_API_TOKEN"] = "[secret]"


@pytest.mark.parametrize(
    ("change", "rule", "resource_name", "words"),
    [
        (
            _unbound_check,
            "production-branch-protection",
            "github-checks-ruleset",
            "is matched by name only",
        ),
        (
            _app_past_force_pushes,
            "production-branch-protection",
            "github-branch-ruleset",
            "may bypass deletion, force-pushes: no one may",
        ),
        (_rollback_built_on_push, "rollback-least-privilege", "rollback", "built by Railway"),
        (
            _rollback_with_an_account_token,
            "rollback-least-privilege",
            "rollback",
            "holds RAILWAY_API_TOKEN",
        ),
    ],
)
def test_a_weakened_production_plan_fails_the_offline_check(
    run_stack: SynthFn,
    change: Callable[[dict[str, Any]], None],
    rule: str,
    resource_name: str,
    words: str,
) -> None:
    """Weakenings no stack key can make, only a change to the program."""
    plan = run_stack("production", STACK_EDITS.get(change)).to_json()
    change(plan)
    config = policycheck.pack_config("production", PROJECT_DIR)
    mandatory = [v for v in policycheck.check(plan, config) if v.level == "mandatory"]
    assert any(
        (v.rule, v.resource.name) == (rule, resource_name) and words in v.message for v in mandatory
    ), [(v.rule, v.resource.name, v.message) for v in mandatory]


def test_the_policy_reads_secret_variables_by_the_converge_tools_names() -> None:
    assert rollback_checks.SECRET_ENV_PREFIX == SECRET_ENV_PREFIX


def test_a_reviewing_team_the_stack_does_not_grant_access_fails(
    run_stack: SynthFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    import components.github

    monkeypatch.setattr(components.github.github, "TeamRepository", lambda *_, **__: None)
    plan = run_stack("production", github(lambda gh: gh.update(reviewers=[{"team": "platform"}])))
    failed, report = offline(plan)
    assert failed
    assert "[mandatory]  production-reviewer-teams-have-access" in report
    assert "reviews production deployments but the stack grants it no access" in report


def test_a_mistyped_stack_names_the_stacks_there_not_a_settings_file_to_create(
    capsys: pytest.CaptureFixture[str],
) -> None:
    typo = f"{STACKS[0]}x"
    assert (
        policycheck.main(["--pack-config", "--stack", typo, "--project-dir", str(PROJECT_DIR)]) == 2
    )
    err = capsys.readouterr().err
    assert f"Pulumi.{typo}.yaml does not exist; stack files there: " in err
    assert all(f"Pulumi.{stack}.yaml" in err for stack in STACKS)
    assert "create it" not in err
