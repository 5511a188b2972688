"""The config model: spec defaults, camelCase stack keys, and clear refusals of bad values."""

from datetime import timedelta

import pytest
from pydantic import ValidationError

from monitoring import MonitoringConfig, Target
from monitoring.durations import format_duration, parse_duration
from tests.fixtures import RECEIVERS


def _config(data: dict[str, object]) -> MonitoringConfig:
    """A monitoring config of `data`, with the receivers every config must name."""
    return MonitoringConfig.model_validate({"receivers": RECEIVERS, **data})


def test_defaults_are_the_spec_values() -> None:
    config = _config({})
    health = config.triggers.health_check
    perf = config.triggers.performance
    assert (health.consecutive_failures, health.failure_window) == (3, timedelta(minutes=2))
    assert (perf.response_time_p95, perf.response_time_p99) == (
        timedelta(seconds=2),
        timedelta(seconds=5),
    )
    assert (perf.error_rate, perf.throughput_drop) == (0.05, 0.3)
    assert (perf.evaluation_window, perf.consecutive_violations) == (timedelta(minutes=5), 2)
    assert config.scrape_interval == config.evaluation_interval == timedelta(seconds=15)
    assert config.strategies.immediate.timeout == timedelta(seconds=30)
    assert config.receivers.slack_channel == "#alerts-critical"


def test_health_alert_for_lets_exactly_the_nth_failure_fire() -> None:
    config = _config(
        {"probeInterval": "20s", "triggers": {"healthCheck": {"consecutiveFailures": 5}}}
    )
    assert config.health_for == timedelta(seconds=80)


def test_stack_files_use_camel_case_and_round_trip() -> None:
    data = {"scrapeInterval": "30s", "triggers": {"performance": {"errorRate": 0.02}}}
    config = _config(data)
    dumped = config.model_dump(by_alias=True, mode="json")
    assert dumped["scrapeInterval"] == "30s"
    assert MonitoringConfig.model_validate(dumped) == config


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"scrapeInterval": "15 seconds"}, "is not a duration"),
        ({"unknownKey": 1}, "Extra inputs are not permitted"),
        ({"triggers": {"performance": {"errorRate": 1.5}}}, "less than 1"),
        ({"triggers": {"performance": {"responseTimeP95": "2100ms"}}}, "not a bucket bound"),
        ({"probeInterval": "1m", "triggers": {"healthCheck": {"consecutiveFailures": 4}}},
         "do not fit in failureWindow"),
        ({"evaluationInterval": "30s"}, "single successful probe"),
        ({"routing": {"repeatInterval": "0s"}}, r"repeatInterval\s+Input should be greater than"),
        ({"strategies": {"fast": {"timeout": "1m", "actions": ["monitor"],
                                  "notifications": ["pagerduty"]}}}, "cannot be routed"),
        ({"receivers": {**RECEIVERS, "rollbackWebhookUrl": "http://rollback.example.com/hook"}},
         "must be an https URL"),
        ({"triggers": {"performance": {"comparisonOffset": "8m"}}}, "compared with itself"),
    ],
)  # fmt: skip
def test_bad_values_are_refused_with_a_clear_message(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _config(data)


@pytest.mark.parametrize("receiver", ["emailTo", "emailFrom", "smtpSmarthost", "smtpUsername"])
def test_receivers_have_no_default_address(receiver: str) -> None:
    """Alert mail and the SMTP password go where the stack says, never to a built-in host."""
    receivers = {k: v for k, v in RECEIVERS.items() if k != receiver}
    with pytest.raises(ValidationError, match=rf"receivers.{receiver}\s+Field required"):
        MonitoringConfig.model_validate({"receivers": receivers})


def _target(**urls: str) -> Target:
    return Target.model_validate(
        {
            "environment": "staging",
            "kind": "staging",
            "product": {"name": "fixture", "title": "Fixture"},
            "services": {
                name: {"platform": "railway", "role": "web", "url": url, "healthPath": "/health"}
                for name, url in urls.items()
            },
        }
    )


def test_plain_http_is_accepted_only_on_loopback() -> None:
    target = _target(web="http://127.0.0.1:8080", api="http://[::1]:8081")
    assert target.services["api"].url == "http://[::1]:8081"
    with pytest.raises(ValidationError, match="must be an https URL"):
        _target(web="http://localhost.evil.com", api="https://a.b")


@pytest.mark.parametrize("text", ["0s", "250ms", "15s", "2m", "1h30m", "1d", "1d2h3m4s5ms"])
def test_durations_round_trip(text: str) -> None:
    parsed = parse_duration(text)
    assert isinstance(parsed, timedelta)
    assert format_duration(parsed) == text
