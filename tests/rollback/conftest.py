"""Fixtures: the rendered rollback-config.yml, the Railway/Vercel/GitHub stand-ins, a
notification receiver, and a factory for the service wired to all of them."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitoring import ROLLBACK_SERVICES, MonitoringConfig, render
from rollback.executor import Actions, Options
from rollback.service import Service, build_service, options_of
from rollback.settings import Settings
from tests.conftest import THREE_SERVICES, target_of
from tests.conftest import monitoring_config as stack_monitoring_config
from tests.monitoring.loopback import Mailbox, Receiver
from tests.railway.conftest import schema, standin  # noqa: F401  (fixtures, re-exported)
from tests.railway.standin import RailwayStandIn
from tests.rollback.standins import (
    GitHubStandIn,
    RecordingActions,
    VercelStandIn,
    deployed_twice,
    platform_env,
)

TOKEN = "webhook-token-for-tests-0123456789"
SMTP_LOGIN = ("rollback@fixture.example.test", "smtp-password-canary-5b1e")
# The rollback service's behaviour is tested on an explicit fixture product's staging stack (a
# Vercel frontend, a critical backend, a non-critical worker: the cases below name them), not on
# the stack under test: without its own address (these tests run it).
TARGET = target_of("staging", THREE_SERVICES).model_copy(
    update={"rollback_address": None, "rollback_url": None}
)


def monitoring_config(
    changes: Mapping[str, Any] | None = None, stack: str = "staging"
) -> MonitoringConfig:
    """The fixture product's monitoring settings with `changes` (camelCase) merged in."""
    return stack_monitoring_config(changes, stack, THREE_SERVICES)


def rollback_yaml(**strategies: Any) -> str:
    """rollback-config.yml as `monitoring.render` writes it; `strategies` overrides (camelCase)."""
    return _rollback_yaml(json.dumps(strategies, sort_keys=True))


@functools.cache
def _rollback_yaml(strategies_json: str) -> str:
    # Rendered once per worker and set of strategies (`render` is pure: about 20 ms a call).
    # Staging pages nobody unless its stack says so; these tests exercise paging too.
    strategies = json.loads(strategies_json)
    pages = {"receivers": {"pagerduty": True}}
    config = monitoring_config({**pages, "strategies": strategies} if strategies else pages)
    return render(config, TARGET)["rollback-config.yml"]


@functools.cache
def services_yaml() -> str:
    """rollback-services.yml of the staging stack, as `monitoring.render` writes it (once)."""
    return render(monitoring_config(), TARGET)[ROLLBACK_SERVICES]


@pytest.fixture
def railway(standin: RailwayStandIn) -> RailwayStandIn:  # noqa: F811
    """backend and worker in staging, each deployed twice: one deployment to roll back to."""
    return deployed_twice(standin)


@pytest.fixture
def vercel() -> Iterator[VercelStandIn]:
    server = VercelStandIn()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    server = GitHubStandIn()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    server = Mailbox(*SMTP_LOGIN)
    yield server
    server.close()


ServiceFactory = Callable[..., Service]
# Platform settings that RecordingActions stands in for: never sent anywhere.
RECORDED_PLATFORMS = {
    "RAILWAY_PROJECT_ID": "p",
    "RAILWAY_API_TOKEN": "t",
    "VERCEL_TOKEN": "t",
    "VERCEL_PROJECT_ID": "p",
    "GITHUB_TOKEN": "t",
    "GITHUB_REPOSITORY": "fixture-owner/app",
}


def service_env(
    tmp_path: Path, receiver: Receiver, platforms: dict[str, str], yaml: str | None = None
) -> dict[str, str]:
    """The service's settings for a test: its config and audit log in `tmp_path`, Slack and
    PagerDuty at `receiver`."""
    config = tmp_path / "rollback-config.yml"
    config.write_text(yaml or rollback_yaml())
    services = tmp_path / ROLLBACK_SERVICES
    services.write_text(services_yaml())
    return {
        "ROLLBACK_CONFIG_FILE": str(config),
        "ROLLBACK_SERVICES_FILE": str(services),
        "ROLLBACK_WEBHOOK_TOKEN": TOKEN,
        "ROLLBACK_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
        "ROLLBACK_GRADUAL_WATCH": "300ms",
        **platforms,
        "SLACK_WEBHOOK_URL": f"{receiver.url}/slack",
        "PAGERDUTY_ROUTING_KEY": "pd-routing-key-for-tests",
        "PAGERDUTY_URL": f"{receiver.url}/pagerduty",
    }


def _factory(
    tmp_path: Path, receiver: Receiver, platforms: dict[str, str], actions: Actions | None
) -> Iterator[ServiceFactory]:
    services: list[Service] = []

    def factory(yaml: str | None = None, options: Options | None = None, **env: str) -> Service:
        base = service_env(tmp_path, receiver, platforms, yaml)
        settings = Settings.from_env({**base, **env})
        service = build_service(
            settings, actions=actions, options=options or fast_retries(settings)
        )
        services.append(service)
        return service

    yield factory
    for service in services:
        service.close()


@pytest.fixture
def make_service(
    tmp_path: Path,
    railway: RailwayStandIn,
    vercel: VercelStandIn,
    github: GitHubStandIn,
    receiver: Receiver,
) -> Iterator[ServiceFactory]:
    """build_service with every platform and channel pointed at the stand-ins.
    Keyword arguments override environment variables; `yaml` replaces the config."""
    yield from _factory(tmp_path, receiver, platform_env(railway.url, vercel, github), None)


@pytest.fixture
def platforms() -> RecordingActions:
    return RecordingActions()


@pytest.fixture
def make_recorded(
    tmp_path: Path, receiver: Receiver, platforms: RecordingActions
) -> Iterator[ServiceFactory]:
    """Like make_service, with the platforms in memory (`platforms`), shared by every service
    the factory builds: a second one is the first restarted."""
    yield from _factory(tmp_path, receiver, RECORDED_PLATFORMS, platforms)


def fast_retries(settings: Settings) -> Options:
    """The settings' options, with short backoffs so retry tests stay quick."""
    return options_of(settings, request_timeout=2.0, retry_initial=0.05, retry_max=0.3)


def audit_events(service: Service, event: str) -> list[dict[str, Any]]:
    return [r for r in service.audit.records() if r["event"] == event]


WAIT = timedelta(seconds=20).total_seconds()
