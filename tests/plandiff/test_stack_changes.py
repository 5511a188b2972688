"""One change at a time in a real stack file, as a reviewer tries it: what the comment shows.

Golden files: tests/plandiff/golden/stack/<case>.md (UPDATE_GOLDEN=1 rewrites them; read the
diff before committing).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from components.config import TeamReviewer, flag_variable
from tests.conftest import NAMESPACE, PROJECT_DIR, STACKS, CommittedPlan, key, validated_stack
from tests.plandiff import stacks
from tests.policy.weakenings import advisories
from tools.plandiff.markdown import plural
from tools.plandiff.plan import Snapshot

GOLDEN = Path(__file__).parent / "golden" / "stack"
PRODUCTION = validated_stack("production")
# The production stack's first Railway service, and the service its Vercel service's first
# public url names.
# A Railway service its deploy workflow ships from its folder (`railway up`): its root shows.
RAILWAY = next(n for n, s in PRODUCTION.of("railway").items() if s.deploy == "workflow")
VERCEL, VERCEL_SERVICE = next(iter(PRODUCTION.of("vercel").items()))
assert VERCEL_SERVICE.vercel is not None
PUBLIC_VARIABLE, PUBLIC_SERVICE = next(iter(VERCEL_SERVICE.vercel.public_urls.items()))


@pytest.fixture(scope="module")
def bases(committed_plan: CommittedPlan) -> dict[str, Snapshot]:
    return {stack: stacks.snapshot_of(committed_plan(stack)) for stack in STACKS}


# A feature flag production has off (the last by name).
FLAG = max(f for f, on in PRODUCTION.feature_flags.items() if not on)


def flag_on(config: dict[str, Any]) -> None:
    config[key("featureFlags")][FLAG] = True


def rollback_acts_not(config: dict[str, Any]) -> None:
    config[key("rollback")]["dryRun"] = True


MOVED_ROOT = "moved/elsewhere"  # a source folder no stack uses


def service_root(config: dict[str, Any]) -> None:
    config[f"{NAMESPACE}:services"][RAILWAY]["root"] = MOVED_ROOT


def team_reviewer(config: dict[str, Any]) -> None:
    config[key("github")]["reviewers"].append({"team": "platform"})


def error_threshold(config: dict[str, Any]) -> None:
    stacks.set_key(config, "monitoring.triggers.performance.errorRate", 0.02)


def no_wait(config: dict[str, Any]) -> None:
    config[key("github")]["waitTimer"] = 0


def other_railway_project(config: dict[str, Any]) -> None:
    config[key("railway")]["projectId"] = "0b5e7c1d-2f3a-4d6e-8a9b-1c2d3e4f5a6b"


SECRET_ENV = next(n for s in PRODUCTION.services.values() for n in s.secret_env)


def service_secret(config: dict[str, Any]) -> None:
    stacks.set_key(config, "secrets", {"env": {SECRET_ENV: {"secure": "v1:AAAAbmV3Y2lwaGVy"}}})


CASES = {
    "production_feature_flag": ("production", flag_on),
    "production_rollback_dry_run": ("production", rollback_acts_not),
    "production_service_root_directory": ("production", service_root),
    "production_team_reviewer": ("production", team_reviewer),
    "production_error_threshold": ("production", error_threshold),
    "production_wait_timer_policy": ("production", no_wait),
    "production_railway_project_replaces": ("production", other_railway_project),
    "staging_secret_set": ("staging", service_secret),
}


@pytest.mark.committed_stacks("the golden reports are of this repository's stacks, edited")
@pytest.mark.parametrize("case", sorted(CASES))
def test_report_matches_golden_file(case: str, bases: dict[str, Snapshot]) -> None:
    stack, edit = CASES[case]
    _, markdown = stacks.diff(stack, bases[stack], edit)
    golden = GOLDEN / f"{case}.md"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(markdown, encoding="utf-8")
    assert golden.exists(), f"{golden} missing: run UPDATE_GOLDEN=1 pytest tests/plandiff"
    assert markdown == golden.read_text(encoding="utf-8"), (
        f"report differs from {golden.name}; if the change is intended, regenerate with "
        "UPDATE_GOLDEN=1 and review the golden diff"
    )


def section(markdown: str, name: str) -> str:
    """The <details> block of the resource `name`."""
    start = markdown.index(f"<code>{name}</code>")
    return markdown[start : markdown.index("</details>", start)]


def test_a_flag_flip_shows_false_to_true_on_its_variable(bases: dict[str, Snapshot]) -> None:
    _, markdown = stacks.diff("production", bases["production"], flag_on)
    block = section(markdown, f"{VERCEL}-env-{flag_variable(FLAG).lower()}")
    assert '- `value`: `"false"` → `"true"`' in block
    assert "applies an environment-variable change only to new deployments" in markdown
    assert "vercel redeploy" in markdown
    assert "[!CAUTION]" not in markdown  # a protected variable changed in place
    assert f"- `featureFlags.{FLAG}`: `false` → `true`" in markdown


def test_every_public_vercel_variable_shows_its_value(bases: dict[str, Snapshot]) -> None:
    """The provider marks every variable's value secret; a public one shows in clear."""
    for stack, base in bases.items():
        public = [
            r.inputs
            for r in base.plan.resources
            if r.type == "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable"
            and r.inputs["sensitive"] is False
        ]
        config = validated_stack(stack)
        assert VERCEL_SERVICE.vercel is not None
        count = 2 + len(VERCEL_SERVICE.vercel.public_urls) + len(config.feature_flags)
        assert len(public) == count, stack
        assert all(inputs["value"] != "[secret]" for inputs in public), stack


def test_a_url_change_shows_on_the_public_variable_that_names_it(
    bases: dict[str, Snapshot],
) -> None:
    def moved(config: dict[str, Any]) -> None:
        config[f"{NAMESPACE}:services"][PUBLIC_SERVICE]["url"] = "https://moved.example.net"

    _, markdown = stacks.diff("production", bases["production"], moved)
    block = section(markdown, f"{VERCEL}-env-{PUBLIC_VARIABLE.lower()}")
    was = PRODUCTION.services[PUBLIC_SERVICE].url
    assert f'- `value`: `"{was}"` → `"https://moved.example.net"`' in block


def test_settings_in_a_command_stdin_show_per_key(bases: dict[str, Snapshot]) -> None:
    _, markdown = stacks.diff("production", bases["production"], rollback_acts_not)
    block = section(markdown, "rollback")
    assert '- `stdin.service.variables.ROLLBACK_DRY_RUN`: `"false"` → `"true"`' in block
    _, markdown = stacks.diff("production", bases["production"], service_root)
    block = section(markdown, RAILWAY)
    was = PRODUCTION.services[RAILWAY].root
    assert f'- `stdin.service.source.rootDirectory`: `"{was}"` → `"{MOVED_ROOT}"`' in block


def test_an_added_team_reviewer_shows_its_slug(bases: dict[str, Snapshot]) -> None:
    _, markdown = stacks.diff("production", bases["production"], team_reviewer)
    teams = sum(isinstance(r, TeamReviewer) for r in validated_stack("production").github.reviewers)
    assert f"- `reviewers[0].teams[{teams}]`: added `team platform`" in markdown
    assert f"- `github.reviewers.teams[{teams}]`: added `team platform`" in markdown


def test_a_monitoring_change_shows_once_and_its_holders_say_so(
    bases: dict[str, Snapshot],
) -> None:
    diff, markdown = stacks.diff("production", bases["production"], error_threshold)
    assert [f.path for f in diff.files] == [
        "monitoring/grafana/dashboards/application.json",  # its threshold line
        "monitoring/prometheus/rules/alerts.yml",
        "monitoring/rollback-config.yml",  # the rollback service's copy of the thresholds
    ]
    diff_lines = {line for f in diff.files for line in f.diff}
    changed = [line for line in markdown.splitlines() if line.startswith("+") and "0.02" in line]
    assert changed and all(line in diff_lines for line in changed)
    assert len(changed) == len(set(changed))  # each changed line once
    note = "monitoring file `monitoring/prometheus/rules/alerts.yml` changed"
    assert note in section(markdown, "prometheus")  # the server's file variable
    assert note in section(markdown, "monitoring-prometheus/rules/alerts.yml")  # the stash
    assert markdown.count(note) == 3  # and the hash in the outputs
    rollback = "monitoring file `monitoring/rollback-config.yml` changed"
    assert rollback in section(markdown, "rollback")  # ROLLBACK_CONFIG


def test_policy_violations_come_first_per_stack(bases: dict[str, Snapshot]) -> None:
    _, markdown = stacks.diff("production", bases["production"], no_wait)
    policy = markdown.index("#### Policy")
    assert policy < markdown.index("#### Resources")
    assert "❌ **1 mandatory violation** (1 new in this change):" in markdown
    assert "- 🆕 `[mandatory]` `production-environment-protection`" in markdown
    # the advisories the stack grants (self-review, bypass actors): folded
    folded = plural(len(advisories("production")), "advisory", "advisories")
    assert f"<details><summary>⚠️ {folded}</summary>" in markdown
    assert "| `production` | 0 | 1 | 0 |" in markdown and "| ❌ 1 |" in markdown


def test_a_changed_trigger_is_a_replacement_in_the_caution_box(
    bases: dict[str, Snapshot],
) -> None:
    _, markdown = stacks.diff("production", bases["production"], other_railway_project)
    caution = markdown[markdown.index("> [!CAUTION]") : markdown.index("### ")]
    # Every Railway service of the stack: the product's and the pipeline's own.
    railway = bases["production"].plan.resources
    replaced = len([r for r in railway if r.type == "command:local:Command"])
    assert f"{replaced} resources will be replaced" in caution
    assert f"🟠 replace `command:local:Command` `{RAILWAY}`" in caution


def test_a_secret_set_anew_shows_without_its_value(bases: dict[str, Snapshot]) -> None:
    _, markdown = stacks.diff("staging", bases["staging"], service_secret)
    assert f"- `{NAMESPACE}:secrets.env.{SECRET_ENV}`: [secret] changed (added)" in markdown
    assert "AAAAbmV3Y2lwaGVy" not in markdown


def test_canary_secrets_stay_out_of_the_comment() -> None:
    """Every secret a canary, on both sides of a change that touches every secret's consumer."""
    from tools import policycheck, synth
    from tools.plandiff import diff_sides, render

    canary = "canary-plandiff-7d1e-do-not-leak"
    secrets: dict[str, Any] = {
        "env": {n: f"{canary}-{n}" for s in PRODUCTION.services.values() for n in s.secret_env},
        **{name: f"{canary}-{name}" for name in ("slackApiUrl", "smtpPassword")},
        **{name: f"{canary}-{name}" for name in ("vercelToken", "railwayToken")},
    }

    def side(edit: Any, secrets: dict[str, Any]) -> Snapshot:
        config = stacks.edited("production", edit)
        plan = synth.run_program("production", config, secrets, PROJECT_DIR)
        files = synth.monitoring_files(plan)
        return Snapshot(
            stacks.Plan.model_validate(plan.to_json()),
            {f"monitoring/{p}": c.encode() for p, c in files.items()},
        )

    def everything(config: dict[str, Any]) -> None:
        flag_on(config)
        error_threshold(config)
        other_railway_project(config)
        vercel = config[f"{NAMESPACE}:services"][VERCEL]
        vercel["secretEnv"] = [*vercel.get("secretEnv", []), "NEW"]

    more = {**secrets, "env": {**secrets["env"], "NEW": canary}}
    base, head = side(None, secrets), side(everything, more)
    settings = {"production": policycheck.pack_config("production", PROJECT_DIR)}
    markdown = render(diff_sides({"production": base}, {"production": head}, settings=settings))
    assert "- `value`: [secret] changed (added)" in markdown  # the new sensitive variable
    assert "🟠 replace" in markdown and '`"false"` → `"true"`' in markdown
    assert canary not in markdown
