"""Alertmanager routing table: each kind of alert reaches exactly the intended receivers."""

import subprocess
from pathlib import Path

import pytest
import yaml

from monitoring import Target, render
from monitoring.alertmanager import EMAIL, PAGERDUTY, ROLLBACK, SLACK, WATCHDOG
from monitoring.config import SEVERITY_CHANNELS, StrategyName
from monitoring.secrets import placeholder
from tests.conftest import monitoring_config
from tests.monitoring.conftest import STACK_TARGETS, require_tool, write_tree

CHANNEL_RECEIVER = {"pagerduty": PAGERDUTY, "email": EMAIL, "slack": SLACK}

CASES = {
    "critical": ({"severity": "critical"}, [PAGERDUTY, EMAIL, SLACK]),
    "warning": ({"severity": "warning"}, [EMAIL, SLACK]),
    "info": ({"severity": "info"}, [SLACK]),
    "unlabelled": ({}, [SLACK]),
    "rollback immediate": (
        {"severity": "critical", "rollback_strategy": "immediate"},
        [ROLLBACK, PAGERDUTY, EMAIL, SLACK],
    ),
    "rollback gradual": ({"severity": "info", "rollback_strategy": "gradual"}, [ROLLBACK, SLACK]),
}


def _paged(receivers: list[str], target: Target) -> list[str]:
    """Staging pages nobody unless its stack file says so: no PagerDuty there."""
    pages = target.pages(monitoring_config(stack=target.environment).receivers)
    return [r for r in receivers if r != PAGERDUTY or pages]


def _routes_test(
    tree: Path, labels: dict[str, str], receivers: list[str], alertname: str = "Test"
) -> None:
    amtool = require_tool("amtool")
    argv = [
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={tree / 'alertmanager/alertmanager.yml'}",
        f"--verify.receivers={','.join(receivers)}",
        f"alertname={alertname}",
        "service=backend",
        *(f"{k}={v}" for k, v in labels.items()),
    ]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("case", sorted(CASES))
def test_alert_reaches_exactly_its_receivers(
    rendered_tree: Path, stack_target: Target, case: str
) -> None:
    labels, receivers = CASES[case]
    _routes_test(rendered_tree, labels, _paged(receivers, stack_target))


def test_routing_rejects_a_wrong_receiver_list(rendered_tree: Path) -> None:
    # Guards the test itself: amtool must fail when the expectation is wrong.
    with pytest.raises(AssertionError):
        _routes_test(rendered_tree, {"severity": "warning"}, [PAGERDUTY, EMAIL, SLACK])


@pytest.mark.parametrize("strategy", ["immediate", "fast", "gradual"])
def test_rollback_alerts_notify_the_channels_of_their_strategy(
    rendered_tree: Path, stack_target: Target, strategy: StrategyName
) -> None:
    config = monitoring_config(stack=stack_target.environment).strategies.of(strategy)
    channels = SEVERITY_CHANNELS[config.severity]
    assert channels == set(config.notifications)
    receivers = [ROLLBACK] + [
        CHANNEL_RECEIVER[c] for c in ("pagerduty", "email", "slack") if c in channels
    ]
    _routes_test(
        rendered_tree,
        {"severity": config.severity, "rollback_strategy": strategy},
        _paged(receivers, stack_target),
    )


@pytest.mark.parametrize(("setting", "pages"), [(None, False), (True, True), (False, False)])
def test_staging_pages_pagerduty_only_when_its_stack_file_says_so(
    tmp_path: Path, setting: bool | None, pages: bool
) -> None:
    config = monitoring_config({"receivers": {"pagerduty": setting}}, stack="staging")
    files = render(config, STACK_TARGETS["staging"])
    tree = write_tree(files, tmp_path)
    critical = [PAGERDUTY, EMAIL, SLACK] if pages else [EMAIL, SLACK]
    _routes_test(tree, {"severity": "critical"}, critical)
    assert ("pagerduty_configs" in files["alertmanager/alertmanager.yml"]) is pages
    immediate = yaml.safe_load(files["rollback-config.yml"])["strategies"]["immediate"]
    assert ("pagerduty" in immediate["notifications"]) is pages


def test_production_pages_pagerduty(tmp_path: Path) -> None:
    config = monitoring_config(stack="production")
    tree = write_tree(render(config, STACK_TARGETS["production"]), tmp_path)
    _routes_test(tree, {"severity": "critical"}, [PAGERDUTY, EMAIL, SLACK])


def test_the_watchdog_reaches_the_heartbeat_receiver_and_nothing_else(rendered_tree: Path) -> None:
    _routes_test(rendered_tree, {"severity": "info"}, [WATCHDOG], alertname="Watchdog")


@pytest.mark.parametrize("heartbeat", [False, True])
def test_the_heartbeat_goes_to_the_stacks_url_every_watchdog_interval(
    heartbeat: bool, stack_target: Target
) -> None:
    config = monitoring_config(
        {"receivers": {"heartbeat": heartbeat}, "routing": {"watchdogInterval": "2m"}},
        stack=stack_target.environment,
    )
    # the URL is a secret: the file holds its placeholder, the entrypoint writes it in place
    url = placeholder("watchdog_url") if heartbeat else None
    alertmanager = yaml.safe_load(render(config, stack_target)["alertmanager/alertmanager.yml"])
    [receiver] = [r for r in alertmanager["receivers"] if r["name"] == WATCHDOG]
    [route] = [r for r in alertmanager["route"]["routes"] if r["receiver"] == WATCHDOG]
    assert receiver.get("webhook_configs", []) == (
        [{"url": url, "send_resolved": False}] if url else []
    )
    assert (route["group_interval"], route["repeat_interval"]) == ("2m", "2m")
    assert "continue" not in route  # it stops there: never Slack, email or the pager


def test_the_rollback_service_hears_a_firing_group_every_rollback_repeat_interval(
    stack_target: Target,
) -> None:
    config = monitoring_config(
        {"routing": {"rollbackRepeatInterval": "20m"}}, stack=stack_target.environment
    )
    alertmanager = yaml.safe_load(render(config, stack_target)["alertmanager/alertmanager.yml"])
    # The rollbacks' route (the objectives' tickets and freezes have their own to the service).
    [route] = [
        r
        for r in alertmanager["route"]["routes"]
        if r["receiver"] == ROLLBACK and any("rollback_strategy" in m for m in r["matchers"])
    ]
    assert route["repeat_interval"] == "20m"
