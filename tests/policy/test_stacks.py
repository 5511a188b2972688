"""The offline check over the real program: both stacks pass, each weakening fails it."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import components.monitoring
import components.pipeline
from components.railway.spec import SECRET_ENV_PREFIX
from policy import rules
from tests.conftest import SynthFn
from tests.policy.weakenings import WEAKENINGS, github
from tools import policycheck

RULESET_URN = (
    "urn:pulumi:production::autonomica-pipeline::pipeline:github:Environment"
    "$github:index/repositoryRuleset:RepositoryRuleset::github-branch-ruleset"
)
ENVIRONMENT_URN = (
    "urn:pulumi:production::autonomica-pipeline::pipeline:github:Environment"
    "$github:index/repositoryEnvironment:RepositoryEnvironment::github-environment"
)


def offline(plan: Any) -> tuple[bool, str]:
    out = io.StringIO()
    failed = policycheck.run(plan.to_json(), out=out)
    return failed, out.getvalue()


def test_real_stacks_pass(run_stack: SynthFn, stack: str) -> None:
    plan = run_stack(stack)
    violations = policycheck.check(plan.to_json())
    assert [v for v in violations if v.level == "mandatory"] == []
    failed, _ = offline(plan)
    assert not failed


def test_production_flags_self_review_for_a_human() -> None:
    from tools import synth

    violations = policycheck.check(synth.synthesize("production").to_json())
    found = sorted((v.rule, v.level, v.resource.urn) for v in violations)
    checks = RULESET_URN.replace("github-branch-ruleset", "github-checks-ruleset")
    review = RULESET_URN.replace("github-branch-ruleset", "github-review-ruleset")
    assert found == [
        ("production-branch-bypass", "advisory", checks),  # the committer app
        ("production-branch-bypass", "advisory", review),  # the committer app
        ("production-branch-bypass", "advisory", review),  # the maintainer's merges
        ("production-self-review", "advisory", ENVIRONMENT_URN),
    ]


@pytest.mark.parametrize("weakening", sorted(WEAKENINGS))
def test_weakened_production_stack_fails(run_stack: SynthFn, weakening: str) -> None:
    edit, rule, resource_name, message = WEAKENINGS[weakening]
    failed, report = offline(run_stack("production", edit))
    assert failed
    # Each reported violation is a block: level, rule, (type: name), description, message, urn.
    blocks = report.split("\n        - ")[1:]
    assert any(
        block.startswith(f"[mandatory]  {rule}  ")
        and f": {resource_name})" in block
        and message in block
        for block in blocks
    ), report


def test_staging_may_skip_review_and_wait(run_stack: SynthFn) -> None:
    plan = run_stack("staging", github(lambda gh: gh.update(reviewers=[], waitTimer=0)))
    failed, report = offline(plan)
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


def test_cli_exit_codes(
    tmp_path: Path, run_stack: SynthFn, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(run_stack("production").to_json()))
    weak = tmp_path / "weak.json"
    weak.write_text(
        json.dumps(run_stack("production", github(lambda gh: gh.update(waitTimer=1))).to_json())
    )
    stricter = tmp_path / "config.json"
    stricter.write_text(json.dumps({"production-environment-protection": {"minWaitTimer": 10}}))
    bad_config = tmp_path / "bad.json"
    bad_config.write_text(
        json.dumps({"production-environment-protection": {"minWaitTimer": "soon"}})
    )

    assert policycheck.main([str(good)]) == 0
    assert policycheck.main([str(weak)]) == 1
    assert policycheck.main([str(good), "--policy-config", str(stricter)]) == 1
    assert "minimum of 10" in capsys.readouterr().out
    assert policycheck.main([str(good), "--policy-config", str(bad_config)]) == 2
    assert "minWaitTimer" in capsys.readouterr().err
    assert policycheck.main([str(tmp_path / "missing.json")]) == 2


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
    mandatory = [v for v in policycheck.check(plan) if v.level == "mandatory"]
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


def _rollback_built_on_push(plan: dict[str, Any]) -> None:
    source = {"repo": "someone/autonomica-pipeline", "branch": "main"}
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
    plan = run_stack("production").to_json()
    change(plan)
    mandatory = [v for v in policycheck.check(plan) if v.level == "mandatory"]
    assert any(
        (v.rule, v.resource.name) == (rule, resource_name) and words in v.message for v in mandatory
    ), [(v.rule, v.resource.name, v.message) for v in mandatory]


def test_the_policy_reads_secret_variables_by_the_converge_tools_names() -> None:
    assert rules.SECRET_ENV_PREFIX == SECRET_ENV_PREFIX


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
