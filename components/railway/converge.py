"""Idempotent converge of one Railway service in one environment: apply, delete, rollback."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from components.railway import documents as docs
from components.railway.client import AmbiguousError, RailwayClient, RailwayError, one_line
from components.railway.spec import (
    DEPLOY_TIMEOUT,
    DomainRef,
    RepoSource,
    Spec,
    State,
    VolumeRef,
    WorkflowSource,
    public_url,
)

Log = Callable[[str], None]
T = TypeVar("T")

# Settings under `deploy` in Railway's environment config; region and replicas go together in
# `deploy.multiRegionConfig` (Railway's CLI, `railway scale`).
_DEPLOY_FIELDS = {
    "healthcheck_path": "healthcheckPath",
    "healthcheck_timeout": "healthcheckTimeout",
    "start_command": "startCommand",
    "restart_policy_type": "restartPolicyType",
}
_ROLLBACK_TARGETS = ("SUCCESS", "REMOVED", "SLEEPING")
_VOLUME_GONE = ("DELETING", "DELETED")
_RUNNING = ("SUCCESS", "SLEEPING")
_FAILED = ("FAILED", "CRASHED")
# Nothing runs from these, or it stopped: apply deploys again. Any other status is in progress.
_ENDED = (*_FAILED, "REMOVED", "REMOVING", "SKIPPED")
_LOG_LINES = 20


@dataclass(frozen=True)
class Pace:
    """How apply waits for Railway: the poll interval, and the clock and sleep (fakes in tests)."""

    interval: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


class DeployFailed(RailwayError):
    """A deployment that ended without running, or did not end in time; `tail` is the end of
    its build or deploy log (secret values and the token masked)."""

    def __init__(self, message: str, tail: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.tail = tail


@dataclass(frozen=True)
class Observed:
    """What Railway has now, from one query."""

    environment_id: str | None
    service_id: str | None
    instance: dict[str, Any]  # empty when the service has no instance in the environment
    config: dict[str, Any]  # the service's entry in the environment's config
    # Other environments running this service; None when the token cannot see them.
    deployed_elsewhere: tuple[str, ...] | None
    # Volume instances attached to the service, in every environment the token sees; each also
    # carries "environment" (the environment's name).
    volumes: tuple[dict[str, Any], ...] = ()
    staged_changes: int = 0  # changes a person staged in the environment and did not deploy


def _nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
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
) -> Observed:
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
    sid = found[0]["id"] if found else None
    env_id, staged = None, 0
    instance: dict[str, Any] = {}
    config: dict[str, Any] = {}
    elsewhere: list[str] = []
    volumes: list[dict[str, Any]] = []
    for env in environments:
        if any(env[k]["pageInfo"]["hasNextPage"] for k in ("serviceInstances", "volumeInstances")):
            raise RailwayError(
                f"environment {env['name']} has more than 500 services or volumes; not supported"
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
            services_config = (env.get("config") or {}).get("services") or {}
            config = (services_config.get(sid) if sid else None) or {}
            staged = env.get("unmergedChangesCount") or 0
        elif any(i["latestDeployment"] for i in instances):
            elsewhere.append(env["name"])
    return Observed(
        env_id,
        sid,
        instance,
        config,
        None if client.project_token else tuple(elsewhere),
        tuple(volumes),
        staged,
    )


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


def _nulls(current: object) -> dict[str, None]:
    """Null for every key of `current`: in a patch, null removes the key."""
    return dict.fromkeys(current) if isinstance(current, dict) else {}


def desired_config(spec: Spec, current: dict[str, Any]) -> dict[str, Any]:
    """The service's entry of an environment patch that gives it the spec's source and settings.
    `current` is its entry now: what the spec's source replaces (a repo's branch for an image,
    other regions) is set to null."""
    have_source = current.get("source") or {}
    have_deploy = current.get("deploy") or {}
    source = spec.service.source
    if isinstance(source, RepoSource):
        drop = {k: None for k in ("image",) if have_source.get(k) is not None}
        wanted_source: dict[str, Any] = {**drop, "repo": source.repo, "branch": source.branch}
        if source.root_directory is not None:
            wanted_source["rootDirectory"] = source.root_directory
    elif isinstance(source, WorkflowSource):
        wanted_source = {k: None for k in ("repo", "branch", "image") if have_source.get(k)}
        if source.root_directory is not None:
            wanted_source["rootDirectory"] = source.root_directory
    else:
        drop = {k: None for k in ("repo", "branch") if have_source.get(k) is not None}
        wanted_source = {**drop, "image": source.image}
    settings = spec.service.settings
    deploy: dict[str, Any] = {
        wire: getattr(settings, field)
        for field, wire in _DEPLOY_FIELDS.items()
        if getattr(settings, field) is not None
    }
    if settings.region is not None:
        deploy["multiRegionConfig"] = {
            **_nulls(have_deploy.get("multiRegionConfig")),
            settings.region: {"numReplicas": settings.num_replicas or 1},
        }
    elif settings.num_replicas is not None:
        deploy["numReplicas"] = settings.num_replicas
    return {"source": wanted_source, **({"deploy": deploy} if deploy else {})}


def _contains(have: object, want: object) -> bool:
    """Whether `have` already says all that `want` says (a null in `want`: absent in `have`)."""
    if isinstance(want, dict):
        found = have if isinstance(have, dict) else {}
        return all(_contains(found.get(key), value) for key, value in want.items())
    return have == want


def _contradicts(have: object, want: object) -> bool:
    """Whether `have` states a value that `want` sets otherwise. What `have` leaves out does not
    count: Railway's record of a deployment may say less than the spec."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return False
        return any(_contradicts(have.get(key), value) for key, value in want.items())
    return want is not None and have is not None and have != want


class _Apply:
    def __init__(
        self, client: RailwayClient, spec: Spec, previous: State | None, log: Log, pace: Pace
    ) -> None:
        self.client, self.spec, self.previous = client, spec, previous
        self.log, self.pace = log, pace
        self.ids = {"projectId": spec.project_id}
        self.needs_deploy = False
        self.new_source = False
        self.timeout = spec.service.deploy_timeout or DEPLOY_TIMEOUT

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
        wanted = desired_config(spec, {} if fresh else obs.config)
        current = {} if fresh else obs.config
        self.new_source = fresh or not _contains(current.get("source"), wanted["source"])
        self._settings(wanted, current, obs.staged_changes)
        managed = self._variables(fresh)
        volumes = self._volumes(
            [v for v in obs.volumes if v["environmentId"] == env_id],
            instance.get("latestDeployment"),
        )
        custom, service_domain = self._domains(instance)
        deployment_id = self._deployment(instance.get("latestDeployment") or None, wanted)
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

    def _deployment(self, latest: dict[str, Any] | None, wanted: dict[str, Any]) -> str | None:
        """Deploy when something changed or nothing runs; wait for the deployment either way
        until it runs, fails or the spec's timeout passes. A running service keeps its code:
        it is redeployed, so the next `pulumi up` never puts branch HEAD over a rollback."""
        status = latest["status"] if latest else None
        name, env = self.spec.service.name, self.spec.environment
        if latest and status in _RUNNING and not self.needs_deploy:
            self.needs_deploy = self._predates(latest["id"], wanted)
        if self.needs_deploy or latest is None or status in _ENDED:
            keep = latest is not None and status in _RUNNING and not self.new_source
            if keep or (latest is not None and self._from_workflow):
                assert latest is not None
                deployment_id: str = self.client.mutate(docs.REDEPLOY, {"id": latest["id"]})[
                    "deploymentRedeploy"
                ]["id"]
                self.log(f"redeploying the code {name} runs in {env}: {deployment_id}")
            elif self._from_workflow:
                self.log(f"{name} in {env} has no code yet: its deploy workflow ships it")
                return None
            else:
                deployment_id = self.client.mutate(docs.DEPLOY, self._instance_ids())[
                    "serviceInstanceDeployV2"
                ]
                self.log(f"deploying {name} to {env}: {deployment_id}")
        else:
            deployment_id = latest["id"]
            if status in _RUNNING:
                return deployment_id
            self.log(f"waiting for deployment {deployment_id} ({status}), started before this run")
        self._await(deployment_id)
        return deployment_id

    @property
    def _from_workflow(self) -> bool:
        return isinstance(self.spec.service.source, WorkflowSource)

    def _wait_for(
        self, fetch: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool]
    ) -> tuple[dict[str, Any], bool]:
        """Poll `fetch` until `done`, at most the spec's timeout; the last answer and whether
        it was done."""
        pace = self.pace
        deadline = pace.clock() + self.timeout
        while True:
            found = fetch()
            if done(found):
                return found, True
            left = deadline - pace.clock()
            if left <= 0:
                return found, False
            pace.sleep(min(pace.interval, left))

    def _await(self, deployment_id: str) -> None:
        where = f"deployment {deployment_id} of {self.spec.service.name} in {self.spec.environment}"
        seen: list[str] = []

        def fetch() -> dict[str, Any]:
            found: dict[str, Any] = self.client.query(
                docs.DEPLOYMENT_STATUS, {"id": deployment_id}
            )["deployment"]
            if found["status"] not in seen[-1:]:  # progress: one line per status
                seen.append(found["status"])
                self.log(f"{where}: {found['status']}")
            return found

        last, ended = self._wait_for(fetch, lambda d: d["status"] in (*_RUNNING, *_ENDED))
        status = last["status"]
        if not ended:
            raise DeployFailed(
                f"{where} is still {status} after {self.timeout} s "
                "(service.deployTimeout); run apply again to go on waiting, it does not deploy "
                "twice"
            )
        if status not in _RUNNING:
            what, tail = self._log_tail(deployment_id, status)
            raise DeployFailed(
                f"{where} ended {status}; fix the cause and run apply again, it deploys again"
                + (f"; last lines of its {what} log:" if tail else ""),
                tail,
            )

    def _log_tail(self, deployment_id: str, status: str) -> tuple[str, tuple[str, ...]]:
        """The end of the build log (a failed build) or deploy log (a crash), masked."""
        try:
            logs = self.client.query(docs.DEPLOYMENT_LOGS, {"id": deployment_id, "limit": 500})
        except RailwayError as error:
            return "", (f"(its logs could not be read: {error})",)
        order = ["deploy", "build"] if status == "CRASHED" else ["build", "deploy"]
        fields = {"build": "buildLogs", "deploy": "deploymentLogs"}
        for what in order:
            lines = [
                one_line(self.client.redact(entry["message"]), 300)
                for entry in logs.get(fields[what]) or []
                if isinstance(entry, dict) and isinstance(entry.get("message"), str)
            ]
            lines = [line for line in lines if line]
            if lines:
                return what, tuple(lines[-_LOG_LINES:])
        return "", ()

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

    def _predates(self, deployment_id: str, wanted: dict[str, Any]) -> bool:
        """Whether the service's variables or settings changed after `deployment_id` started,
        by a run that stopped before its deploy. Asked only when this run changed nothing, so
        the service has the wanted values and none of the dropped names. Values with
        references are skipped: a snapshot may hold them rendered. A safety net: when Railway
        will not say, apply goes on without it."""
        try:
            found = self.client.query(docs.RUNNING_DEPLOYMENT, {"deploymentId": deployment_id})
        except RailwayError as error:
            self.log(f"cannot read what the running deployment started with, not compared: {error}")
            return False
        running = (found.get("deploymentSnapshot") or {}).get("variables") or {}
        manifest = ((found.get("deployment") or {}).get("meta") or {}).get("serviceManifest")
        wanted_variables = self.spec.service.variables
        dropped = set(self.previous.variables) - set(wanted_variables) if self.previous else set()
        variables = any(
            name in running and running[name] != value
            for name, value in wanted_variables.items()
            if "${{" not in value
        ) or any(name in running for name in dropped)
        settings = _contradicts(manifest, wanted)
        if variables or settings:
            self.log(
                "the running deployment predates the service's variables or settings: redeploying"
            )
        return variables or settings

    def _settings(self, wanted: dict[str, Any], current: dict[str, Any], staged: int) -> None:
        """Commit the service's source and settings as one patch of this environment only."""
        if _contains(current, wanted):
            return
        env = self.spec.environment
        if staged:
            raise RailwayError(
                f"environment {env} has {staged} staged change(s) in Railway that nobody "
                "deployed: deploy or discard them in Railway's dashboard, then run apply again "
                "(apply commits the settings of one service and leaves no one's changes half done)"
            )
        patch = {"services": {self.ids["serviceId"]: wanted}}
        committed: str = self.client.mutate(
            docs.ENVIRONMENT_PATCH_COMMIT,
            {
                "environmentId": self.ids["environmentId"],
                "patch": patch,
                "commitMessage": f"autonomica: {self.spec.service.name} settings",
            },
        )["environmentPatchCommit"]
        patch_id = committed.rsplit("/", 1)[-1]
        last, ended = self._wait_for(
            lambda: self.client.query(docs.ENVIRONMENT_PATCH, {"id": patch_id})["environmentPatch"],
            lambda p: p["status"] == "COMMITTED" or bool(p.get("lastAppliedError")),
        )
        if last.get("lastAppliedError") or not ended:
            error = last.get("lastAppliedError")
            reason = (
                one_line(self.client.redact(error))
                if isinstance(error, str)
                else f"still {last['status']} after {self.timeout} s"
            )
            raise RailwayError(
                f"Railway did not apply the settings of {self.spec.service.name} in {env} "
                f"({reason}); "
                "check them in Railway's dashboard and run apply again"
            )
        source = self.spec.service.source
        if isinstance(source, RepoSource):
            what = f"{source.repo}@{source.branch}"
        elif isinstance(source, WorkflowSource):
            what = f"deployed by {source.deployed_by}"
        else:
            what = source.image
        self.log(f"committed the settings of {self.spec.service.name} in {env} ({what})")
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


def check(client: RailwayClient, spec: Spec, unknown: frozenset[str] = frozenset()) -> list[str]:
    """How Railway differs from `spec`, read only (no mutation): one line per difference,
    naming what differs, never a value. Empty when Railway is as the spec says. Variables in
    `unknown` (secrets whose values the caller does not have) are checked for presence only."""
    name, env = spec.service.name, spec.environment
    obs = observe(client, spec.project_id, env, service_name=name)
    if obs.environment_id is None or obs.service_id is None:
        return [f"{name}: no service in environment {env}: `pulumi up` creates it"]
    found = []
    wanted = desired_config(spec, obs.config)
    for key, value in wanted.items():
        if not _contains(obs.config.get(key), value):
            found.append(f"{name}: its {key} settings differ from the spec")
    ids = {"projectId": spec.project_id, "environmentId": obs.environment_id}
    have = client.query(docs.VARIABLES, {**ids, "serviceId": obs.service_id})["variables"] or {}
    for variable, value in sorted(spec.service.variables.items()):
        if variable not in have:
            found.append(f"{name}: variable {variable} is missing")
        elif have[variable] != value and variable not in unknown:
            found.append(f"{name}: variable {variable} differs from the spec")
    domains = obs.instance.get("domains") or {"customDomains": [], "serviceDomains": []}
    present = {d["domain"] for d in domains["customDomains"]}
    found += [f"{name}: domain {d} is missing" for d in spec.service.domains if d not in present]
    mounted = {v["mountPath"] for v in obs.volumes if v["environmentId"] == obs.environment_id}
    found += [
        f"{name}: no volume at {v.mount_path}"
        for v in spec.service.volumes
        if v.mount_path not in mounted
    ]
    latest = obs.instance.get("latestDeployment")
    if latest and latest["status"] in _FAILED:
        found.append(f"{name}: its latest deployment {latest['id']} is {latest['status']}")
    return found


def apply(
    client: RailwayClient, spec: Spec, previous: State | None, log: Log, pace: Pace | None = None
) -> State:
    """Converge Railway to `spec` and wait for its deployment to run (DeployFailed if it does
    not). `previous` is the state the last apply printed, if any."""
    return _Apply(client, spec, previous, log, pace or Pace()).run()


def delete(client: RailwayClient, state: State, log: Log) -> None:
    """Remove what apply manages. serviceDelete removes a service from every environment, so
    when another environment still runs it, only this environment's part is removed."""
    obs = observe(client, state.project_id, state.environment, service_id=state.service_id)
    if obs.service_id is None:
        log(f"service {state.service} is already gone")
        return
    if obs.deployed_elsewhere == ():
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
    why = (
        f"{', '.join(obs.deployed_elsewhere)} still runs it"
        if obs.deployed_elsewhere
        else "a project token cannot see whether another environment runs it (delete it with "
        "an account token in RAILWAY_API_TOKEN, or in Railway's dashboard, if none does)"
    )
    log(f"removed {state.service} from {state.environment}; kept the service because {why}")
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
