"""Observe: what Railway has now for one service in one environment, read only and typed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from components.railway import documents as docs
from components.railway.client import RailwayClient, RailwayError
from components.railway.spec import DomainRef

# Deployment statuses: Railway's schema, enum DeploymentStatus (schema.graphql:683). Railway
# keeps one running deployment per service, and a new one replaces it once it is online
# ("Singleton deploys", https://docs.railway.com/reference/deployments), so a FAILED latest
# deployment leaves the one before it running.
RUNNING = ("SUCCESS", "SLEEPING")
ENDED = ("FAILED", "CRASHED", "REMOVED", "REMOVING", "SKIPPED")  # nothing runs from these
# Waiting for someone, reported at once: a person's approval (NEEDS_APPROVAL; the schema's
# deploymentApprove, "Approves a deployment", schema.graphql:1545), the repository's CI
# ("deployments will be moved to a WAITING state while your workflows are running", railwayapp/
# docs content/docs/deployments/github-autodeploys.md), Railway's queue ("New deployments will
# be queued rather than immediately processed" while builds are paused, content/docs/
# deployments/reference.md).
WAITING = ("NEEDS_APPROVAL", "WAITING", "QUEUED")
_VOLUME_GONE = ("DELETING", "DELETED")

Log = Callable[[str], None]


@dataclass(frozen=True)
class Deployment:
    id: str
    status: str
    created_at: datetime
    # The commit a repository deployment built: `meta.commitHash`. DeploymentMeta is an untyped
    # scalar (schema.graphql:667) and the key is not documented: None when Railway does not say.
    commit: str | None = None

    @classmethod
    def read(cls, node: Mapping[str, Any]) -> Deployment:
        meta = node.get("meta")
        commit = meta.get("commitHash") if isinstance(meta, dict) else None
        return cls(
            id=node["id"],
            status=node["status"],
            created_at=datetime.fromisoformat(node["createdAt"]),
            commit=commit if isinstance(commit, str) and commit else None,
        )


@dataclass(frozen=True)
class VolumeInstance:
    volume_id: str
    environment_id: str
    environment: str
    mount_path: str


@dataclass(frozen=True)
class Observation:
    """One service in one environment. `config` is the service's entry of the environment's
    config (its `source` and `deploy` settings), None while the environment has no instance of
    the service (a new instance needs `isCreated`). `variables`, `running` and
    `running_variables` are read only for an instance that exists (`observe_service`)."""

    project_id: str
    environment: str
    environment_id: str | None
    service_id: str | None
    config: Mapping[str, Any] | None
    staged_changes: int = 0  # changes someone staged in the environment and did not deploy
    custom_domains: tuple[DomainRef, ...] = ()
    service_domains: tuple[DomainRef, ...] = ()
    # This service's volume instances in every environment the token sees.
    volumes: tuple[VolumeInstance, ...] = ()
    latest: Deployment | None = None
    # Other environments running this service; None when the token cannot see them.
    deployed_elsewhere: tuple[str, ...] | None = ()
    variables: Mapping[str, str] = field(default_factory=dict)
    running: Deployment | None = None
    # What the running deployment started with; None when unknown (Railway would not say).
    running_variables: Mapping[str, str] | None = None

    @property
    def volumes_here(self) -> tuple[VolumeInstance, ...]:
        return tuple(v for v in self.volumes if v.environment_id == self.environment_id)


def _nodes(connection: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in connection["edges"]]


def _scoped_environment(client: RailwayClient, project_id: str, environment: str) -> dict[str, Any]:
    """The one environment a project token may read, checked against the spec."""
    token = client.query(docs.OBSERVE_TOKEN_ENVIRONMENT, {})["projectToken"]
    scoped: dict[str, Any] = token["environment"]
    if token["projectId"] != project_id or scoped["name"] != environment:
        raise RailwayError(
            f"RAILWAY_TOKEN is a project token of environment {scoped['name']} of project "
            f"{token['projectId']}, not of {environment} of project {project_id}: use that "
            "environment's project token, or an account token in RAILWAY_API_TOKEN"
        )
    return scoped


def observe(
    client: RailwayClient,
    project_id: str,
    environment: str,
    *,
    service_name: str | None = None,
    service_id: str | None = None,
) -> Observation:
    """One query: the service (by name or id) in the environment, and what the token sees of it
    elsewhere."""
    if client.project_token:
        environments = [_scoped_environment(client, project_id, environment)]
        services = [
            {"id": i["serviceId"], "name": i["serviceName"]}
            for i in _nodes(environments[0]["serviceInstances"])
        ]
    else:
        project = client.query(docs.OBSERVE, {"projectId": project_id})["project"]
        if any(project[k]["pageInfo"]["hasNextPage"] for k in ("services", "environments")):
            raise RailwayError(
                f"project {project_id} has more than 500 services or 100 environments; "
                "not supported"
            )
        environments = _nodes(project["environments"])
        services = _nodes(project["services"])
    found = [s for s in services if s["id"] == service_id or s["name"] == service_name]
    sid: str | None = found[0]["id"] if found else None
    seen = Observation(project_id, environment, None, sid, None)
    elsewhere: list[str] = []
    volumes: list[VolumeInstance] = []
    for env in environments:
        if any(env[k]["pageInfo"]["hasNextPage"] for k in ("serviceInstances", "volumeInstances")):
            raise RailwayError(
                f"environment {env['name']} has more than 500 services or volumes; not supported"
            )
        volumes += [
            VolumeInstance(v["volumeId"], v["environmentId"], env["name"], v["mountPath"])
            for v in _nodes(env["volumeInstances"])
            if sid is not None and v["serviceId"] == sid and v["state"] not in _VOLUME_GONE
        ]
        instances = [i for i in _nodes(env["serviceInstances"]) if i["serviceId"] == sid]
        if env["name"] == environment:
            seen = _this_environment(seen, env, instances)
        elif any(i["latestDeployment"] for i in instances):
            elsewhere.append(env["name"])
    return replace(
        seen,
        volumes=tuple(volumes),
        deployed_elsewhere=None if client.project_token else tuple(elsewhere),
    )


def _this_environment(
    seen: Observation, env: Mapping[str, Any], instances: list[dict[str, Any]]
) -> Observation:
    instance = instances[0] if instances else {}
    services = (env.get("config") or {}).get("services") or {}
    entry = services.get(seen.service_id) if seen.service_id else None
    domains = instance.get("domains") or {}
    latest = instance.get("latestDeployment")
    return replace(
        seen,
        environment_id=env["id"],
        config=entry if isinstance(entry, dict) else None,
        staged_changes=env.get("unmergedChangesCount") or 0,
        custom_domains=tuple(DomainRef(**d) for d in domains.get("customDomains") or ()),
        service_domains=tuple(DomainRef(**d) for d in domains.get("serviceDomains") or ()),
        latest=Deployment.read(latest) if latest else None,
    )


def observe_service(client: RailwayClient, seen: Observation, log: Log) -> Observation:
    """`seen` with the instance's variables, the deployment that runs it and the variables that
    deployment started with (one query each; nothing when the instance does not exist yet). The
    last is a safety net: when Railway will not say, apply goes on without it."""
    if seen.environment_id is None or seen.service_id is None or seen.config is None:
        return seen
    ids = {
        "projectId": seen.project_id,
        "environmentId": seen.environment_id,
        "serviceId": seen.service_id,
    }
    state = client.query(docs.SERVICE_STATE, ids)
    running = sorted(
        (Deployment.read(node) for node in _nodes(state["deployments"])),
        key=lambda d: d.created_at,
    )
    seen = replace(
        seen, variables=state["variables"] or {}, running=running[-1] if running else None
    )
    if seen.running is None:
        return seen
    try:
        snapshot = client.query(docs.RUNNING_DEPLOYMENT, {"deploymentId": seen.running.id})
    except RailwayError as error:
        log(f"cannot read what the running deployment started with, not compared: {error}")
        return seen
    found = (snapshot.get("deploymentSnapshot") or {}).get("variables")
    return replace(seen, running_variables=found if isinstance(found, dict) else None)
