"""Idempotent converge of one Railway service in one environment: apply, check, delete, rollback.

Each reads as observe -> plan -> execute: `observation` reads Railway into typed values, `plan`
(pure) gives the steps, `execute` is the only code that changes Railway. `check` is "the plan
is empty": it runs the same observe and plan, and executes nothing.
"""

from __future__ import annotations

from typing import Any

from components.railway import documents as docs
from components.railway.client import RailwayClient, RailwayError
from components.railway.execute import DeployFailed, Done, Executor, Pace
from components.railway.observation import Log, Observation, observe, observe_service
from components.railway.plan import (
    AddCustomDomain,
    AddServiceDomain,
    CommitConfig,
    CreateEnvironment,
    CreateService,
    CreateVolume,
    Deploy,
    MoveVolume,
    Redeploy,
    Refused,
    Rollback,
    plan,
    plan_delete,
    registry_fingerprint,
    rollback_target,
    settings_digest,
)
from components.railway.plan import in_flight as plan_in_flight
from components.railway.plan import serving as plan_serving
from components.railway.spec import DEPLOY_TIMEOUT, Spec, State, VolumeRef, public_url

__all__ = [
    "DeployFailed",
    "Log",
    "Observation",
    "Pace",
    "Refused",
    "apply",
    "check",
    "delete",
    "observe",
    "rollback",
    "serving",
]


def _seen(client: RailwayClient, spec: Spec, log: Log) -> Observation:
    found = observe(client, spec.project_id, spec.environment, service_name=spec.service.name)
    return observe_service(client, found, log)


def apply(
    client: RailwayClient, spec: Spec, previous: State | None, log: Log, pace: Pace | None = None
) -> State:
    """Converge Railway to `spec` and wait for its deployment to run (DeployFailed if it does
    not). `previous` is the state the last apply printed, if any."""
    seen = _seen(client, spec, log)
    timeout = spec.service.deploy_timeout or DEPLOY_TIMEOUT
    executor = Executor(
        client,
        seen,
        service=spec.service.name,
        log=log,
        pace=pace,
        timeout=timeout,
        product=spec.product,
    )
    steps = plan(spec, seen, previous)
    state = _state(spec, seen, executor.run(steps))
    if any(isinstance(s, Deploy | Redeploy) and s.catch_up for s in steps):
        return state.model_copy(update={"caught_up": state.deployment_id})
    if previous is not None and previous.caught_up == state.deployment_id:
        return state.model_copy(update={"caught_up": previous.caught_up})
    return state


def _state(spec: Spec, seen: Observation, done: Done) -> State:
    service = spec.service
    custom = {d.domain: d for d in seen.custom_domains} | done.custom_domains
    here = {
        v.mount_path: VolumeRef(id=v.volume_id, mount_path=v.mount_path) for v in seen.volumes_here
    }
    volumes = {**here, **done.volumes}
    current = next(iter(seen.service_domains), None)
    service_domain = (done.service_domain or current) if service.service_domain else None
    assert done.environment_id is not None and done.service_id is not None
    return State(
        project_id=spec.project_id,
        environment_id=done.environment_id,
        environment=spec.environment,
        service_id=done.service_id,
        service=service.name,
        variables=tuple(sorted(service.variables)),
        custom_domains=tuple(custom[d] for d in service.domains),
        service_domain=service_domain,
        volumes=tuple(volumes[v.mount_path] for v in service.volumes),
        deployment_id=done.deployment_id or (seen.running.id if seen.running else None),
        applied=settings_digest(spec),
        registry_credentials=registry_fingerprint(spec),
        url=public_url(service.domains, service_domain.domain if service_domain else None),
    )


def check(client: RailwayClient, spec: Spec, unknown: frozenset[str] = frozenset()) -> list[str]:
    """How Railway differs from `spec`, read only: what the plan of an apply would change, one
    line per difference, naming what differs and never a value. Empty when Railway is as the
    spec says. Variables in `unknown` (secrets whose values the caller does not have) are
    checked for presence only."""
    seen = _seen(client, spec, lambda _line: None)
    name, env = spec.service.name, spec.environment
    if seen.environment_id is None or seen.service_id is None or seen.config is None:
        return [f"{name}: no service in environment {env}: `pulumi up` creates it"]
    present = {n: seen.variables[n] for n in unknown if n in seen.variables}
    service = spec.service.model_copy(update={"variables": {**spec.service.variables, **present}})
    lines: list[str] = []
    deploys: list[str] = []
    for step in plan(spec.model_copy(update={"service": service}), seen, None):
        match step:
            case CreateEnvironment() | CreateService():
                lines.append(f"no service in environment {env}: `pulumi up` creates it")
            case CommitConfig():
                lines += step.differences
            case CreateVolume() | MoveVolume():
                lines.append(f"no volume at {step.mount_path}")
            case AddCustomDomain():
                lines.append(f"domain {step.domain} is missing")
            case AddServiceDomain():
                lines.append("its service domain is missing")
            case Deploy() | Redeploy():
                deploys.append(f"what runs is not what the spec says ({step.reason})")
    return [f"{name}: {line}" for line in lines or deploys]


def delete(client: RailwayClient, state: State, log: Log, pace: Pace | None = None) -> None:
    """Remove what apply manages (plan.plan_delete says what, and why)."""
    found = observe(client, state.project_id, state.environment, service_id=state.service_id)
    seen = observe_service(client, found, log)
    executor = Executor(client, seen, service=state.service, log=log, pace=pace)
    executor.run(plan_delete(state, seen))


def _deployments(
    client: RailwayClient, project_id: str, environment: str, service: str
) -> tuple[Observation, list[dict[str, Any]]]:
    """The service in the environment and its deployments, newest first or not (each has its
    `createdAt`)."""
    seen = observe(client, project_id, environment, service_name=service)
    if seen.environment_id is None or seen.service_id is None:
        raise RailwayError(
            f"no service {service} in environment {environment} of project {project_id}; "
            "check --service and --environment"
        )
    listing = client.query(
        docs.DEPLOYMENTS,
        {
            "input": {
                "projectId": project_id,
                "environmentId": seen.environment_id,
                "serviceId": seen.service_id,
            }
        },
    )["deployments"]
    return seen, [edge["node"] for edge in listing["edges"]]


def serving(client: RailwayClient, project_id: str, environment: str, service: str) -> str | None:
    """The deployment that serves the service now (`plan.serving`), never a newer one that is
    building, waiting or failed."""
    return plan_serving(_deployments(client, project_id, environment, service)[1])


def cancel_in_flight(
    client: RailwayClient, project_id: str, environment: str, service: str
) -> list[str]:
    """Cancel every deployment of `service` still on its way to serving (a deploy that began
    before a rollback would otherwise replace it once online); returns their ids."""
    _, deployments = _deployments(client, project_id, environment, service)
    cancelled = plan_in_flight(deployments)
    for deployment_id in cancelled:
        client.mutate(docs.DEPLOYMENT_CANCEL, {"id": deployment_id})
    return cancelled


def rollback(
    client: RailwayClient,
    project_id: str,
    environment: str,
    service: str,
    *,
    bad: str | None = None,
    avoid: frozenset[str] = frozenset(),
    healthy: frozenset[str] = frozenset(),
) -> str:
    """Roll back to `plan.rollback_target` (the newest deployment of `healthy`, else the newest
    that ran, before `bad`, by default the one serving, and not in `avoid`); returns its id."""
    seen, deployments = _deployments(client, project_id, environment, service)
    target = rollback_target(deployments, bad, avoid, healthy)
    if target is None:
        raise RailwayError(
            f"no deployment of {service} in {environment} that ran before "
            f"{bad or 'the one serving'} and was not rolled back from (Railway keeps "
            "deployments only for your plan's retention)"
        )
    Executor(client, seen, service=service, log=lambda _line: None).run([Rollback(target)])
    return target
