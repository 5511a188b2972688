"""Execute: the one place that changes Railway. Runs the steps a plan gives, in order, and
waits for what it starts (the commit of a patch, a deployment)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from components.railway import documents as docs
from components.railway.client import (
    AmbiguousError,
    RailwayClient,
    RailwayError,
    RailwayRejected,
    one_line,
)
from components.railway.observation import ENDED, RUNNING, Log, Observation, observe
from components.railway.plan import (
    AddCustomDomain,
    AddServiceDomain,
    Await,
    CommitConfig,
    CreateEnvironment,
    CreateService,
    CreateVolume,
    DeleteService,
    Deploy,
    DetachVolume,
    KnownService,
    MoveVolume,
    Notice,
    RailwayDeploys,
    Redeploy,
    Refuse,
    Refused,
    RemoveCustomDomain,
    RemoveDeployment,
    RemoveServiceDomain,
    Rollback,
    SetRegistryCredentials,
    Step,
    may_deploy,
)
from components.railway.spec import DEPLOY_TIMEOUT, DomainRef, VolumeRef

T = TypeVar("T")
_LOG_LINES = 20
# While Railway's workflow is not found yet, poll this many times before asking the staged
# patch instead (what Railway's CLI does: src/controllers/staged_changes.rs).
_NOT_FOUND_POLLS = 3


@dataclass(frozen=True)
class Pace:
    """How apply waits for Railway: the poll interval, and the clock and sleep (fakes in tests)."""

    interval: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


class DeployFailed(RailwayError):
    """A deployment that ended without running, waits for someone, or did not end in time;
    `tail` is the end of its build or deploy log (secret values and the token masked)."""

    def __init__(self, message: str, tail: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.tail = tail


@dataclass
class Done:
    """What the steps made: ids for the printed state."""

    environment_id: str | None
    service_id: str | None
    volumes: dict[str, VolumeRef] = field(default_factory=dict)  # by mount path
    custom_domains: dict[str, DomainRef] = field(default_factory=dict)  # by domain
    service_domain: DomainRef | None = None
    deployment_id: str | None = None  # the deployment this run started or waited for


class Executor:
    def __init__(
        self,
        client: RailwayClient,
        seen: Observation,
        *,
        service: str,
        log: Log,
        pace: Pace | None = None,
        timeout: int = DEPLOY_TIMEOUT,
        product: str | None = None,
    ) -> None:
        self.client, self.seen, self.service = client, seen, service
        self.product = product
        self.log, self.pace, self.timeout = log, pace or Pace(), timeout
        self.done = Done(seen.environment_id, seen.service_id)
        self._mutated = False  # a volume or domain mutation, which may deploy by itself

    @property
    def environment(self) -> str:
        return self.seen.environment

    def _once(self, act: Callable[[], T], lookup: Callable[[], T | None], what: str) -> T:
        """Do once (create, start, commit, remove). When the outcome is unknown (5xx, timeout,
        dropped connection), wait one poll interval (Railway may still be at it) and look
        before sending it again."""
        for _ in range(3):
            try:
                return act()
            except AmbiguousError:
                self.pace.sleep(self.pace.interval)
                found = lookup()
                if found is not None:
                    return found
        raise RailwayError(f"could not {what}: Railway kept failing; run apply again")

    def _ids(self) -> dict[str, str]:
        assert self.done.environment_id is not None and self.done.service_id is not None
        return {"serviceId": self.done.service_id, "environmentId": self.done.environment_id}

    def run(self, steps: list[Step]) -> Done:
        for step in steps:
            self._one(step)
            self._mutated |= may_deploy(step)
        return self.done

    def _one(self, step: Step) -> None:
        match step:
            case Refuse():
                raise Refused(step.reason)
            case CreateEnvironment():
                self.done.environment_id = self._create_environment()
            case CreateService():
                self.done.service_id = self._create_service()
            case KnownService():
                self.done.service_id = step.service_id
            case SetRegistryCredentials() | CommitConfig():
                self._configure(step)
            case CreateVolume():
                self.done.volumes[step.mount_path] = self._create_volume(step)
            case MoveVolume():
                self.done.volumes[step.mount_path] = self._move_volume(step)
            case AddCustomDomain():
                self.done.custom_domains[step.domain] = self._add_custom_domain(step.domain)
            case AddServiceDomain():
                self.done.service_domain = self._add_service_domain()
            case Deploy() | Redeploy() | Await() | RailwayDeploys():
                self._deploy(step)
            case Notice():
                self.log(step.text)
            case _:
                self._remove(step)

    def _deploy(self, step: Deploy | Redeploy | Await | RailwayDeploys) -> None:
        """Start (or wait for) the one deployment of this run. One whose outcome is unknown is
        looked up (a deployment newer than the one apply saw), never started twice."""
        if isinstance(step, RailwayDeploys):
            self._railway_deploys()
            return
        running = self.seen.running
        adopted = None
        if isinstance(step, Deploy | Redeploy) and step.adoptable:
            code = step.commit if isinstance(step, Deploy) else running.commit if running else None
            adopted = self._railways(wanted=code, any_code=False)
        if isinstance(step, Deploy | Redeploy) and adopted is None:
            self._railways_first()
        match step:
            case Deploy() | Redeploy() if adopted is not None:
                found = adopted
                self.log(
                    f"Railway deployed {self.service} by itself after the volume or domain "
                    f"change ({found}, the same code): waiting for it instead of another"
                )
            case Deploy():
                variables = {**self._ids(), "commitSha": step.commit}
                found = self._start(step.reason, docs.DEPLOY, variables)
            case Redeploy():
                found = self._start(step.reason, docs.REDEPLOY, {"id": step.deployment_id})
            case Await():
                found = step.deployment.id
                self.log(
                    f"waiting for deployment {found} ({step.deployment.status}), started before "
                    "this run"
                )
        self.done.deployment_id = found
        self._await(found)

    def _railways_first(self) -> None:
        """A deployment Railway started by itself after this run's volume or domain mutation
        redeploys the old settings: apply's own, which carries the new ones, goes live after it
        ends, never before (the one that goes live last is the one that runs)."""
        if not self._mutated or self.seen.running is None:  # a redeploy of nothing: none
            return
        listing = self.client.query(
            docs.DEPLOYMENTS, {"input": {"projectId": self.seen.project_id, **self._ids()}}
        )["deployments"]["edges"]
        latest = self.seen.latest
        started = sorted(
            (edge["node"] for edge in listing if edge["node"]["status"] not in (*ENDED, *RUNNING)),
            key=lambda d: datetime.fromisoformat(d["createdAt"]),
        )
        for found in started:
            if latest and datetime.fromisoformat(found["createdAt"]) <= latest.created_at:
                continue  # not after this run's mutation
            self.log(
                f"Railway deployed {self.service} by itself after the volume or domain change "
                f"({found['id']}, the settings it ran with): waiting for it before apply's own"
            )
            self._await(str(found["id"]))

    def _railway_deploys(self) -> None:
        found = self._railways(wanted=None, any_code=True)
        if found is not None:
            self.log(f"Railway deployed {self.service} by itself after the change: {found}")
            self.done.deployment_id = found
            self._await(found)

    def _railways(self, wanted: str | None, *, any_code: bool) -> str | None:
        """A deployment Railway started by itself after this run's volume or domain mutation
        (newer than the latest apply saw, and not apply's), when it builds `wanted` (the commit
        Railway says it builds, `meta.commitHash`) or `any_code`."""
        if not self._mutated:
            return None
        latest = self._observe().latest
        before = self.seen.latest.id if self.seen.latest else None
        if latest is None or latest.id == before or latest.status in ENDED:
            return None
        found = self.client.query(docs.DEPLOYMENT_STATUS, {"id": latest.id})["deployment"]
        meta = found.get("meta")
        built = meta.get("commitHash") if isinstance(meta, dict) else None
        return latest.id if any_code or built == wanted else None

    def _start(self, reason: str, document: str, variables: dict[str, Any]) -> str:
        self.log(reason)
        before = self.seen.latest.id if self.seen.latest else None

        def start() -> str:
            data = self.client.mutate(document, variables, idempotent=False)
            found = data.get("serviceInstanceDeployV2") or data["deploymentRedeploy"]["id"]
            return str(found)

        def lookup() -> str | None:
            latest = self._observe().latest
            return latest.id if latest and latest.id != before else None

        deployment_id = self._once(start, lookup, f"start a deployment of {self.service}")
        self.log(f"deployment of {self.service} to {self.environment}: {deployment_id}")
        return deployment_id

    def _remove(
        self,
        step: DetachVolume
        | RemoveCustomDomain
        | RemoveServiceDomain
        | RemoveDeployment
        | DeleteService
        | Rollback,
    ) -> None:
        match step:
            case DetachVolume():
                volume = step.volume
                self.client.mutate(
                    docs.VOLUME_INSTANCE_UPDATE,
                    {
                        "volumeId": volume.volume_id,
                        "environmentId": volume.environment_id,
                        "input": {"serviceId": None},
                    },
                )
                self.log(
                    f"kept volume {volume.volume_id} (was at {volume.mount_path} in "
                    f"{volume.environment}): detached from {self.service}; its data stays until "
                    "a person deletes it"
                )
            case RemoveCustomDomain() | RemoveServiceDomain() if step.in_patch:
                self.log(f"removed domain {step.ref.domain}, in the committed patch")
            case RemoveCustomDomain():
                self._remove_domain(docs.CUSTOM_DOMAIN_DELETE, "customDomains", step.ref)
            case RemoveServiceDomain():
                self._remove_domain(docs.SERVICE_DOMAIN_DELETE, "serviceDomains", step.ref)
            case RemoveDeployment():
                self.client.mutate(docs.DEPLOYMENT_REMOVE, {"id": step.deployment_id})
                # One Railway started after removing the domains (docs/railway.md) goes too.
                started = self._railways(wanted=None, any_code=True)
                if started is not None and started != step.deployment_id:
                    self.client.mutate(docs.DEPLOYMENT_REMOVE, {"id": started})
            case DeleteService():
                assert self.done.service_id is not None
                self.client.mutate(
                    docs.SERVICE_DELETE,
                    {"id": self.done.service_id, "environmentId": self.done.environment_id},
                )
                self.log(f"deleted service {step.name}")
            case Rollback():
                self.client.mutate(docs.DEPLOYMENT_ROLLBACK, {"id": step.deployment_id})

    # --- waiting ----------------------------------------------------------------------------
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
        """Until the deployment runs, ends, or the spec's timeout passes. One that waits for a
        person or for CI is reported at once: waiting for it is not apply's to do. QUEUED, the
        first status of a deployment just started, is waited for."""
        where = f"deployment {deployment_id} of {self.service} in {self.environment}"
        seen: list[str] = []
        waiting = ("NEEDS_APPROVAL", "WAITING")

        def fetch() -> dict[str, Any]:
            found: dict[str, Any] = self.client.query(
                docs.DEPLOYMENT_STATUS, {"id": deployment_id}
            )["deployment"]
            if found["status"] not in seen[-1:]:  # progress: one line per status
                seen.append(found["status"])
                self.log(f"{where}: {found['status']}")
            return found

        last, ended = self._wait_for(fetch, lambda d: d["status"] in (*RUNNING, *ENDED, *waiting))
        status = last["status"]
        if not ended:
            raise DeployFailed(
                f"{where} is still {status} after {self.timeout} s "
                "(service.deployTimeout); run apply again to go on waiting, it does not deploy "
                "twice"
            )
        if status in waiting:
            raise DeployFailed(
                f"{where} is {status}: it waits for someone (an approval in Railway's dashboard, "
                "or the repository's CI); apply does not wait for it: run apply again once it "
                "has run, it does not deploy twice"
            )
        if status not in RUNNING:
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

    # --- config ------------------------------------------------------------------------------
    def _message(self) -> str:
        """Railway's commit message: whose service, for people reading its history."""
        return f"{self.product}: {self.service}" if self.product else self.service

    def _configure(self, step: SetRegistryCredentials | CommitConfig) -> None:
        """The instance's settings: its registry login, or its environment patch."""
        if isinstance(step, CommitConfig):
            self._commit(step)
            return
        # The same login sent twice is harmless: retried like any idempotent request.
        self.log(
            f"registry login of {self.service} ({step.username}): set in every environment of "
            "the project that is not a fork (serviceInstanceUpdate)"
        )
        login = {"username": step.username, "password": step.password}
        self.client.mutate(
            docs.REGISTRY_CREDENTIALS, {**self._ids(), "input": {"registryCredentials": login}}
        )

    def _commit(self, step: CommitConfig) -> None:
        """Stage the service's entry and commit it without deploying; wait until it applies.
        A commit whose outcome is unknown is looked up (is anything still staged?), never sent
        twice."""
        env_id = self._ids()["environmentId"]
        patch = {"services": {self._ids()["serviceId"]: dict(step.entry)}}
        self.client.mutate(
            docs.ENVIRONMENT_STAGE_CHANGES, {"environmentId": env_id, "input": patch}
        )

        sent = [0]

        def commit() -> str:
            sent[0] += 1
            try:
                workflow: str = self.client.mutate(
                    docs.ENVIRONMENT_PATCH_COMMIT_STAGED,
                    {"environmentId": env_id, "commitMessage": self._message()},
                    idempotent=False,
                )["environmentPatchCommitStaged"]
            except RailwayRejected:
                # Sent again after a lost answer: the first may have committed it meanwhile.
                if sent[0] > 1 and committed() == "":
                    return ""
                raise
            return workflow

        def staged() -> dict[str, Any]:
            found: dict[str, Any] = self.client.query(
                docs.ENVIRONMENT_STAGED_CHANGES, {"environmentId": env_id}
            )["environmentStagedChanges"]
            return found

        def committed() -> str | None:  # "": committed, its workflow unknown
            found = staged()
            return None if found["status"] == "STAGED" and found["id"] != "<empty>" else ""

        workflow = self._once(commit, committed, f"commit the settings of {self.service}")
        polls = [0]

        def fetch() -> dict[str, Any]:
            polls[0] += 1
            if workflow:
                found: dict[str, Any] = self.client.query(
                    docs.WORKFLOW_STATUS, {"workflowId": workflow}
                )["workflowStatus"]
                if found["status"] != "NotFound" or polls[0] <= _NOT_FOUND_POLLS:
                    return found
            # Railway's CLI, when the workflow is not found: the staged patch says. It has no
            # FAILED status: a failed apply goes back to STAGED with lastAppliedError.
            patch = staged()
            if patch["status"] == "COMMITTED" or patch["id"] == "<empty>":
                return {"status": "Complete"}
            if patch.get("lastAppliedError"):
                return {"status": "Error", "error": patch["lastAppliedError"]}
            return {"status": patch["status"]}

        last, _ = self._wait_for(fetch, lambda w: w["status"] in ("Complete", "Error"))
        if last["status"] != "Complete":
            error = last.get("error")
            reason = (
                one_line(self.client.redact(error))
                if isinstance(error, str) and error
                else f"still {last['status']} after {self.timeout} s"
            )
            raise RailwayError(
                f"Railway did not apply the settings of {self.service} in {self.environment} "
                f"({reason}); check them in Railway's dashboard and run apply again"
            )
        self.log(
            f"committed to {self.service} in {self.environment}, without deploying: "
            + "; ".join(step.differences)
        )

    # --- creations (looked up when the outcome is unknown) ----------------------------------
    def _observe(self) -> Observation:
        seen = self.seen
        return observe(
            self.client,
            seen.project_id,
            seen.environment,
            service_name=self.service if self.done.service_id is None else None,
            service_id=self.done.service_id,
        )

    def _create_environment(self) -> str:
        name = self.environment

        def create() -> str:
            data = self.client.mutate(
                docs.ENVIRONMENT_CREATE,
                {
                    "input": {
                        "projectId": self.seen.project_id,
                        "name": name,
                        "skipInitialDeploys": True,
                    }
                },
                idempotent=False,
            )
            env_id: str = data["environmentCreate"]["id"]
            return env_id

        env_id = self._once(
            create, lambda: self._observe().environment_id, f"create environment {name}"
        )
        self.log(f"created environment {name}: {env_id}")
        return env_id

    def _create_service(self) -> str:
        name = self.service
        spec_input = {"projectId": self.seen.project_id, "name": name}

        def create() -> str:
            data = self.client.mutate(docs.SERVICE_CREATE, {"input": spec_input}, idempotent=False)
            service_id: str = data["serviceCreate"]["id"]
            return service_id

        service_id = self._once(
            create, lambda: self._observe().service_id, f"create service {name}"
        )
        self.log(f"created service {name}: {service_id}")
        return service_id

    def _create_volume(self, step: CreateVolume) -> VolumeRef:
        data: dict[str, Any] = {
            "projectId": self.seen.project_id,
            **self._ids(),
            "mountPath": step.mount_path,
        }
        if step.region is not None:
            data["region"] = step.region

        def create() -> str:
            volume = self.client.mutate(docs.VOLUME_CREATE, {"input": data}, idempotent=False)
            volume_id: str = volume["volumeCreate"]["id"]
            return volume_id

        def lookup() -> str | None:
            found = [
                v.volume_id
                for v in self._observe().volumes
                if v.environment_id == data["environmentId"] and v.mount_path == step.mount_path
            ]
            return found[0] if found else None

        volume_id = self._once(create, lookup, f"create the volume at {step.mount_path}")
        self.log(f"created volume {volume_id} at {step.mount_path}")
        return VolumeRef(id=volume_id, mount_path=step.mount_path)

    def _move_volume(self, step: MoveVolume) -> VolumeRef:
        volume = step.volume
        moved = f"moved volume {volume.volume_id} from {volume.mount_path} to {step.mount_path}"
        if step.in_patch:
            self.log(f"{moved}, in the committed patch")
            return VolumeRef(id=volume.volume_id, mount_path=step.mount_path)
        self.client.mutate(
            docs.VOLUME_INSTANCE_UPDATE,
            {
                "volumeId": volume.volume_id,
                "environmentId": volume.environment_id,
                # With the service: left out, Railway disconnects the volume.
                "input": {"mountPath": step.mount_path, "serviceId": self._ids()["serviceId"]},
            },
        )
        self.log(moved)
        return VolumeRef(id=volume.volume_id, mount_path=step.mount_path)

    def _domains_now(self) -> dict[str, Any]:
        found: dict[str, Any] = self.client.query(
            docs.DOMAINS, {"projectId": self.seen.project_id, **self._ids()}
        )["domains"]
        return found

    def _add_custom_domain(self, name: str) -> DomainRef:
        def create() -> DomainRef:
            data = self.client.mutate(
                docs.CUSTOM_DOMAIN_CREATE,
                {"input": {"projectId": self.seen.project_id, **self._ids(), "domain": name}},
                idempotent=False,
            )
            return DomainRef(**data["customDomainCreate"])

        def lookup() -> DomainRef | None:
            found = [d for d in self._domains_now()["customDomains"] if d["domain"] == name]
            return DomainRef(**found[0]) if found else None

        ref = self._once(create, lookup, f"add domain {name}")
        self.log(f"added domain {name}")
        return ref

    def _remove_domain(self, document: str, kind: str, ref: DomainRef) -> None:
        """Remove once: a delete whose answer was lost is looked up, not sent again (sent
        again, Railway answers that it is not found)."""

        def delete() -> bool:
            self.client.mutate(document, {"id": ref.id}, idempotent=False)
            return True

        def gone() -> bool | None:
            return None if any(d["id"] == ref.id for d in self._domains_now()[kind]) else True

        self._once(delete, gone, f"remove domain {ref.domain}")
        self.log(f"removed domain {ref.domain}")

    def _add_service_domain(self) -> DomainRef:
        def create() -> DomainRef:
            data = self.client.mutate(
                docs.SERVICE_DOMAIN_CREATE, {"input": self._ids()}, idempotent=False
            )
            return DomainRef(**data["serviceDomainCreate"])

        def lookup() -> DomainRef | None:
            found = self._domains_now()["serviceDomains"]
            return DomainRef(**found[0]) if found else None

        ref = self._once(create, lookup, "add the service domain")
        self.log(f"added domain {ref.domain}")
        return ref
