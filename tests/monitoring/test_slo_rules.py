"""The SLO rules (`monitoring.slo`) under `promtool test rules`, with the cases generated from the
config they are rendered from (`monitoring.slo_promtool`): production's committed objectives, and
a config with every SLO setting changed. Plus the files as the real tools read them."""

import subprocess
from pathlib import Path

import pytest
import yaml

import components.monitoring
from monitoring import MonitoringConfig, Target, render
from monitoring.slo import ACTION_LABEL, BURN, EXHAUSTED, SLO_LABEL, TIER_LABEL, le_values
from monitoring.slo_promtool import PromtoolFile, promtool_files
from tests.conftest import PROJECT_DIR, STACKS, THREE_SERVICES, validated_stack
from tests.fixtures import RECEIVERS
from tests.monitoring.conftest import require_tool, write_tree
from tests.monitoring.promtool import promtool_test

# The stacks' monitoring, as the program derives it (their monitoring.slos included): the stacks
# under test, or where they set no objective (examples/shop) the fixture product's, which do.
SLO_PROJECT = (
    PROJECT_DIR if any(validated_stack(s).monitoring.slos for s in STACKS) else THREE_SERVICES
)
SLO_STACKS = STACKS if SLO_PROJECT == PROJECT_DIR else ("staging", "production")
STACK_CONFIGS = {
    s: components.monitoring.settings(validated_stack(s, SLO_PROJECT)) for s in SLO_STACKS
}
STACK_TARGETS = {
    s: components.monitoring.target(validated_stack(s, SLO_PROJECT)) for s in SLO_STACKS
}
# Every SLO setting other than the committed ones: objectives, windows, a latency bound, the
# floor, the tiers (two, not four), the low-traffic count, how long a spent budget lasts.
# Two services of the staging stack whose requests an objective can judge.
AVAILABLE, FAST = sorted(STACK_TARGETS["staging"].scraped())[:2]
CUSTOM = MonitoringConfig.model_validate(
    {
        "receivers": RECEIVERS,
        "runbookBaseUrl": STACK_CONFIGS["staging"].runbook_base_url,
        "triggers": {"performance": {"minRequestRate": 2}},
        "servers": {"retention": "40d"},
        "sloAlerting": {
            "tiers": [
                {"factor": 10, "longWindow": "30m", "shortWindow": "3m", "action": "page"},
                {"factor": 2, "longWindow": "12h", "shortWindow": "1h", "action": "ticket"},
            ],
            "lowTrafficBadEvents": 4,
            "exhaustedFor": "2h",
            "freeze": True,
        },
        "slos": {
            AVAILABLE: [
                {"name": "availability", "objective": 99.9, "window": "28d",
                 "sli": {"kind": "availability"}},
            ],
            FAST: [
                {"name": "fast-pages", "objective": "99", "window": "7d",
                 "sli": {"kind": "latency", "threshold": "500ms"}},
            ],
        },
    }
)  # fmt: skip
CASES = {
    "production": (STACK_CONFIGS["production"], STACK_TARGETS["production"]),
    "custom": (CUSTOM, STACK_TARGETS["staging"]),
}


def _run_promtool(
    files: list[PromtoolFile], config: MonitoringConfig, target: Target, tmp: Path
) -> None:
    promtool_test([f.write(config, target, tmp).relative_to(tmp) for f in files], cwd=tmp)


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_slo_alert_behaves_as_its_config_says(case: str, tmp_path: Path) -> None:
    config, target = CASES[case]
    files = promtool_files(config, target)
    assert files
    _run_promtool(files, config, target, tmp_path)


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_slo_alert_has_a_firing_and_a_quiet_case(case: str) -> None:
    config, target = CASES[case]
    outcomes: dict[str, set[bool]] = {}
    for file in promtool_files(config, target):
        for test in file.cases:
            key = f"{test.alert.rule.name} {test.alert.rule.service} {sorted(test.alert.labels)}"
            outcomes.setdefault(key, set()).update(check.fires for check in test.checks)
    objectives = sum(len(o) for o in config.slos.values())
    assert len(outcomes) == objectives * (len(config.slo_alerting.tiers) + 3)
    assert all(seen == {True, False} for seen in outcomes.values()), outcomes


def test_every_tier_of_every_objective_is_tried_four_ways() -> None:
    config, target = CASES["custom"]
    for file in promtool_files(config, target):
        if file.cases[0].alert.rule.name != BURN:
            continue
        names = " / ".join(case.name for case in file.cases)
        for behaviour in (
            "just above the factor fires within the long window",
            "a spike only the short window sees is quiet",
            "quiet under the traffic floor",
            "resolves within the short window",
        ):
            assert behaviour in names, f"{file.name}: no case '{behaviour}'"


def test_a_latency_objective_is_tried_with_le_as_each_exporter_writes_it() -> None:
    assert le_values(2.0) == ("2", "2.0")  # Go and Node write "2", Python and Prometheus 3 "2.0"
    assert le_values(0.5) == ("0.5",)
    names = [f.name for f in promtool_files(*CASES["custom"])]
    assert f"{FAST}-fast-pages-30m-go" in names and f"{FAST}-fast-pages-30m-python" in names
    assert not any(n.startswith(f"{AVAILABLE}-availability") and n.endswith("-go") for n in names)


def _rules(config: MonitoringConfig, target: Target) -> list[dict[str, object]]:
    document = yaml.safe_load(render(config, target)["prometheus/rules/slo.yml"])
    return [rule for group in document["groups"] for rule in group["rules"]]


@pytest.mark.parametrize("stack", SLO_STACKS)
def test_the_stacks_slo_files_pass_promtool_and_amtool(stack: str, tmp_path: Path) -> None:
    tree = write_tree(render(STACK_CONFIGS[stack], STACK_TARGETS[stack]), tmp_path)
    promtool, amtool = require_tool("promtool"), require_tool("amtool")
    checks = [
        [promtool, "check", "config", str(tree / "prometheus/prometheus.yml")],
        [amtool, "check-config", str(tree / "alertmanager/alertmanager.yml")],
    ]
    for argv in checks:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    objectives = sum(len(o) for o in STACK_CONFIGS[stack].slos.values())
    alerts = [r for r in _rules(STACK_CONFIGS[stack], STACK_TARGETS[stack]) if "alert" in r]
    assert len(alerts) == objectives * (len(STACK_CONFIGS[stack].slo_alerting.tiers) + 3)


@pytest.mark.parametrize("stack", SLO_STACKS)
def test_only_a_production_kind_freezes_on_a_spent_budget(stack: str) -> None:
    spent = [
        r for r in _rules(STACK_CONFIGS[stack], STACK_TARGETS[stack]) if r.get("alert") == EXHAUSTED
    ]
    actions = {r["labels"].get(ACTION_LABEL) for r in spent}  # type: ignore[attr-defined]
    production = STACK_TARGETS[stack].kind == "production"
    assert actions == ({"freeze"} if production else {None})


def test_tiers_page_or_open_a_ticket_as_configured() -> None:
    config, target = CASES["production"]
    burns = [r for r in _rules(config, target) if r.get("alert") == BURN]
    by_tier = {
        r["labels"][TIER_LABEL]: (r["labels"]["severity"], r["labels"][ACTION_LABEL])  # type: ignore[index]
        for r in burns
    }
    expected = {
        tier.name: ({"page": "critical", "ticket": "warning"}[tier.action], tier.action)
        for tier in config.slo_alerting.tiers
    }
    assert by_tier == expected
    assert all(r["labels"][SLO_LABEL] for r in burns)  # type: ignore[index]


@pytest.mark.parametrize(
    ("stack", "environment", "kind", "freezes"),
    [("production", "eu-live", "production", True), ("staging", "production", "staging", False)],
)
def test_the_freeze_follows_the_environment_kind_never_its_name(
    stack: str, environment: str, kind: str, freezes: bool
) -> None:
    target = STACK_TARGETS[stack].model_copy(update={"environment": environment, "kind": kind})
    spent = [r for r in _rules(STACK_CONFIGS[stack], target) if r.get("alert") == EXHAUSTED]
    assert spent
    assert all((r["labels"].get(ACTION_LABEL) == "freeze") == freezes for r in spent)  # type: ignore[attr-defined]
    policy = yaml.safe_load(render(STACK_CONFIGS[stack], target)["rollback-config.yml"])
    assert {slo["freeze"] for slo in policy["slos"]} == {freezes}
