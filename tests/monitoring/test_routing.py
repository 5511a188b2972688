"""Alertmanager routing table: each kind of alert reaches exactly the intended receivers."""

import subprocess
from pathlib import Path

import pytest

from monitoring import MonitoringConfig
from monitoring.alertmanager import EMAIL, PAGERDUTY, ROLLBACK, SLACK
from monitoring.config import SEVERITY_CHANNELS, StrategyName
from tests.monitoring.conftest import require_tool

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


def _routes_test(tree: Path, labels: dict[str, str], receivers: list[str]) -> None:
    amtool = require_tool("amtool")
    argv = [
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={tree / 'alertmanager/alertmanager.yml'}",
        f"--verify.receivers={','.join(receivers)}",
        "alertname=Test",
        "service=backend",
        *(f"{k}={v}" for k, v in labels.items()),
    ]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("case", sorted(CASES))
def test_alert_reaches_exactly_its_receivers(rendered_tree: Path, case: str) -> None:
    labels, receivers = CASES[case]
    _routes_test(rendered_tree, labels, receivers)


def test_routing_rejects_a_wrong_receiver_list(rendered_tree: Path) -> None:
    # Guards the test itself: amtool must fail when the expectation is wrong.
    with pytest.raises(AssertionError):
        _routes_test(rendered_tree, {"severity": "warning"}, [PAGERDUTY, EMAIL, SLACK])


@pytest.mark.parametrize("strategy", ["immediate", "fast", "gradual"])
def test_rollback_alerts_notify_the_channels_of_their_strategy(
    rendered_tree: Path, strategy: StrategyName
) -> None:
    config = MonitoringConfig().strategies.of(strategy)
    channels = SEVERITY_CHANNELS[config.severity]
    assert channels == set(config.notifications)
    receivers = [ROLLBACK] + [
        CHANNEL_RECEIVER[c] for c in ("pagerduty", "email", "slack") if c in channels
    ]
    _routes_test(
        rendered_tree, {"severity": config.severity, "rollback_strategy": strategy}, receivers
    )
