"""Production's automated rollback: armed, shipped by the pipeline, with the spec's
thresholds, and holding no more than it needs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import yaml
from pydantic import Field
from pydantic.alias_generators import to_camel

from monitoring.config import HealthCheckTrigger
from monitoring.durations import Duration, format_duration, parse_duration
from policy.resources import ROLLBACK_SERVICE, UNSET, Resource, parsed_yaml, railway_service
from policy.rule import BranchSettings, NoSettings, Repository

# How the rollback service reads a boolean (pydantic): anything else, or nothing, is not "false".
_FALSE = frozenset({"false", "0", "off", "f", "n", "no"})
# The rollback service's settings that are platform tokens (rollback/settings.py names them).
_ROLLBACK_TOKENS = ("RAILWAY_API_TOKEN", "RAILWAY_TOKEN", "VERCEL_TOKEN", "GITHUB_TOKEN")
# A Railway service's secret variable NAME travels as the command's environment variable
# <prefix>NAME (components/railway/spec.py, SECRET_ENV_PREFIX): its key is public, its value not.
SECRET_ENV_PREFIX = "PIPELINE_SECRET_"


def _spec_health() -> HealthCheckTrigger:
    return HealthCheckTrigger()  # its defaults are the spec's thresholds


class RollbackSettings(BranchSettings):
    pipeline_repository: Repository | None = Field(
        None,
        description="owner/name of the repository production's rollback service is built from "
        "(the stack's rollback.repository); unset: no repository is accepted",
    )
    required_triggers: tuple[str, ...] = Field(
        ("health_check", "performance", "business"),
        description="rollback triggers production keeps enabled (rollback-config.yml names)",
    )
    required_actions: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: {
            "immediate": ("rollback_all_services", "freeze_deployments"),
            "fast": ("rollback_affected_service",),
            "gradual": ("rollback_if_needed",),
        },
        description="actions each rollback strategy keeps in production",
    )
    max_health_failures: int = Field(
        _spec_health().consecutive_failures,
        ge=1,
        description="consecutive failed probes after which production rolls back, at most (the "
        "spec's)",
    )
    max_health_window: Duration = Field(
        _spec_health().failure_window,
        description="the window those failures must fit, at most (the spec's)",
    )


def rollback_armed(resource: Resource, settings: RollbackSettings) -> Iterator[str]:
    service = railway_service(resource) or {}
    if service.get("name") != ROLLBACK_SERVICE or not resource.in_production:
        return
    variables = service.get("variables") or {}
    dry_run = variables.get("ROLLBACK_DRY_RUN")
    if dry_run is not None and str(dry_run).lower() not in _FALSE:
        yield (
            f"production's rollback service runs dry (ROLLBACK_DRY_RUN={dry_run}): it decides and "
            "reports but never rolls back; set rollback.dryRun to false"
        )
    source = service.get("source") or {}
    shipped_by = str(source.get("deployedBy") or "")
    expected = settings.pipeline_repository
    if expected is None:
        yield f"no pipelineRepository in the policy settings: {UNSET}"
    elif not shipped_by.startswith(f"{expected}:"):
        origin = shipped_by.partition(":")[0] or source.get("repo") or source.get("image")
        yield (
            f"production's rollback service is shipped from {origin or 'an unknown source'}, not "
            f"by {expected}'s deploy workflow: that code would hold production's tokens; set "
            f"rollback.repository to {expected} (or the policy settings' pipelineRepository)"
        )
    yield from _rollback_policy(variables.get("ROLLBACK_CONFIG"), settings)


def _rollback_policy(text: Any, settings: RollbackSettings) -> Iterator[str]:
    try:
        policy = parsed_yaml(text) if isinstance(text, str) else None
    except yaml.YAMLError:
        policy = None
    if not isinstance(policy, dict):
        yield "production's rollback service has no readable ROLLBACK_CONFIG to check"
        return
    triggers = policy.get("triggers") or {}
    for name in settings.required_triggers:
        if (triggers.get(name) or {}).get("enabled") is not True:
            yield (
                f"production's {name} rollback trigger is disabled: set "
                f"monitoring.triggers.{to_camel(name)}.enabled to true"
            )
    yield from _health_check_problems(triggers.get("health_check") or {}, settings)
    strategies = policy.get("strategies") or {}
    for name, needed in settings.required_actions.items():
        actions = (strategies.get(name) or {}).get("actions") or []
        missing = [action for action in needed if action not in actions]
        if missing:
            yield (
                f"production's {name} strategy no longer does {', '.join(missing)} (its actions: "
                f"{', '.join(map(str, actions)) or 'none'}): restore "
                f"monitoring.strategies.{name}.actions"
            )


def _duration(value: Any) -> timedelta | None:
    try:
        parsed = parse_duration(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, timedelta) else None


def _health_check_problems(health: Mapping[str, Any], settings: RollbackSettings) -> Iterator[str]:
    """A failing health check rolls production back no later than the spec says: after at most
    `maxHealthFailures` failed probes, all within `maxHealthWindow`."""
    thresholds = health.get("thresholds") or {}
    failures = thresholds.get("consecutive_failures")
    most, longest = settings.max_health_failures, settings.max_health_window
    if not isinstance(failures, int) or failures > most:
        yield (
            f"production rolls back after {failures} failed health checks, more than the spec's "
            f"{most}: set monitoring.triggers.healthCheck.consecutiveFailures to at most {most}"
        )
    window = _duration(thresholds.get("failure_window"))
    if window is None or window > longest:
        yield (
            f"production's health failures may spread over {thresholds.get('failure_window')}, "
            f"longer than the spec's {format_duration(longest)}: set "
            f"monitoring.triggers.healthCheck.failureWindow to at most {format_duration(longest)}"
        )
    interval = _duration(health.get("probe_interval"))
    if isinstance(failures, int) and interval is not None and (failures - 1) * interval > longest:
        yield (
            f"{failures} failed probes every {format_duration(interval)} take longer than the "
            f"spec's {format_duration(longest)}: lower monitoring.probeInterval"
        )


def _variable_names(resource: Resource, service: Mapping[str, Any]) -> set[str]:
    """Every variable a Railway service gets: plain ones from its spec, secret ones by name."""
    environment = resource.inputs.get("environment")
    secret = environment if isinstance(environment, Mapping) else {}
    return {
        *(service.get("variables") or {}),
        *(k.removeprefix(SECRET_ENV_PREFIX) for k in secret if k.startswith(SECRET_ENV_PREFIX)),
    }


def rollback_least_privilege(resource: Resource, _: NoSettings) -> Iterator[str]:
    """The rollback service, in any stack: shipped by the pipeline's own deploy workflow (never
    built by Railway from a branch on push), no platform token in dry run, and never an
    account-wide Railway token."""
    service = railway_service(resource) or {}
    if service.get("name") != ROLLBACK_SERVICE:
        return
    source = service.get("source") or {}
    if "deployedBy" not in source:
        built = f"{source.get('repo')}@{source.get('branch')}" if "repo" in source else "an image"
        yield (
            f"the rollback service is built by Railway from {built}, which no reviewer of the "
            "stack gates: ship it from the pipeline's deploy workflow (a WorkflowSource, "
            "components/railway/stack.py)"
        )
    variables = service.get("variables") or {}
    held = [n for n in _ROLLBACK_TOKENS if n in _variable_names(resource, service)]
    dry = variables.get("ROLLBACK_DRY_RUN")
    if dry is not None and str(dry).lower() not in _FALSE and held:
        yield (
            f"the rollback service runs dry but holds {', '.join(held)}: a dry run calls no "
            "platform, so it gets no token"
        )
    if "RAILWAY_API_TOKEN" in held:
        yield (
            "the rollback service holds RAILWAY_API_TOKEN, an account or workspace token that "
            "reaches every project: give it a project token of its own environment "
            "(RAILWAY_TOKEN, secrets.railwayToken)"
        )
