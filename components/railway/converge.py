"""Idempotent converge of one Railway service in one environment: apply, delete, rollback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from components.railway import documents as docs
from components.railway.client import AmbiguousError, RailwayClient, RailwayError
from components.railway.spec import (
    DomainRef,
    ImageSource,
    RepoSource,
    Spec,
    State,
    VolumeRef,
    public_url,
)

Log = Callable[[str], None]
T = TypeVar("T")

_SETTING_FIELDS = {
    "healthcheck_path": "healthcheckPath",
    "healthcheck_timeout": "healthcheckTimeout",
    "start_command": "startCommand",
    "num_replicas": "numReplicas",
    "region": "region",
    "restart_policy_type": "restartPolicyType",
}
_ROLLBACK_TARGETS = ("SUCCESS", "REMOVED", "SLEEPING")
_VOLUME_GONE = ("DELETING", "DELETED")


@dataclass(frozen=True)
class Observed:
    """What Railway has now, from one query."""

    environment_id: str | None
    service_id: str | None
    instance: dict[str, Any]  # empty when the service has no instance in the environment
    trigger: dict[str, Any] | None
    deployed_elsewhere: tuple[str, ...]  # other environments running this service
    # Volume instances attached to the service, in every environment; each also carries
    # "environment" (the environment's name).
    volumes: tuple[dict[str, Any], ...] = ()


def _nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in connection["edges"]]


def observe(
    client: RailwayClient,
    project_id: str,
    environment: str,
    *,
    service_name: str | None = None,
    service_id: str | None = None,
) -> Observed:
    project = client.query(docs.OBSERVE, {"projectId": project_id})["project"]
    if any(project[k]["pageInfo"]["hasNextPage"] for k in ("services", "environments")):
        raise RailwayError(
            f"project {project_id} has more than 500 services or 100 environments; not supported"
        )
    services = _nodes(project["services"])
    found = [s for s in services if s["id"] == service_id or s["name"] == service_name]
    sid = found[0]["id"] if found else None
    env_id, instance, trigger, elsewhere, volumes = None, {}, None, [], []
    for env in _nodes(project["environments"]):
        if env["volumeInstances"]["pageInfo"]["hasNextPage"]:
            raise RailwayError(
                f"environment {env['name']} has more than 500 volumes; not supported"
            )
        volumes += [
            {**v, "environment": env["name"]}
            for v in _nodes(env["volumeInstances"])
            if sid is not None and v["serviceId"] == sid and v["state"] not in _VOLUME_GONE
        ]
        instances = [i for i in _nodes(env["serviceInstances"]) if i["serviceId"] == sid]
        if env["name"] == environment:
            env_id = env["id"]
            instance = instances[0] if instances else {}
            triggers = [t for t in _nodes(env["deploymentTriggers"]) if t["serviceId"] == sid]
            trigger = triggers[0] if triggers else None
        elif any(i["latestDeployment"] for i in instances):
            elsewhere.append(env["name"])
    return Observed(env_id, sid, instance, trigger, tuple(elsewhere), tuple(volumes))


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _create(create: Callable[[], T], lookup: Callable[[], T | None], what: str) -> T:
    """Create once; when the outcome is unknown (5xx, timeout, dropped connection), look first."""
    for _ in range(3):
        try:
            return create()
        except AmbiguousError:
            found = lookup()
            if found is not None:
                return found
    raise RailwayError(f"could not create {what}: Railway kept failing; run apply again")


def _desired_instance(spec: Spec) -> dict[str, Any]:
    settings = spec.service.settings
    wanted: dict[str, Any] = {
        wire: getattr(settings, field)
        for field, wire in _SETTING_FIELDS.items()
        if getattr(settings, field) is not None
    }
    source = spec.service.source
    if isinstance(source, RepoSource):
        wanted["source"] = {"repo": source.repo}
        if source.root_directory is not None:
            wanted["rootDirectory"] = source.root_directory
    else:
        wanted["source"] = {"image": source.image}
    return wanted


def _instance_differs(wanted: dict[str, Any], instance: dict[str, Any]) -> bool:
    for key, value in wanted.items():
        if key == "source":
            have = instance.get("source") or {}
            if any(have.get(k) != v for k, v in value.items()):
                return True
        elif instance.get(key) != value:
            return True
    return False


class _Apply:
    def __init__(self, client: RailwayClient, spec: Spec, previous: State | None, log: Log) -> None:
        self.client, self.spec, self.previous, self.log = client, spec, previous, log
        self.ids = {"projectId": spec.project_id}
        self.needs_deploy = False

    def run(self) -> State:
        spec = self.spec
        obs = observe(
            self.client, spec.project_id, spec.environment, service_name=spec.service.name
        )
        env_id = obs.environment_id or self._create_environment()
        self.ids["environmentId"] = env_id
        fresh = obs.service_id is None
        service_id = obs.service_id or self._create_service()
        self.ids["serviceId"] = service_id
        instance = {} if fresh else obs.instance
        managed = self._variables(fresh)
        self._instance(instance)
        volumes = self._volumes(
            [v for v in obs.volumes if v["environmentId"] == env_id],
            instance.get("latestDeployment"),
        )
        self._trigger(obs.trigger)
        custom, service_domain = self._domains(instance)
        deployment = instance.get("latestDeployment") or None
        if deployment and not self.needs_deploy:
            self.needs_deploy = self._predates_variables(deployment["id"])
        if self.needs_deploy or deployment is None:
            deployment_id = self.client.mutate(docs.DEPLOY, self._instance_ids())[
                "serviceInstanceDeployV2"
            ]
            self.log(f"deployed {spec.service.name} to {spec.environment}: {deployment_id}")
        else:
            deployment_id = deployment["id"]
        wanted_domains = spec.service.domains
        return State(
            project_id=spec.project_id,
            environment_id=env_id,
            environment=spec.environment,
            service_id=service_id,
            service=spec.service.name,
            variables=managed,
            custom_domains=custom,
            service_domain=service_domain,
            volumes=volumes,
            deployment_id=deployment_id,
            url=public_url(wanted_domains, service_domain.domain if service_domain else None),
        )

    def _instance_ids(self) -> dict[str, str]:
        return {"serviceId": self.ids["serviceId"], "environmentId": self.ids["environmentId"]}

    def _create_environment(self) -> str:
        name = self.spec.environment

        def create() -> str:
            data = self.client.mutate(
                docs.ENVIRONMENT_CREATE,
                {"input": {**self.ids, "name": name, "skipInitialDeploys": True}},
                idempotent=False,
            )
            env_id: str = data["environmentCreate"]["id"]
            return env_id

        env_id = _create(
            create,
            lambda: observe(self.client, self.spec.project_id, name).environment_id,
            f"environment {name}",
        )
        self.log(f"created environment {name}: {env_id}")
        return env_id

    def _create_service(self) -> str:
        name = self.spec.service.name
        spec_input = {**self.ids, "name": name}

        def create() -> str:
            data = self.client.mutate(docs.SERVICE_CREATE, {"input": spec_input}, idempotent=False)
            service_id: str = data["serviceCreate"]["id"]
            return service_id

        def lookup() -> str | None:
            return observe(
                self.client, self.spec.project_id, self.spec.environment, service_name=name
            ).service_id

        service_id = _create(create, lookup, f"service {name}")
        self.log(f"created service {name}: {service_id}")
        self.needs_deploy = True
        return service_id

    def _variables(self, fresh: bool) -> tuple[str, ...]:
        wanted = self.spec.service.variables
        have: dict[str, str] = (
            {} if fresh else self.client.query(docs.VARIABLES, self.ids)["variables"] or {}
        )
        changed = {name: value for name, value in wanted.items() if have.get(name) != value}
        if changed:
            self.client.mutate(
                docs.VARIABLES_UPSERT,
                {
                    "input": {
                        **self.ids,
                        "variables": changed,
                        "skipDeploys": True,
                        "replace": False,
                    }
                },
            )
            self.log(f"set variables {', '.join(sorted(changed))}")
            self.needs_deploy = True
        before = self.previous.variables if self.previous else ()
        for name in sorted(set(before) - set(wanted)):
            if name in have:
                self.client.mutate(docs.VARIABLE_DELETE, {"input": {**self.ids, "name": name}})
                self.log(f"deleted variable {name}")
                self.needs_deploy = True
        return tuple(sorted(wanted))

    def _predates_variables(self, deployment_id: str) -> bool:
        """Whether the service's variables changed after `deployment_id` started, by a run that
        stopped before its deploy. Asked only when this run changed no variable, so the service
        has the wanted values and none of the dropped names. Values with references are skipped:
        a snapshot may hold them rendered. A safety net: when Railway will not say, apply goes
        on without it."""
        try:
            found = self.client.query(docs.RUNNING_VARIABLES, {"deploymentId": deployment_id})
        except RailwayError as error:
            self.log(f"cannot read the running deployment's variables, not compared: {error}")
            return False
        running = (found.get("deploymentSnapshot") or {}).get("variables")
        if running is None:
            return False
        wanted = self.spec.service.variables
        dropped = set(self.previous.variables) - set(wanted) if self.previous else set()
        changed = any(
            running.get(name) != value for name, value in wanted.items() if "${{" not in value
        )
        deleted = any(name in running for name in dropped)
        if changed or deleted:
            self.log("the running deployment predates the service's variables: redeploying")
        return changed or deleted

    def _instance(self, instance: dict[str, Any]) -> None:
        wanted = _desired_instance(self.spec)
        if _instance_differs(wanted, instance):
            self.client.mutate(
                docs.SERVICE_INSTANCE_UPDATE, {**self._instance_ids(), "input": wanted}
            )
            self.log(f"updated settings of {self.spec.service.name} in {self.spec.environment}")
            self.needs_deploy = True

    def _volumes(
        self, have: list[dict[str, Any]], deployment: dict[str, Any] | None
    ) -> tuple[VolumeRef, ...]:
        """Find each wanted mount path, else move a volume apply made before, else create one.
        A volume is never deleted here: its data may be all the service remembers."""
        wanted = [v.mount_path for v in self.spec.service.volumes]
        at = {v["mountPath"]: v for v in have}
        managed = {ref.id for ref in self.previous.volumes} if self.previous else set()
        movable = [v for v in have if v["volumeId"] in managed and v["mountPath"] not in wanted]
        refs = []
        for path in wanted:
            if path in at:
                if deployment and _time(at[path]["createdAt"]) > _time(deployment["createdAt"]):
                    self.needs_deploy = True  # made by a run that stopped before its deploy
                refs.append(VolumeRef(id=at[path]["volumeId"], mount_path=path))
            elif movable:
                refs.append(self._move_volume(movable.pop(0), path))
            else:
                refs.append(self._create_volume(path))
        for left in movable:
            self.log(
                f"kept volume {left['volumeId']} at {left['mountPath']}: the spec no longer "
                "lists it, so apply stops managing it; its data stays until a person deletes it"
            )
        return tuple(refs)

    def _move_volume(self, volume: dict[str, Any], path: str) -> VolumeRef:
        self.client.mutate(
            docs.VOLUME_INSTANCE_UPDATE,
            {
                "volumeId": volume["volumeId"],
                "environmentId": self.ids["environmentId"],
                "input": {"mountPath": path, "serviceId": self.ids["serviceId"]},
            },
        )
        self.log(f"moved volume {volume['volumeId']} from {volume['mountPath']} to {path}")
        self.needs_deploy = True  # a container sees a mount only when it starts
        return VolumeRef(id=volume["volumeId"], mount_path=path)

    def _create_volume(self, path: str) -> VolumeRef:
        data = {**self.ids, "mountPath": path}
        if self.spec.service.settings.region is not None:
            data["region"] = self.spec.service.settings.region

        def create() -> str:
            volume = self.client.mutate(docs.VOLUME_CREATE, {"input": data}, idempotent=False)
            volume_id: str = volume["volumeCreate"]["id"]
            return volume_id

        def lookup() -> str | None:
            obs = observe(
                self.client,
                self.spec.project_id,
                self.spec.environment,
                service_id=self.ids["serviceId"],
            )
            env_id = self.ids["environmentId"]
            found = [
                v["volumeId"]
                for v in obs.volumes
                if v["environmentId"] == env_id and v["mountPath"] == path
            ]
            return found[0] if found else None

        volume_id = _create(create, lookup, f"volume at {path}")
        self.log(f"created volume {volume_id} at {path}")
        self.needs_deploy = True
        return VolumeRef(id=volume_id, mount_path=path)

    def _trigger(self, trigger: dict[str, Any] | None) -> None:
        source = self.spec.service.source
        if isinstance(source, ImageSource):
            if trigger is not None:
                self.client.mutate(docs.TRIGGER_DELETE, {"id": trigger["id"]})
                self.needs_deploy = True
            return
        wanted = {"branch": source.branch, "repository": source.repo}
        if trigger is None:
            data = {**self.ids, **wanted, "provider": "github"}
            if source.root_directory is not None:
                data["rootDirectory"] = source.root_directory
            _create(
                lambda: self.client.mutate(docs.TRIGGER_CREATE, {"input": data}, idempotent=False),
                lambda: (
                    observe(
                        self.client,
                        self.spec.project_id,
                        self.spec.environment,
                        service_id=self.ids["serviceId"],
                    ).trigger
                ),
                f"deployment trigger of {self.spec.service.name}",
            )
        elif any(trigger.get(k) != v for k, v in wanted.items()):
            self.client.mutate(docs.TRIGGER_UPDATE, {"id": trigger["id"], "input": wanted})
        else:
            return
        self.log(f"{self.spec.environment} deploys {source.repo}@{source.branch}")
        self.needs_deploy = True

    def _domains(self, instance: dict[str, Any]) -> tuple[tuple[DomainRef, ...], DomainRef | None]:
        domains = instance.get("domains") or {"customDomains": [], "serviceDomains": []}
        have = {
            d["domain"]: DomainRef(id=d["id"], domain=d["domain"]) for d in domains["customDomains"]
        }
        wanted = self.spec.service.domains
        custom = tuple(have.get(name) or self._create_custom_domain(name) for name in wanted)
        previous = self.previous.custom_domains if self.previous else ()
        for ref in previous:
            if ref.domain not in wanted and ref.domain in have:
                self.client.mutate(docs.CUSTOM_DOMAIN_DELETE, {"id": have[ref.domain].id})
                self.log(f"removed domain {ref.domain}")
        current = domains["serviceDomains"][0] if domains["serviceDomains"] else None
        service_domain = DomainRef(**current) if current else None
        if self.spec.service.service_domain and service_domain is None:
            service_domain = self._create_service_domain()
        elif not self.spec.service.service_domain:
            if service_domain and self.previous and self.previous.service_domain:
                self.client.mutate(docs.SERVICE_DOMAIN_DELETE, {"id": service_domain.id})
                self.log(f"removed domain {service_domain.domain}")
            service_domain = None
        return custom, service_domain

    def _lookup_domains(self) -> dict[str, Any]:
        data: dict[str, Any] = self.client.query(docs.DOMAINS, self.ids)["domains"]
        return data

    def _create_custom_domain(self, name: str) -> DomainRef:
        def create() -> DomainRef:
            data = self.client.mutate(
                docs.CUSTOM_DOMAIN_CREATE, {"input": {**self.ids, "domain": name}}, idempotent=False
            )
            return DomainRef(**data["customDomainCreate"])

        def lookup() -> DomainRef | None:
            found = [d for d in self._lookup_domains()["customDomains"] if d["domain"] == name]
            return DomainRef(**found[0]) if found else None

        ref = _create(create, lookup, f"domain {name}")
        self.log(f"added domain {name}")
        return ref

    def _create_service_domain(self) -> DomainRef:
        def create() -> DomainRef:
            data = self.client.mutate(
                docs.SERVICE_DOMAIN_CREATE, {"input": self._instance_ids()}, idempotent=False
            )
            return DomainRef(**data["serviceDomainCreate"])

        def lookup() -> DomainRef | None:
            found = self._lookup_domains()["serviceDomains"]
            return DomainRef(**found[0]) if found else None

        ref = _create(create, lookup, "service domain")
        self.log(f"added domain {ref.domain}")
        return ref


def apply(client: RailwayClient, spec: Spec, previous: State | None, log: Log) -> State:
    """Converge Railway to `spec`. `previous` is the state the last apply printed, if any."""
    return _Apply(client, spec, previous, log).run()


def delete(client: RailwayClient, state: State, log: Log) -> None:
    """Remove what apply manages. serviceDelete removes a service from every environment, so
    when another environment still runs it, only this environment's part is removed."""
    obs = observe(client, state.project_id, state.environment, service_id=state.service_id)
    if obs.service_id is None:
        log(f"service {state.service} is already gone")
        return
    if not obs.deployed_elsewhere:
        _detach_volumes(client, obs.volumes, state.service, log)
        client.mutate(
            docs.SERVICE_DELETE, {"id": obs.service_id, "environmentId": state.environment_id}
        )
        log(f"deleted service {state.service}")
        return
    ids = {
        "projectId": state.project_id,
        "environmentId": state.environment_id,
        "serviceId": obs.service_id,
    }
    have = client.query(docs.VARIABLES, ids)["variables"] or {}
    for name in state.variables:
        if name in have:
            client.mutate(docs.VARIABLE_DELETE, {"input": {**ids, "name": name}})
    domains = obs.instance.get("domains") or {"customDomains": [], "serviceDomains": []}
    managed = {ref.id for ref in state.custom_domains}
    for domain in domains["customDomains"]:
        if domain["id"] in managed:
            client.mutate(docs.CUSTOM_DOMAIN_DELETE, {"id": domain["id"]})
    if state.service_domain:
        for domain in domains["serviceDomains"]:
            if domain["id"] == state.service_domain.id:
                client.mutate(docs.SERVICE_DOMAIN_DELETE, {"id": domain["id"]})
    latest = obs.instance.get("latestDeployment")
    if latest and latest["status"] not in ("REMOVED", "REMOVING"):
        client.mutate(docs.DEPLOYMENT_REMOVE, {"id": latest["id"]})
    log(
        f"removed {state.service} from {state.environment}; kept the service because "
        f"{', '.join(obs.deployed_elsewhere)} still runs it"
    )
    for volume in obs.volumes:
        if volume["environmentId"] == state.environment_id:
            log(
                f"kept volume {volume['volumeId']} at {volume['mountPath']} attached to "
                f"{state.service} in {state.environment}; its data stays until a person "
                "deletes it"
            )


def _detach_volumes(
    client: RailwayClient, volumes: tuple[dict[str, Any], ...], service: str, log: Log
) -> None:
    """Before serviceDelete: a volume left attached could go with the service. A detached
    volume stays in the project, with its data, for a person to delete on purpose."""
    for volume in volumes:
        client.mutate(
            docs.VOLUME_INSTANCE_UPDATE,
            {
                "volumeId": volume["volumeId"],
                "environmentId": volume["environmentId"],
                "input": {"serviceId": None},
            },
        )
        log(
            f"kept volume {volume['volumeId']} (was at {volume['mountPath']} in "
            f"{volume['environment']}): detached from {service}; its data stays until a "
            "person deletes it"
        )


def rollback(client: RailwayClient, project_id: str, environment: str, service: str) -> str:
    """Roll back to the deployment before the current successful one; returns its id."""
    obs = observe(client, project_id, environment, service_name=service)
    if obs.environment_id is None or obs.service_id is None:
        raise RailwayError(
            f"no service {service} in environment {environment} of project {project_id}; "
            "check --service and --environment"
        )
    listing = client.query(
        docs.DEPLOYMENTS,
        {
            "input": {
                "projectId": project_id,
                "environmentId": obs.environment_id,
                "serviceId": obs.service_id,
            }
        },
    )["deployments"]
    deployments = sorted(_nodes(listing), key=lambda d: d["createdAt"], reverse=True)
    current = next((i for i, d in enumerate(deployments) if d["status"] == "SUCCESS"), None)
    earlier = deployments[current + 1 :] if current is not None else []
    target = next(
        (d for d in earlier if d["canRollback"] and d["status"] in _ROLLBACK_TARGETS), None
    )
    if target is None:
        raise RailwayError(
            f"no earlier successful deployment of {service} in {environment} to roll back to "
            "(Railway keeps deployments only for your plan's retention)"
        )
    client.mutate(docs.DEPLOYMENT_ROLLBACK, {"id": target["id"]})
    target_id: str = target["id"]
    return target_id
