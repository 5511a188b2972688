"""`monitoring.slos` and `monitoring.sloAlerting`: what the stack file refuses, in its own words
(key path and fix, every problem at once, before any resource), and what the config derives (the
error budget, exactly). Services come from the stack file under test."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from monitoring import render
from tests.conftest import config_error, key, monitoring_config, target_of, validated_stack

STACK = "production"
TARGET = target_of(STACK)
SERVICE = sorted(TARGET.scraped())[0]  # a service of the stack whose metrics are scraped
# A service of the stack without a metricsPath, where there is one.
UNSCRAPED = sorted(set(TARGET.services) - set(TARGET.scraped()))
AVAILABILITY = {"name": "availability", "objective": 99.9, "window": "30d",
                "sli": {"kind": "availability"}}  # fmt: skip


def objective(**changes: Any) -> dict[str, Any]:
    return {**AVAILABILITY, **changes}


def problems(changes: dict[str, Any]) -> list[str]:
    """What the monitoring settings of the stack with `changes` say about its objectives."""
    config = monitoring_config(changes, stack=STACK)
    return [f"{path}: {message}" for path, message in config.slo_problems(
        TARGET.services, TARGET.scraped())]  # fmt: skip


def stack_problems(slos: Any, *, without_metrics: str | None = None) -> str:
    """The program's error for the stack file with `monitoring.slos` replaced."""

    def edit(stack_file: dict[str, Any]) -> None:
        stack_file[key("monitoring")]["slos"] = slos
        if without_metrics:
            stack_file[key("services")][without_metrics].pop("metricsPath")

    return config_error(STACK, edit)


@given(st.floats(min_value=0, max_value=100) | st.sampled_from([0, 100, -1, 101, 100.0001]))
def test_an_objective_outside_0_to_100_exclusive_is_refused(value: float) -> None:
    never_fires = 100 * (1 - 1 / 14.4)  # a wider budget: the fastest tier could never fire
    assume(abs(value - never_fires) > 1e-9)
    data = {"slos": {SERVICE: [objective(objective=value)]}}
    if 0 < value < 100:
        found = problems(data)
        assert bool(found) == (value <= never_fires), found
    else:
        with pytest.raises(ValueError, match="objective"):
            monitoring_config(data, stack=STACK)


def test_the_error_budget_is_exact() -> None:
    config = monitoring_config(
        {"slos": {SERVICE: [objective(objective=99.9), objective(name="b", objective="95")]}},
        stack=STACK,
    )
    assert [o.budget for o in config.slos[SERVICE]] == [Decimal("0.001"), Decimal("0.05")]


def test_the_stack_file_names_the_key_and_the_fix() -> None:
    message = stack_problems({SERVICE: [objective(objective=100)]})
    line = f"{key('monitoring')}.slos.{SERVICE}[0].objective: Input should be less than 100"
    assert line in message
    assert f"pulumi config set --path 'monitoring.slos.{SERVICE}[0].objective' VALUE" in message


@pytest.mark.parametrize(
    ("objectives", "path", "expected"),
    [
        ([objective(window="2d")], "[0].window",
         "2d is shorter than the longest burn-rate window (3d)"),
        ([objective(sli={"kind": "latency", "threshold": "1700ms"})], "[0].sli.threshold",
         "1.7s is not a bucket bound of the latency histogram"),
        ([objective(objective=92)], "[0].objective",
         "92% leaves a budget that sloAlerting.tiers[0] (x14.4) could only exceed with more "
         "than every request failing"),
        ([objective(), objective()], "[1].name", "availability is used twice for"),
    ],
)  # fmt: skip
def test_an_objective_that_cannot_be_measured_is_refused_at_its_key(
    objectives: list[dict[str, Any]], path: str, expected: str
) -> None:
    message = stack_problems({SERVICE: objectives})
    at = f"monitoring.slos.{SERVICE}{path}"
    assert f"{key(at)}: {expected}" in message
    assert f"fix: pulumi config set --path '{at}' VALUE --stack {STACK}" in message
    assert message.count("\n  - ") == 1  # one problem, named once


def test_a_window_longer_than_the_retention_is_refused_once_at_the_retention() -> None:
    message = stack_problems(
        {SERVICE: [objective(window="31d"), objective(name="b", window="40d")]}
    )
    at = "monitoring.servers.retention"
    assert (
        f"{key(at)}: 30d is shorter than the window of slos.{SERVICE}[0] (31d), "
        f"slos.{SERVICE}[1] (40d): Prometheus would drop the data an objective is judged on; "
        "raise the retention to at least 40d or shorten the window"
    ) in message
    assert f"fix: pulumi config set --path '{at}' VALUE --stack {STACK}" in message
    assert message.count("\n  - ") == 1


def test_an_objective_of_no_service_is_refused_with_the_services_that_have_metrics() -> None:
    message = stack_problems({"no-such-service": [objective()]})
    assert f"{key('monitoring.slos.no-such-service')}: names 'no-such-service', which is not a " \
        f"service (scraped: {', '.join(TARGET.scraped())})" in message  # fmt: skip
    assert "fix: pulumi config set --path 'monitoring.slos.no-such-service' VALUE" in message


def test_an_objective_of_a_service_without_metrics_is_refused() -> None:
    # A service that has no metricsPath in the stack, or one that loses it here.
    service = UNSCRAPED[0] if UNSCRAPED else SERVICE
    message = stack_problems(
        {service: [objective()]}, without_metrics=None if UNSCRAPED else SERVICE
    )
    assert f"names {service!r}, which has no metricsPath to scrape" in message


def test_every_problem_is_listed_at_once() -> None:
    message = stack_problems(
        {
            "no-such-service": [objective()],
            SERVICE: [objective(window="60d", sli={"kind": "latency", "threshold": "1700ms"})],
        }
    )
    for part in ("is not a service", "the window of slos.", "1.7s is not a bucket bound"):
        assert part in message
    assert message.count("\n  - ") == 3


def test_rendering_refuses_what_the_stack_file_refuses() -> None:
    config = monitoring_config({"slos": {SERVICE: [objective(window="31d")]}}, stack=STACK)
    with pytest.raises(ValueError, match=r"monitoring.servers.retention: 30d is shorter"):
        render(config, TARGET)


def test_a_longer_retention_admits_a_longer_window() -> None:
    data = {"servers": {"retention": "90d"}, "slos": {SERVICE: [objective(window="90d")]}}
    assert problems(data) == []
    assert monitoring_config(data, stack=STACK).slos[SERVICE][0].window == timedelta(days=90)


@pytest.mark.committed_stacks("their objectives' windows; a stack without SLOs has none")
@pytest.mark.parametrize("stack", ["staging", "production"])
def test_the_default_retention_covers_the_committed_stacks_windows(stack: str) -> None:
    config = validated_stack(stack).monitoring
    assert "retention" not in config.servers.model_fields_set  # they run with the default
    windows = [o.window for objectives in config.slos.values() for o in objectives]
    assert windows and max(windows) <= config.servers.retention


def test_the_latency_threshold_follows_the_histogram_buckets() -> None:
    buckets = {
        "triggers": {
            "performance": {
                "latencyBuckets": [0.1, 0.3, 1, 2, 5],
                "responseTimeP95": "2s",
                "responseTimeP99": "5s",
            }
        }
    }
    latency = objective(sli={"kind": "latency", "threshold": "300ms"})
    assert problems({**buckets, "slos": {SERVICE: [latency]}}) == []
    assert any("0.3s is not a bucket bound" in p for p in problems({"slos": {SERVICE: [latency]}}))


@pytest.mark.parametrize(
    ("tiers", "expected"),
    [
        ([{"factor": 6, "longWindow": "6h", "shortWindow": "30m", "action": "page"},
          {"factor": 14.4, "longWindow": "1h", "shortWindow": "5m", "action": "page"}],
         "tiers must go from the fastest"),
        ([{"factor": 14.4, "longWindow": "1h", "shortWindow": "1h", "action": "page"}],
         "shortWindow must be shorter than longWindow"),
        ([{"factor": 14.4, "longWindow": "1h", "shortWindow": "5m", "action": "wake-up"}],
         "Input should be 'page' or 'ticket'"),
    ],
)  # fmt: skip
def test_tiers_that_cannot_work_are_refused(tiers: list[dict[str, Any]], expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        monitoring_config({"sloAlerting": {"tiers": tiers}}, stack=STACK)


def test_a_short_window_of_fewer_than_two_scrapes_is_refused() -> None:
    tiers = [{"factor": 14.4, "longWindow": "1h", "shortWindow": "20s", "action": "page"}]
    assert "sloAlerting.tiers[0].shortWindow: 20s covers fewer than two scrapes" in " ".join(
        problems({"sloAlerting": {"tiers": tiers}})
    )
