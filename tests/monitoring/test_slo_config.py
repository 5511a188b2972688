"""`monitoring.slos` and `monitoring.sloAlerting`: what the config refuses, in the stack file's own
words (key path and fix), and what it derives (the error budget, exactly)."""

from __future__ import annotations

import copy
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from components.config import ConfigError, raw_project_config, validate
from monitoring import MonitoringConfig
from tests.conftest import stack_config
from tools import synth

AVAILABILITY = {"name": "availability", "objective": 99.9, "window": "30d",
                "sli": {"kind": "availability"}}  # fmt: skip


def objective(**changes: Any) -> dict[str, Any]:
    return {**AVAILABILITY, **changes}


def refused(monitoring: dict[str, Any]) -> str:
    with pytest.raises(ValueError) as caught:
        MonitoringConfig.model_validate(monitoring)
    return str(caught.value)


def stack_problems(slos: Any, stack: str = "production") -> str:
    """The stack file's error message with `monitoring.slos` replaced."""
    flat, _ = synth.pulumi_config(stack_config(stack))
    raw = raw_project_config(flat)
    raw = copy.deepcopy(raw)
    raw["monitoring"]["slos"] = slos
    with pytest.raises(ConfigError) as caught:
        validate(raw, stack, frozenset({"secrets"}))
    return str(caught.value)


@given(st.floats(min_value=0, max_value=100) | st.sampled_from([0, 100, -1, 101, 100.0001]))
def test_an_objective_outside_0_to_100_exclusive_is_refused(value: float) -> None:
    data = {"slos": {"backend": [objective(objective=value)]}}
    never_fires = 100 * (1 - 1 / 14.4)  # a wider budget: the fastest tier could never fire
    assume(abs(value - never_fires) > 1e-9)
    budget_too_wide = value <= never_fires
    if 0 < value < 100 and not budget_too_wide:
        assert MonitoringConfig.model_validate(data).slos["backend"][0].objective == value
    else:
        refused(data)


def test_the_error_budget_is_exact() -> None:
    config = MonitoringConfig.model_validate(
        {"slos": {"backend": [objective(objective=99.9), objective(name="b", objective="95")]}}
    )
    assert [o.budget for o in config.slos["backend"]] == [Decimal("0.001"), Decimal("0.05")]


def test_the_stack_file_names_the_key_and_the_fix() -> None:
    message = stack_problems({"backend": [objective(objective=100)]})
    line = "autonomica-pipeline:monitoring.slos.backend[0].objective: Input should be less than 100"
    assert line in message
    assert "pulumi config set --path 'monitoring.slos.backend[0].objective' VALUE" in message


@pytest.mark.parametrize(
    ("slos", "expected"),
    [
        ({"backend": [objective(window="31d")]},
         "slos.backend[0].window: 31d is longer than Prometheus keeps data (servers.retention "
         "30d)"),
        ({"backend": [objective(window="2d")]},
         "slos.backend[0].window: 2d is shorter than the longest burn-rate window (3d)"),
        ({"backend": [objective(sli={"kind": "latency", "threshold": "1700ms"})]},
         "slos.backend[0].sli.threshold: 1.7s is not a bucket bound of the latency histogram"),
        ({"backend": [objective(objective=92)]},
         "slos.backend[0].objective: 92% leaves a budget that sloAlerting.tiers[0] (x14.4) could "
         "only exceed with more than every request failing"),
        ({"backend": [objective(), objective()]},
         "slos.backend[1].name: availability is used twice for backend"),
        ({"billing": [objective()]},
         "slos.billing: no such service with metrics (known: frontend, backend, worker)"),
    ],
)  # fmt: skip
def test_an_objective_that_cannot_be_measured_is_refused(slos: Any, expected: str) -> None:
    message = stack_problems(slos)
    assert expected in message
    assert message.count("\n  - ") == 1  # one problem, named once


def test_every_problem_is_listed_at_once() -> None:
    message = stack_problems(
        {"billing": [objective(window="60d", sli={"kind": "latency", "threshold": "1700ms"})]}
    )
    for part in ("no such service", "60d is longer", "1.7s is not a bucket bound"):
        assert part in message


def test_a_longer_retention_admits_a_longer_window() -> None:
    data = {"servers": {"retention": "90d"}, "slos": {"backend": [objective(window="90d")]}}
    assert MonitoringConfig.model_validate(data).slos["backend"][0].window == timedelta(days=90)


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_the_default_retention_covers_the_committed_stacks_windows(stack: str) -> None:
    flat, _ = synth.pulumi_config(stack_config(stack))
    monitoring = raw_project_config(flat)["monitoring"]
    assert "servers" not in monitoring  # the default retention is what they run with
    config = MonitoringConfig.model_validate({"slos": monitoring["slos"]})
    windows = [o.window for objectives in config.slos.values() for o in objectives]
    assert windows and max(windows) <= config.servers.retention


def test_the_latency_threshold_follows_the_histogram_buckets() -> None:
    buckets = {"triggers": {"performance": {"latencyBuckets": [0.1, 0.3, 1, 2, 5]}}}
    latency = objective(sli={"kind": "latency", "threshold": "300ms"})
    assert MonitoringConfig.model_validate({**buckets, "slos": {"backend": [latency]}})
    assert "0.3s is not a bucket bound" in refused({"slos": {"backend": [latency]}})


@pytest.mark.parametrize(
    ("tiers", "expected"),
    [
        ([{"factor": 6, "longWindow": "6h", "shortWindow": "30m", "action": "page"},
          {"factor": 14.4, "longWindow": "1h", "shortWindow": "5m", "action": "page"}],
         "tiers must go from the fastest"),
        ([{"factor": 14.4, "longWindow": "1h", "shortWindow": "1h", "action": "page"}],
         "shortWindow must be shorter than longWindow"),
        ([{"factor": 14.4, "longWindow": "1h", "shortWindow": "20s", "action": "page"}],
         "sloAlerting.tiers[0].shortWindow: 20s covers fewer than two scrapes"),
        ([{"factor": 14.4, "longWindow": "1h", "shortWindow": "5m", "action": "wake-up"}],
         "Input should be 'page' or 'ticket'"),
    ],
)  # fmt: skip
def test_tiers_that_cannot_work_are_refused(tiers: list[dict[str, Any]], expected: str) -> None:
    assert expected in refused({"sloAlerting": {"tiers": tiers}, "slos": {}})
