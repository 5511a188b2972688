"""Golden Markdown for the cases of issue 6. Regenerate with UPDATE_GOLDEN=1 after a deliberate
change to the report, then read the diff of tests/plandiff/golden/ before committing it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.plandiff import scenarios
from tools import policycheck
from tools.plandiff import COMMENT_LIMIT, diff_sides, load_side, render

GOLDEN = Path(__file__).parent / "golden"


def report(case: Callable[[], scenarios.Case], tmp_path: Path) -> str:
    base, head = case()
    heads = load_side(scenarios.write_side(head, tmp_path / "head"))
    # The scenario product's policy settings for each stack, as the CLI reads them.
    settings = {stack: policycheck.pack_config(stack, scenarios.PROJECT_DIR) for stack in heads}
    return render(
        diff_sides(load_side(scenarios.write_side(base, tmp_path / "base")), heads, True, settings)
    )


@pytest.mark.parametrize("name", sorted(scenarios.CASES))
def test_report_matches_golden_file(name: str, tmp_path: Path) -> None:
    markdown = report(scenarios.CASES[name], tmp_path)
    golden = GOLDEN / f"{name}.md"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(markdown, encoding="utf-8")
    assert golden.exists(), f"{golden} missing: run UPDATE_GOLDEN=1 pytest tests/plandiff"
    assert markdown == golden.read_text(encoding="utf-8"), (
        f"report differs from {golden.name}; if the change is intended, regenerate with "
        "UPDATE_GOLDEN=1 and review the golden diff"
    )


def test_no_change_says_so_without_warnings(tmp_path: Path) -> None:
    markdown = report(scenarios.no_change, tmp_path)
    assert "**No changes.**" in markdown
    assert "[!CAUTION]" not in markdown
    assert "#### Resources" not in markdown


def test_added_resource_lists_its_inputs(tmp_path: Path) -> None:
    markdown = report(scenarios.added_resource, tmp_path)
    assert "| `staging` | 1 | 0 | 0 |" in markdown
    assert "<b>create</b>" in markdown
    assert '- `variableName`: `"FEATURE_FLAGS"`' in markdown
    assert "[!CAUTION]" not in markdown


def test_deleting_a_protected_resource_is_a_loud_warning_in_the_summary(tmp_path: Path) -> None:
    markdown = report(scenarios.deleted_protected, tmp_path)
    summary, _, details = markdown.partition("### ")
    assert "> [!CAUTION]" in summary
    assert "1 resource will be deleted" in summary
    assert "🔒 protected" in summary
    assert "<b>delete</b>" in details


def test_protected_update_in_place_is_marked_but_raises_no_caution(tmp_path: Path) -> None:
    base, head = scenarios.base_side(), scenarios.base_side()
    head["production"].find("production")["inputs"]["waitTimer"] = 30
    markdown = report(lambda: (base, head), tmp_path)
    assert "[!CAUTION]" not in markdown
    assert "<b>update</b> <code>github:index/repositoryEnvironment:RepositoryEnvironment</code> " \
        "<code>production</code> 🔒 protected" in markdown  # fmt: skip
    assert "- `waitTimer`: `0` → `30`" in markdown


def test_replacement_and_protection_removed_raise_the_caution_box(tmp_path: Path) -> None:
    markdown = report(scenarios.replace_and_unprotect, tmp_path)
    summary, _, details = markdown.partition("### ")
    assert "> [!CAUTION]" in summary
    assert "1 resource will be replaced and 1 resource will lose `protect`" in summary
    assert "🟠 replace `command:local:Command` `production-backend`" in summary
    assert "(🔓 protection removed)" in summary
    moved = f'`"{scenarios.RAILWAY_PROJECT}"` → `"{scenarios.OTHER_RAILWAY_PROJECT}"`'
    assert f"- `triggers[0]`: {moved}" in details


def test_secret_changes_show_no_value(tmp_path: Path) -> None:
    markdown = report(scenarios.secret_change, tmp_path)
    assert scenarios.CANARY not in markdown
    assert "- `sentryDsn`: [secret] changed (now secret)" in markdown
    assert "- `REDIS_URL` (secret variable): [secret] changed (added)" in markdown
    assert '- `stdin.service.secretVariables[1]`: added `"REDIS_URL"`' in markdown
    assert "- `value`: [secret] changed (removed)" in markdown


def test_threshold_change_shows_as_a_unified_diff_once(tmp_path: Path) -> None:
    markdown = report(scenarios.threshold_change, tmp_path)
    assert markdown.count("> 0.02") == 1  # not again in the stash's content or a variable
    assert (
        "- monitoring file `monitoring/rules/backend.yml` changed (`input.content`, "
        "`input.sha256`): see Monitoring files"
    ) in markdown
    assert '- monitoring file `monitoring/rules/backend.yml` changed (`monitoring.files["rules/' \
        'backend.yml"]`)' in markdown  # fmt: skip
    assert "--- a/monitoring/rules/backend.yml" in markdown
    assert '-            / sum(rate(http_requests_total{job="backend"}[5m])) > 0.05' in markdown
    assert '+            / sum(rate(http_requests_total{job="backend"}[5m])) > 0.02' in markdown
    assert "-        for: 5m\n+        for: 2m" in markdown


def test_large_change_is_cut_but_keeps_summary_and_says_what_was_cut(tmp_path: Path) -> None:
    markdown = report(scenarios.large_change, tmp_path)
    assert len(markdown) <= COMMENT_LIMIT
    assert "| `staging` | 0 | 2000 | 0 | 0 | 1 | 1 |" in markdown
    assert "> [!WARNING]" in markdown
    assert "resource details" in markdown
    # Later, smaller sections still fit after big ones are cut: the threshold diff is there.
    assert "+            / sum(rate(http_requests_total" in markdown
    assert markdown.count("<details>") == markdown.count("</details>")
    assert markdown.count("```") % 2 == 0


@pytest.mark.parametrize("limit", [3_000, 10_000, 30_000])
def test_report_never_exceeds_the_limit(limit: int, tmp_path: Path) -> None:
    base, head = scenarios.large_change(300)
    diffs = diff_sides(
        load_side(scenarios.write_side(base, tmp_path / "base")),
        load_side(scenarios.write_side(head, tmp_path / "head")),
    )
    markdown = render(diffs, limit)
    assert len(markdown) <= limit
    assert markdown.startswith("## Infrastructure preview")
    assert "| `staging` | 0 | 300 |" in markdown


def test_resource_option_changes_and_retained_deletes_are_explained(tmp_path: Path) -> None:
    base, head = scenarios.base_side(), scenarios.base_side()
    base["production"].find("production-backend")["retainOnDelete"] = True
    head["production"].resources.remove(head["production"].find("production-backend"))
    head["staging"].find("staging-backend")["deleteBeforeReplace"] = True
    markdown = report(lambda: (base, head), tmp_path)
    assert "`retainOnDelete`: Pulumi forgets it, the real resource stays." in markdown
    assert "- `deleteBeforeReplace`: `false` → `true`" in markdown
    assert "| `staging` | 0 | 1 | 0 |" in markdown
