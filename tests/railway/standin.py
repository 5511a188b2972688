"""A Railway GraphQL stand-in on 127.0.0.1 for tests and the benchmark.

It validates every document against Railway's real schema, executes it with graphql-core over an
in-memory model, counts requests and mutations, and injects faults on request (429 +
Retry-After, 5xx, slow answers, dropped connections, a hang after a chosen mutation has been
applied, answers of any shape). It models Railway's documented behaviour, not what our client
sends; each modelled behaviour names its source where it is implemented:
- a committed environment patch deploys the services it changes, unless it was staged and
  committed with skipDeploys; a new service instance needs `isCreated` in its patch;
- a redeploy keeps the code and the build/deploy settings of the deployment it copies, with
  the service's variables of today; serviceInstanceDeployV2 builds the source (at `commitSha`)
  with the current settings and variables; a rollback restores the image and the variables;
- variableCollectionUpsert deploys unless skipDeploys; serviceInstanceUpdate with an
  environment id changes every environment (none is a fork here); a project token reads and
  changes only its own environment;
- a new running deployment replaces the one before; a failed one replaces nothing;
- a patch moves a service's volume (`volumeMounts`) and removes its domains (`networking`,
  set to null), and the environment's config lists both by id;
- undocumented, so the hardest reading: a volume or domain mutation redeploys what runs;
- an image in `private_images` is pulled only with the login set on the instance
  (registryCredentials, write-only, set in every environment); a changed login redeploys what
  runs (undocumented: the hardest reading); an image named by digest fails at the pull unless
  `pulls_by_digest` (undocumented: the hardest reading, docs/railway.md "Pull by digest").
Where Railway's material is silent it takes the reading hardest on the converge, and says so.
Deployments go through the statuses a `Rollout` lists, one step per `deployment` read.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    execute,
    parse,
    validate,
)
from graphql.error import GraphQLError

PROJECT_ID = "proj-1"
ACCOUNT_TOKEN = "account-token-for-tests"
PROJECT_TOKEN = "project-token-for-tests"

# ServiceInstanceUpdateInput fields and where they live in an environment's config.
_INSTANCE_INPUT = {
    "healthcheckPath": ("deploy", "healthcheckPath"),
    "healthcheckTimeout": ("deploy", "healthcheckTimeout"),
    "startCommand": ("deploy", "startCommand"),
    "numReplicas": ("deploy", "numReplicas"),
    "restartPolicyType": ("deploy", "restartPolicyType"),
    "rootDirectory": ("source", "rootDirectory"),
}
_DEFAULT_REGION = "us-west2"
# DeploymentStatus values (schema.graphql:683) of a deployment not yet online, not ended.
IN_FLIGHT = ("INITIALIZING", "QUEUED", "WAITING", "NEEDS_APPROVAL", "BUILDING", "DEPLOYING")


@dataclass
class Rollout:
    """The statuses a deployment shows, the next one at each `deployment` read (the last one
    stays), and its logs."""

    statuses: tuple[str, ...] = ("SUCCESS",)
    build_log: tuple[str, ...] = ()
    deploy_log: tuple[str, ...] = ()


@dataclass
class Answer:
    """A raw HTTP answer, sent instead of executing the request (error shapes of every kind)."""

    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass
class Fault:
    """kind: 429 | 500 | slow | drop | drop_after | hang_after | answer. `field` limits it to
    requests whose top-level field has that name (None: any request). Fires `times` times."""

    kind: str
    field: str | None = None
    times: int = 1
    retry_after: str | None = "1"
    delay: float = 1.0
    answer: Answer | None = None  # kind "answer": sent as it is


@dataclass
class World:
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    instances: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # Each environment's config: {"services": {service id: {"source": ..., "deploy": ...}}}
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    staged: dict[str, int] = field(default_factory=dict)  # changes a person staged, per environment
    staged_patches: dict[str, dict[str, Any]] = field(default_factory=dict)  # by the API
    workflows: dict[str, dict[str, Any]] = field(default_factory=dict)  # a commit's workflow
    variables: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    custom_domains: dict[str, dict[str, Any]] = field(default_factory=dict)
    service_domains: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    volume_instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    rollbacks: list[str] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)
    # The commit a deployment from the branch gets: what a push moved the branch to. Each
    # deployment records its `code`; a rollback and a redeploy keep the code they copy.
    heads: dict[str, str] = field(default_factory=dict)  # service id -> commit
    redeploys: list[str] = field(default_factory=list)
    # The login each instance pulls its image with (registryCredentials), write-only: Railway's
    # ServiceInstance has no field that shows it back.
    registry_logins: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)


def load_schema(path: Path) -> GraphQLSchema:
    # assume_valid: Railway's schema has a deprecated Team.id implementing Node.id.
    return build_schema(path.read_text(), assume_valid=True)


class RailwayStandIn:
    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self.world = World()
        self.lock = threading.RLock()
        self.faults: list[Fault] = []
        self.requests = 0
        self.mutations: list[str] = []
        self.queries: list[str] = []
        self.rejected: list[str] = []
        self.auth_headers: list[str] = []
        self.token_environment = "staging"  # the environment PROJECT_TOKEN belongs to
        self.rollouts: list[Rollout] = []  # for the next deployments; then immediate SUCCESS
        # For the next commits' workflows: the statuses workflowStatus answers, one per read.
        self.workflow_statuses: list[tuple[str, ...]] = []
        self.snapshot_shows: Callable[[str], str] = lambda value: value
        # Each service's entry of an environment's config lists its `volumeMounts` (by volume
        # id: {mountPath}) and `networking` (serviceDomains, customDomains by id: {port}), as
        # Railway's CLI reads them (railwayapp/cli src/controllers/config/environment.rs,
        # ServiceInstance, ServiceNetworking). False: a Railway that leaves them out.
        self.config_lists_mounts_and_domains = True
        # Images only a login pulls (a private GHCR package): repository -> (username, password).
        self.private_images: dict[str, tuple[str, str]] = {}
        # Whether Railway pulls an image named by digest (`name@sha256:...`): nothing of
        # Railway's documents it (its docs name images `name[:tag]` only: railwayapp/docs
        # content/docs/services.md, "Deploying a public Docker image"; content/docs/builds/
        # private-registries.md, "Image format"), so by default the hardest reading: the patch
        # takes it, and the deployment fails when Railway pulls it. A test that relies on the
        # other reading sets it, and says so.
        self.pulls_by_digest = False
        self.applied = threading.Event()  # set when a hang_after fault has applied its mutation
        self.release = threading.Event()
        self._ids = itertools.count(1)
        self._clock = datetime(2026, 4, 1, tzinfo=UTC)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/graphql/v2"

    def start(self) -> RailwayStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                standin._handle(self)

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def add_environment(self, name: str) -> str:
        with self.lock:
            env_id = self._new_id("env")
            self.world.environments[env_id] = {"id": env_id, "name": name}
            self.world.configs[env_id] = {"services": {}}
            return env_id

    def service_config(self, env_id: str, service_id: str) -> dict[str, Any]:
        """The service's entry in the environment's config (what the dashboard shows)."""
        services: dict[str, Any] = self.world.configs.get(env_id, {}).get("services", {})
        return copy.deepcopy(services.get(service_id, {}))

    def instance(self, env_id: str, service_id: str) -> dict[str, Any]:
        """The service instance as the API shows it, settings included."""
        with self.lock:
            return self._instance_view((env_id, service_id))

    # --- HTTP ------------------------------------------------------------------------------
    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length", "0"))
        body = json.loads(request.rfile.read(length) or b"{}")
        with self.lock:
            self.requests += 1
        authorized, scope = self._authorize(request)
        if not authorized:
            self._send(request, 401, {"errors": [{"message": "Not Authorized"}]})
            return
        try:
            document = parse(body["query"])
        except GraphQLError as error:
            self._reject(request, body, [error])
            return
        errors = validate(self.schema, document)
        if errors:
            self._reject(request, body, errors)
            return
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        fields = [s.name.value for s in operation.selection_set.selections]  # type: ignore[attr-defined]
        if scope is not None and not self._within(scope, fields, body.get("variables") or {}):
            self._send(request, 200, {"data": None, "errors": [{"message": "Not Authorized"}]})
            return
        fault = self._take_fault(fields)
        if fault is not None and fault.kind in ("429", "500", "slow", "drop", "answer"):
            self._pre_fault(request, fault)
            if fault.kind != "slow":
                return
        with self.lock:
            result = execute(
                self.schema,
                document,
                root_value=self._root(scope),
                variable_values=body.get("variables") or {},
            )
            if operation.operation.value == "mutation" and not result.errors:
                self.mutations.extend(fields)
            elif not result.errors:  # one entry per request, named as the document names it
                self.queries.append(operation.name.value if operation.name else fields[0])
        if fault is not None and fault.kind in ("drop_after", "hang_after"):
            if fault.kind == "hang_after":
                self.applied.set()
                self.release.wait(timeout=30)
            _drop(request)
            return
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [{"message": e.message} for e in result.errors]
        self._send(request, 200, payload)

    def _authorize(self, request: BaseHTTPRequestHandler) -> tuple[bool, str | None]:
        """Whether the token is known, and the environment it is limited to (a project token)."""
        if request.headers.get("Authorization") == f"Bearer {ACCOUNT_TOKEN}":
            self.auth_headers.append("Authorization")
            return True, None
        if request.headers.get("Project-Access-Token") == PROJECT_TOKEN:
            self.auth_headers.append("Project-Access-Token")
            return True, self._token_environment_id()
        return False, None

    def _token_environment_id(self) -> str | None:
        with self.lock:
            found = [
                e["id"]
                for e in self.world.environments.values()
                if e["name"] == self.token_environment
            ]
        return found[0] if found else None

    def _within(self, scope: str, fields: list[str], variables: dict[str, Any]) -> bool:
        """A project token reads and changes only its environment: not the project's other
        environments, not another environment's instances, no new environment."""
        if "environmentCreate" in fields:
            return False
        with self.lock:
            others = [e for e in self.world.environments if e != scope]
        if "project" in fields and others:
            return False
        return all(value == scope for value in _environment_ids(variables))

    @staticmethod
    def _send_raw(request: BaseHTTPRequestHandler, answer: Answer) -> None:
        try:
            request.send_response(answer.status)
            request.send_header("Content-Type", answer.content_type)
            request.send_header("Content-Length", str(len(answer.body)))
            request.end_headers()
            request.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _take_fault(self, fields: list[str]) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and (fault.field is None or fault.field in fields):
                    fault.times -= 1
                    return fault
        return None

    def _pre_fault(self, request: BaseHTTPRequestHandler, fault: Fault) -> None:
        if fault.kind == "429":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            self._send(request, 429, {"errors": [{"message": "rate limited"}]}, headers)
        elif fault.kind == "500":
            self._send(request, 500, {"errors": [{"message": "internal error"}]})
        elif fault.kind == "slow":
            time.sleep(fault.delay)
        elif fault.answer is not None:
            self._send_raw(request, fault.answer)
        else:
            _drop(request)

    def _reject(
        self, request: BaseHTTPRequestHandler, body: dict[str, Any], errors: list[GraphQLError]
    ) -> None:
        self.rejected.append(body.get("query", ""))
        self._send(request, 400, {"errors": [{"message": e.message} for e in errors]})

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler,
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(payload).encode()
        try:
            request.send_response(status)
            for name, value in (headers or {}).items():
                request.send_header(name, value)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # --- model -----------------------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    def _now(self) -> str:
        self._clock += timedelta(seconds=1)
        return self._clock.isoformat()

    def _instance(self, env_id: str, service_id: str) -> dict[str, Any]:
        return self.world.instances.setdefault((env_id, service_id), {"id": self._new_id("si")})

    def _latest(self, env_id: str, service_id: str) -> dict[str, Any] | None:
        found = [
            d
            for d in self.world.deployments.values()
            if d["environmentId"] == env_id and d["serviceId"] == service_id
        ]
        return max(found, key=lambda d: d["createdAt"]) if found else None

    def _instance_view(self, key: tuple[str, str]) -> dict[str, Any]:
        env_id, service_id = key
        latest = self._latest(env_id, service_id)
        config = self.service_config(env_id, service_id)
        source = config.get("source") or {}
        deploy = config.get("deploy") or {}
        regions = deploy.get("multiRegionConfig") or {}
        placed = {r: c["numReplicas"] for r, c in regions.items() if c}
        return {
            **self.world.instances[key],
            "serviceId": service_id,
            "serviceName": self.world.services[service_id]["name"],
            "source": {"repo": source.get("repo"), "image": source.get("image")}
            if source.get("repo") or source.get("image")
            else None,
            "rootDirectory": source.get("rootDirectory"),
            "healthcheckPath": deploy.get("healthcheckPath"),
            "healthcheckTimeout": deploy.get("healthcheckTimeout"),
            "startCommand": deploy.get("startCommand"),
            "restartPolicyType": deploy.get("restartPolicyType", "ON_FAILURE"),
            "numReplicas": sum(placed.values()) if placed else deploy.get("numReplicas", 1),
            "region": next(iter(placed), _DEFAULT_REGION),
            "latestDeployment": latest and {k: latest[k] for k in ("id", "status", "createdAt")},
            "domains": self._domains(env_id, service_id),
        }

    def _config_view(self, env_id: str) -> dict[str, Any]:
        """The environment's config as the API answers it."""
        config = copy.deepcopy(self.world.configs.get(env_id, {}))
        if not self.config_lists_mounts_and_domains:
            return config
        for service_id, entry in (config.get("services") or {}).items():
            volume = self._volume_of(env_id, service_id)
            if volume is not None:
                entry["volumeMounts"] = {volume["volumeId"]: {"mountPath": volume["mountPath"]}}
            found = self._domains(env_id, service_id)
            networking = {
                kind: {d["id"]: {"port": d.get("targetPort")} for d in found[kind]}
                for kind in ("serviceDomains", "customDomains")
                if found[kind]
            }
            if networking:
                entry["networking"] = networking
        return config

    def _carried(self, env_id: str, service_id: str, entry: dict[str, Any]) -> bool:
        """A patch's `volumeMounts` and `networking` removals: "volumeMounts.<volume-id>.
        mountPath"; "Remove domains via JSON config patch by setting the domain ID to null"
        (railwayapp/railway-skills plugins/railway/skills/use-railway/references/configure.md).
        Neither says what a patch naming a volume or domain that is not the service's does: the
        hardest reading refuses the whole patch. Whether changed."""
        w = self.world
        mounts = entry.get("volumeMounts") or {}
        networking = entry.get("networking") or {}
        instances = {v["volumeId"]: v for v in w.volume_instances.values()
                     if v["environmentId"] == env_id}  # fmt: skip
        for volume_id in mounts:
            instance = instances.get(volume_id)
            if instance is None or instance["serviceId"] not in (None, service_id):
                raise GraphQLError(f"Volume {volume_id} is not in this environment's service")
        tables = {"customDomains": w.custom_domains, "serviceDomains": w.service_domains}
        for kind, removed in networking.items():
            for domain_id, value in (removed or {}).items():
                row = tables[kind].get(domain_id)
                if row is None or (row["environmentId"], row["serviceId"]) != (env_id, service_id):
                    raise GraphQLError(f"Domain {domain_id} is not this service's")
                if value is not None:
                    raise GraphQLError("A patch adds no domain here")  # only removals modelled
        changed = False
        for volume_id, mount in mounts.items():
            instance = instances[volume_id]
            new = (service_id, (mount or {}).get("mountPath") or instance["mountPath"])
            changed |= (instance["serviceId"], instance["mountPath"]) != new
            instance["serviceId"], instance["mountPath"] = new
        for kind, removed in networking.items():
            for domain_id in removed or {}:
                tables[kind].pop(domain_id)
                changed = True
        return changed

    def _patch(self, env_id: str, patch: dict[str, Any]) -> None:
        self.world.configs[env_id] = _merged(self.world.configs.get(env_id, {}), patch)

    def _domains(self, env_id: str, service_id: str) -> dict[str, list[dict[str, Any]]]:
        def pick(table: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
            return [
                d
                for d in table.values()
                if d["environmentId"] == env_id and d["serviceId"] == service_id
            ]

        return {
            "customDomains": pick(self.world.custom_domains),
            "serviceDomains": pick(self.world.service_domains),
        }

    def _volume_of(self, env_id: str, service_id: str) -> dict[str, Any] | None:
        found = [
            v
            for v in self.world.volume_instances.values()
            if v["environmentId"] == env_id and v["serviceId"] == service_id
        ]
        return found[0] if found else None

    def _deploy(
        self,
        env_id: str,
        service_id: str,
        *,
        code: str,
        manifest: dict[str, Any],
        meta: dict[str, Any] | None = None,
        variables: dict[str, str] | None = None,
        rollback_of: str | None = None,
    ) -> str:
        """A new deployment of `code` built with `manifest` (its build/deploy settings)."""
        rollout = self.rollouts.pop(0) if self.rollouts else Rollout()
        image = (meta or {}).get("image")
        refused = self._pull_refused(env_id, service_id, image)
        if isinstance(image, str) and "@sha256:" in image and not self.pulls_by_digest:
            refused = f"failed to pull {image}: a reference by digest (undocumented)"
        if refused:
            rollout = Rollout(statuses=("FAILED",), build_log=(refused,))
        deployment_id = self._new_id("dep")
        current = self.world.variables.get((env_id, service_id), {})
        self.world.deployments[deployment_id] = {
            "id": deployment_id,
            "environmentId": env_id,
            "serviceId": service_id,
            "status": rollout.statuses[0],
            "createdAt": self._now(),
            "canRollback": True,
            "variables": dict(current if variables is None else variables),
            "mounts": [v["mountPath"] for v in [self._volume_of(env_id, service_id)] if v],
            "meta": {**(meta or {}), "serviceManifest": copy.deepcopy(manifest)},
            "rollbackOf": rollback_of,
            "code": code,
            "rollout": rollout,
            "reads": 0,
        }
        self._settle(deployment_id)
        return deployment_id

    def _pull_refused(self, env_id: str, service_id: str, image: object) -> str | None:
        """Why the registry refuses to give Railway `image`, if it does. A private image needs
        the login set on the instance ("Private Registries": Railway decrypts the credentials
        "at deployment time when pulling your image", railwayapp/docs content/docs/builds/
        private-registries.md); without it the deployment fails, and the one before it runs on
        ("Singleton deploys")."""
        if not isinstance(image, str):
            return None
        repository = image.split("@", 1)[0].rsplit(":", 1)[0]
        wanted = self.private_images.get(repository)
        if wanted is None or self.world.registry_logins.get((env_id, service_id)) == wanted:
            return None
        return f"pull access denied for {repository}: unauthorized"

    def deploy_source(self, env_id: str, service_id: str, commit: str | None = None) -> str:
        """A build of the instance's source with its current settings and variables: the
        image, or the repository at `commit` (else the branch's head, `heads`). The commit goes
        in `meta.commitHash` (DeploymentMeta is untyped in the schema; the key is what Railway
        answers in practice, not documented)."""
        config = self.service_config(env_id, service_id)
        source = config.get("source") or {}
        # An image source runs the image it names, set by a patch's `source.image` ("Change
        # Docker Image", railwayapp/railway-skills skills/reference/environment-config.md).
        if source.get("image"):
            code, meta = source["image"], {"image": source["image"]}
        elif source.get("repo"):
            code = commit or self.world.heads.get(service_id, "head")
            meta = {"commitHash": code, "branch": source.get("branch")}
        else:
            # Undocumented for a service connected to no repository or image: refused here.
            raise GraphQLError("Service instance has no source to deploy")
        return self._deploy(env_id, service_id, code=code, manifest=config, meta=meta)

    def ship_image(self, env_id: str, service_id: str, image: str) -> str:
        """What railway-deploy-image.sh does: `source.image` committed without a deploy, then
        one deployment of it."""
        with self.lock:
            self._commit(
                env_id, {"services": {service_id: {"source": {"image": image}}}}, deploys=False
            )
            return self.deploy_source(env_id, service_id)

    def upload(self, env_id: str, service_id: str, code: str) -> str:
        """What a deploy workflow's `railway up` does: a build of the uploaded code with the
        service's current settings ("When a new deployment is triggered, Railway will look for
        any config files in your code and combine these values with the settings from the
        dashboard", docs.railway.com/config-as-code/reference)."""
        with self.lock:
            config = self.service_config(env_id, service_id)
            return self._deploy(env_id, service_id, code=code, manifest=config)

    def _copy(self, deployment_id: str, *, restore: bool) -> str:
        """A deployment with the code and the build/deploy settings of `deployment_id`: "the
        exact same code and build/deploy configuration" (a redeploy, docs.railway.com/guides/
        deployment-actions) with the service's variables of today ("Applying environment
        variable changes", docs.railway.com/cli/redeploy); a rollback ("Both the Docker image
        and custom variables are restored", same guide) also restores the variables."""
        old = self.world.deployments[deployment_id]
        key = (old["environmentId"], old["serviceId"])
        if restore:
            self.world.variables[key] = dict(old["variables"])
        return self._deploy(
            *key,
            code=old["code"],
            manifest=old["meta"]["serviceManifest"],
            meta={k: v for k, v in old["meta"].items() if k != "serviceManifest"},
            rollback_of=deployment_id if restore else None,
        )

    def _commit(self, env_id: str, patch: dict[str, Any], *, deploys: bool) -> None:
        """Apply a committed patch to one environment. "Clicking Deploy will deploy all of the
        changes at once. Any services that are affected will be redeployed" (railwayapp/docs
        content/docs/deployments/staged-changes.md); `deploys` is False only for
        environmentPatchCommitStaged(skipDeploys: true), "Skip deploys for services affected by
        this patch" (schema.graphql:1608). "isCreated: true is required for new service
        instances" (railwayapp/railway-skills skills/reference/environment-config.md): the entry
        of an instance that does not exist, without it, is ignored, silently (the hardest
        reading). A variable set to null is deleted (the same file, "Set to `null` to delete a
        variable")."""
        w = self.world
        for service_id, entry in (patch.get("services") or {}).items():
            if service_id not in w.services:
                raise GraphQLError(f"Service {service_id} not found")
            key = (env_id, service_id)
            if key not in w.instances:
                if not (entry or {}).get("isCreated"):
                    continue
                self._instance(*key)
                w.configs.setdefault(env_id, {}).setdefault("services", {})[service_id] = {}
            before = (self.service_config(*key), dict(w.variables.get(key, {})))
            carried = self._carried(env_id, service_id, entry or {})
            settings = {k: v for k, v in (entry or {}).items() if k in ("source", "deploy")}
            self._patch(env_id, {"services": {service_id: settings}})
            variables = w.variables.setdefault(key, {})
            for name, value in ((entry or {}).get("variables") or {}).items():
                if value is None:
                    variables.pop(name, None)
                else:
                    variables[name] = value["value"]
            changed = carried or before != (self.service_config(*key), dict(variables))
            if deploys and changed:
                self._deploy_changed(*key)

    def _deploy_changed(self, env_id: str, service_id: str) -> None:
        """Railway deploying a service it changed: its source when it has one, else the code
        its latest deployment runs, with the new settings."""
        source = self.service_config(env_id, service_id).get("source") or {}
        if source.get("repo") or source.get("image"):
            self.deploy_source(env_id, service_id)
            return
        latest = self._latest(env_id, service_id)
        if latest is not None:
            config = self.service_config(env_id, service_id)
            self._deploy(env_id, service_id, code=latest["code"], manifest=config)

    def _redeploy_running(self, env_id: str, service_id: str) -> None:
        """Whether a volume or domain mutation deploys the service is not documented (docs/
        railway.md, "Undocumented"); the hardest reading on the converge is that it does: here,
        a redeploy of what runs (its code and build/deploy settings, today's variables and
        volume), as the dashboard's Redeploy would make."""
        running = [
            d
            for d in self.world.deployments.values()
            if d["environmentId"] == env_id
            and d["serviceId"] == service_id
            and d["status"] in ("SUCCESS", "SLEEPING")
        ]
        if running:
            self._copy(max(running, key=lambda d: d["createdAt"])["id"], restore=False)

    def _advance(self, deployment_id: str) -> dict[str, Any]:
        """One `deployment` read: the next status of its rollout."""
        deployment = self.world.deployments[deployment_id]
        statuses = deployment["rollout"].statuses
        if deployment["status"] in statuses:  # not removed or rolled over meanwhile
            deployment["status"] = statuses[min(deployment["reads"], len(statuses) - 1)]
            deployment["reads"] += 1
            self._settle(deployment_id)
        return deployment

    def _settle(self, deployment_id: str) -> None:
        """Once a deployment runs, the one it replaces is removed; a failed one replaces none
        ("Railway maintains only one deploy per service", the old one removed once the new one
        is online: "Singleton deploys", https://docs.railway.com/reference/deployments)."""
        new = self.world.deployments[deployment_id]
        if new["status"] != "SUCCESS":
            return
        for old in self.world.deployments.values():
            if (
                old is not new
                and old["environmentId"] == new["environmentId"]
                and old["serviceId"] == new["serviceId"]
                and old["status"] == "SUCCESS"
            ):
                old["status"] = "REMOVED"

    def _root(self, scope: str | None) -> dict[str, Any]:
        w = self.world

        def connection(nodes: list[dict[str, Any]]) -> Any:
            return lambda _info, **_: {
                "pageInfo": {"hasNextPage": False},
                "edges": [{"node": n} for n in nodes],
            }

        def env_view(env: dict[str, Any]) -> dict[str, Any]:
            keys = [k for k in w.instances if k[0] == env["id"]]
            volumes = [v for v in w.volume_instances.values() if v["environmentId"] == env["id"]]
            return {
                **env,
                "config": self._config_view(env["id"]),
                "unmergedChangesCount": w.staged.get(env["id"], 0)
                + (1 if w.staged_patches.get(env["id"]) else 0),
                "serviceInstances": connection([self._instance_view(k) for k in keys]),
                "volumeInstances": connection(volumes),
            }

        def project_token(_info: Any) -> dict[str, Any]:
            if scope is None:
                raise GraphQLError("Project Token not found")
            return {
                "projectId": PROJECT_ID,
                "environmentId": scope,
                "environment": env_view(w.environments[scope]),
            }

        def project(_info: Any, id: str) -> dict[str, Any]:
            if id != PROJECT_ID:
                raise GraphQLError("Project not found")
            return {
                "id": PROJECT_ID,
                "services": connection(list(w.services.values())),
                "environments": connection([env_view(e) for e in w.environments.values()]),
            }

        def variables(_info: Any, environmentId: str, serviceId: str, **_: Any) -> dict[str, str]:
            return dict(w.variables.get((environmentId, serviceId), {}))

        def deployment(_info: Any, id: str) -> Any:
            if id not in w.deployments:
                raise GraphQLError("Deployment not found")
            return self._advance(id)

        def logs(kind: str) -> Any:
            def resolver(_info: Any, deploymentId: str, limit: int = 100, **_: Any) -> Any:
                lines = getattr(w.deployments[deploymentId]["rollout"], kind)
                return [{"message": line} for line in lines[-limit:]]

            return resolver

        def patch_commit(_info: Any, environmentId: str, patch: Any = None, **_: Any) -> str:
            # "Commit the provided patch to the environment": no skipDeploys in its signature
            # (schema.graphql:1601), so it deploys what it changes, as the staged-changes
            # guide's Deploy does.
            self._commit(environmentId, patch or {}, deploys=True)
            return self._new_id("patch")

        def stage_changes(
            _info: Any, environmentId: str, input: Any, merge: bool | None = None
        ) -> dict[str, Any]:
            # "Sets the staged patch for a single environment"; merge: "Merge the input patch
            # into the existing staged patch" (schema.graphql:1615-1621).
            current = w.staged_patches.get(environmentId, {}) if merge else {}
            w.staged_patches[environmentId] = _merged(current, input, keep_nulls=True)
            return {"id": self._new_id("patch"), "status": "STAGED"}

        def commit_staged(
            _info: Any, environmentId: str, skipDeploys: bool | None = None, **_: Any
        ) -> str:
            patch = w.staged_patches.pop(environmentId, None)
            if not patch:  # railwayapp/railway-skills skills/environment-apply/SKILL.md
                raise GraphQLError("No patch to apply")
            self._commit(environmentId, patch, deploys=not skipDeploys)
            # Returns a workflow id, which Railway's CLI waits for with workflowStatus
            # (railwayapp/cli src/controllers/staged_changes.rs, deploy_staged_changes).
            workflow_id = self._new_id("workflow")
            statuses = self.workflow_statuses.pop(0) if self.workflow_statuses else ("Complete",)
            w.workflows[workflow_id] = {"statuses": statuses, "reads": 0}
            return workflow_id

        def workflow_status(_info: Any, workflowId: str) -> dict[str, Any]:
            workflow = w.workflows.get(workflowId)
            if workflow is None:
                return {"status": "NotFound", "error": None}
            statuses = workflow["statuses"]
            status = statuses[min(workflow["reads"], len(statuses) - 1)]
            workflow["reads"] += 1
            return {"status": status, "error": "apply failed" if status == "Error" else None}

        def staged_changes(_info: Any, environmentId: str) -> dict[str, Any]:
            # "<empty>": the id Railway answers when nothing is staged (railwayapp/cli
            # src/controllers/staged_changes.rs, EMPTY_PATCH_ID).
            if w.staged_patches.get(environmentId):
                return {"id": "staged", "status": "STAGED", "lastAppliedError": None}
            return {"id": "<empty>", "status": "COMMITTED", "lastAppliedError": None}

        def deployment_snapshot(_info: Any, deploymentId: str) -> Any:
            # How a snapshot shows the values a deployment started with is undocumented (the
            # schema's `variables: EnvironmentVariables!`, schema.graphql:673): as sent, unless
            # a test has it masked or rendered otherwise (`snapshot_shows`).
            deployment = w.deployments.get(deploymentId)
            if deployment is None:
                return None
            shown = {k: self.snapshot_shows(v) for k, v in deployment["variables"].items()}
            return {"id": f"snap-{deploymentId}", **deployment, "variables": shown}

        def domains(_info: Any, environmentId: str, serviceId: str, **_: Any) -> Any:
            return self._domains(environmentId, serviceId)

        def deployments(_info: Any, input: dict[str, Any], **_: Any) -> Any:
            wanted = (input.get("status") or {}).get("in")
            found = [
                d
                for d in w.deployments.values()
                if d["environmentId"] == input["environmentId"]
                and d["serviceId"] == input["serviceId"]
                and (wanted is None or d["status"] in wanted)
            ]
            return {"edges": [{"node": d} for d in found]}

        def environment_create(_info: Any, input: dict[str, Any]) -> Any:
            env_id = self._new_id("env")
            w.environments[env_id] = {"id": env_id, "name": input["name"]}
            w.configs[env_id] = {"services": {}}
            return w.environments[env_id]

        def service_create(_info: Any, input: dict[str, Any]) -> Any:
            # Created "in all environments that are not forks" (schema.graphql:3929); each of
            # those instances is new, and a new instance needs `isCreated` in the patch that
            # configures it (railwayapp/railway-skills skills/service-create/SKILL.md, "Step 2"):
            # until then, the environment has none here.
            service_id = self._new_id("svc")
            w.services[service_id] = {"id": service_id, "name": input["name"]}
            return w.services[service_id]

        def service_delete(_info: Any, id: str, **_: Any) -> bool:
            if w.services.pop(id, None) is None:
                raise GraphQLError("Service not found")
            for table in (w.instances, w.variables):
                for key in [k for k in table if k[1] == id]:
                    del table[key]  # type: ignore[attr-defined]
            for config in w.configs.values():
                config.get("services", {}).pop(id, None)
            # Assume the worst of Railway: a volume still attached goes with the service.
            for rows in (
                w.custom_domains,
                w.service_domains,
                w.deployments,
                w.volume_instances,
            ):
                for key in [k for k, v in rows.items() if v["serviceId"] == id]:
                    del rows[key]
            return True

        def instance_update(
            _info: Any,
            serviceId: str,
            input: dict[str, Any],
            environmentId: str | None = None,
        ) -> bool:
            if serviceId not in w.services:
                raise GraphQLError("Service instance not found")
            # "If the environment is a fork, the service will only be updated in it. Otherwise it
            # will updated in all environments that are not forks" (schema.graphql:1887-1890).
            login = input.pop("registryCredentials", None)
            if login is not None:
                for env_id in w.environments:
                    w.registry_logins[(env_id, serviceId)] = (login["username"], login["password"])
                    # Whether a changed login deploys is undocumented; the hardest reading: it
                    # redeploys what runs, in every environment it changed.
                    self._redeploy_running(env_id, serviceId)
            settings: dict[str, Any] = {}
            for key, value in input.items():
                where = _INSTANCE_INPUT.get(key) or ("source", key)
                if key == "source":
                    settings.setdefault("source", {}).update(value or {})
                else:
                    settings.setdefault(where[0], {})[where[1]] = value
            for env_id in w.environments:
                self._patch(env_id, {"services": {serviceId: settings}})
            return True

        def variables_upsert(_info: Any, input: dict[str, Any]) -> bool:
            key = (input["environmentId"], input["serviceId"])
            current = {} if input.get("replace") else w.variables.get(key, {})
            w.variables[key] = {**current, **input["variables"]}
            # VariableCollectionUpsertInput.skipDeploys: "Skip deploys for affected services"
            # (schema.graphql:4808): without it, the service deploys.
            if not input.get("skipDeploys"):
                self._deploy_changed(*key)
            return True

        def variable_delete(_info: Any, input: dict[str, Any]) -> bool:
            key = (input["environmentId"], input["serviceId"])
            w.variables.get(key, {}).pop(input["name"], None)
            # VariableDeleteInput has no skipDeploys (schema.graphql:4813), unlike the upserts:
            # undocumented, so it deploys here, the reading hardest on the converge.
            self._deploy_changed(*key)
            return True

        def custom_domain_create(_info: Any, input: dict[str, Any]) -> Any:
            if any(d["domain"] == input["domain"] for d in w.custom_domains.values()):
                raise GraphQLError(f"Domain {input['domain']} is already in use")
            domain_id = self._new_id("cd")
            w.custom_domains[domain_id] = {
                "id": domain_id,
                "domain": input["domain"],
                "environmentId": input["environmentId"],
                "serviceId": input["serviceId"],
            }
            self._redeploy_running(input["environmentId"], input["serviceId"])
            return w.custom_domains[domain_id]

        def service_domain_create(_info: Any, input: dict[str, Any]) -> Any:
            domain_id = self._new_id("sd")
            name = w.services[input["serviceId"]]["name"]
            env = w.environments[input["environmentId"]]["name"]
            w.service_domains[domain_id] = {
                "id": domain_id,
                "domain": f"{name}-{env}-{domain_id}.up.railway.app",
                "environmentId": input["environmentId"],
                "serviceId": input["serviceId"],
            }
            self._redeploy_running(input["environmentId"], input["serviceId"])
            return w.service_domains[domain_id]

        def volume_create(_info: Any, input: dict[str, Any]) -> Any:
            service_id = input.get("serviceId")
            # Absent: every environment; null: none (VolumeCreateInput's documentation).
            env_ids = [input["environmentId"]] if "environmentId" in input else list(w.environments)
            env_ids = [e for e in env_ids if e is not None]
            for env_id in env_ids:
                if service_id is not None and self._volume_of(env_id, service_id):
                    raise GraphQLError("A service can only have a single volume")
            volume_id = self._new_id("vol")
            w.volumes[volume_id] = {"id": volume_id, "name": f"volume-{volume_id}"}
            for env_id in env_ids:
                instance_id = self._new_id("vi")
                w.volume_instances[instance_id] = {
                    "id": instance_id,
                    "volumeId": volume_id,
                    "environmentId": env_id,
                    "serviceId": service_id,
                    "mountPath": input["mountPath"],
                    "state": "READY",
                    "createdAt": self._now(),
                }
                if service_id is not None:
                    self._redeploy_running(env_id, service_id)
            return w.volumes[volume_id]

        def volume_instance_update(
            _info: Any, volumeId: str, input: dict[str, Any], environmentId: str | None = None
        ) -> bool:
            found = [
                v
                for v in w.volume_instances.values()
                if v["volumeId"] == volumeId and environmentId in (None, v["environmentId"])
            ]
            if not found:
                raise GraphQLError("Volume instance not found")
            for instance in found:
                if input.get("mountPath") is not None:
                    instance["mountPath"] = input["mountPath"]
                if input.get("state") is not None:
                    instance["state"] = input["state"]
                # "If not provided, the volume will be disconnected."
                was = instance["serviceId"]
                instance["serviceId"] = input.get("serviceId")
                for service_id in {was, instance["serviceId"]} - {None}:
                    if service_id in w.services:
                        self._redeploy_running(instance["environmentId"], service_id)
            return True

        def remove(table: dict[str, dict[str, Any]]) -> Any:
            def resolver(_info: Any, id: str) -> bool:
                row = table.pop(id, None)
                if row is None:
                    raise GraphQLError("Not found")
                self._redeploy_running(row["environmentId"], row["serviceId"])
                return True

            return resolver

        def deploy(
            _info: Any, serviceId: str, environmentId: str, commitSha: str | None = None
        ) -> str:
            # "Deploy a service instance. Returns a deployment ID" (schema.graphql:1876-1877).
            return self.deploy_source(environmentId, serviceId, commitSha)

        def deployment_remove(_info: Any, id: str) -> bool:
            w.deployments[id]["status"] = "REMOVED"
            return True

        def deployment_cancel(_info: Any, id: str) -> bool:
            # "deploymentCancel(id: String!): Boolean!" (schema.graphql:1548). What a cancelled
            # deployment shows is undocumented: here REMOVED, so it never goes live; one that is
            # no longer in flight cannot be cancelled (the hardest reading: a race is an error).
            deployment = w.deployments.get(id)
            if deployment is None:
                raise GraphQLError("Deployment not found")
            if deployment["status"] not in IN_FLIGHT:
                raise GraphQLError("Deployment cannot be cancelled")
            w.cancels.append(id)
            deployment["status"] = "REMOVED"
            return True

        def deployment_rollback(_info: Any, id: str) -> bool:
            w.rollbacks.append(id)
            self._copy(id, restore=True)
            return True

        def deployment_redeploy(_info: Any, id: str, **_: Any) -> dict[str, Any]:
            if id not in w.deployments:
                raise GraphQLError("Deployment not found")
            w.redeploys.append(id)
            return w.deployments[self._copy(id, restore=False)]

        return {
            "project": project,
            "variables": variables,
            "deploymentSnapshot": deployment_snapshot,
            "domains": domains,
            "deployments": deployments,
            "environmentCreate": environment_create,
            "serviceCreate": service_create,
            "serviceDelete": service_delete,
            "serviceInstanceUpdate": instance_update,
            "environmentPatchCommit": patch_commit,
            "environmentStageChanges": stage_changes,
            "environmentPatchCommitStaged": commit_staged,
            "workflowStatus": workflow_status,
            "environmentStagedChanges": staged_changes,
            "projectToken": project_token,
            "deployment": deployment,
            "buildLogs": logs("build_log"),
            "deploymentLogs": logs("deploy_log"),
            "variableCollectionUpsert": variables_upsert,
            "variableDelete": variable_delete,
            "customDomainCreate": custom_domain_create,
            "customDomainDelete": remove(w.custom_domains),
            "serviceDomainCreate": service_domain_create,
            "serviceDomainDelete": remove(w.service_domains),
            "volumeCreate": volume_create,
            "volumeInstanceUpdate": volume_instance_update,
            "serviceInstanceDeployV2": deploy,
            "deploymentRemove": deployment_remove,
            "deploymentRollback": deployment_rollback,
            "deploymentCancel": deployment_cancel,
            "deploymentRedeploy": deployment_redeploy,
        }


def _merged(
    config: dict[str, Any], patch: dict[str, Any], *, keep_nulls: bool = False
) -> dict[str, Any]:
    """`patch` merged into `config`: a null removes the key (Railway's patches), or, merging
    two patches, stays a null that will remove it."""
    merged = dict(config)
    for key, value in patch.items():
        if value is None and not keep_nulls:
            merged.pop(key, None)
        elif isinstance(value, dict):
            merged[key] = _merged(merged.get(key) or {}, value, keep_nulls=keep_nulls)
        else:
            merged[key] = value
    return merged


def _environment_ids(value: Any) -> list[Any]:
    """Every `environmentId` in a request's variables, at any depth."""
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k == "environmentId"]
        return found + [i for v in value.values() for i in _environment_ids(v)]
    if isinstance(value, list):
        return [i for v in value for i in _environment_ids(v)]
    return []


def _drop(request: BaseHTTPRequestHandler) -> None:
    request.close_connection = True
    with contextlib.suppress(OSError):
        request.connection.shutdown(socket.SHUT_RDWR)
