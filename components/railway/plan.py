"""Plan: from the spec, what Railway has (an Observation) and the state the last finished apply
printed, the steps that make Railway as the spec says. Pure: no request, no clock.

The rules it follows, each with its source in docs/railway.md ("What the converge relies on"):
- settings, source and variables of a service go in one environment patch, staged and committed
  with skipDeploys, then the service is deployed once, with everything in place; so do a moved
  volume's mount path and a domain's removal, where the environment's config lists the volume
  or the domain (elsewhere, and for a volume or a domain added, a mutation of its own);
- a repository service is deployed at the commit that runs now (serviceInstanceDeployV2
  commitSha), so a settings change runs the new settings and the code it ran before; only a new
  source, or a service where nothing runs, is deployed from the source's latest;
- a service whose code only its deploy workflow ships is redeployed (the same code and the same
  build/deploy settings, today's variables), and a settings change waits for that workflow;
- a deployment waiting for a person, for CI or in Railway's queue is reported at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from components.railway.client import RailwayError
from components.railway.observation import (
    ENDED,
    RUNNING,
    WAITING,
    Deployment,
    Observation,
    VolumeInstance,
)
from components.railway.spec import DomainRef, RepoSource, Spec, State, WorkflowSource

# Settings under `deploy` in Railway's environment config; region and replicas go together in
# `deploy.multiRegionConfig` (Railway's CLI, `railway scale`).
_DEPLOY_FIELDS = {
    "healthcheck_path": "healthcheckPath",
    "healthcheck_timeout": "healthcheckTimeout",
    "start_command": "startCommand",
    "cron_schedule": "cronSchedule",
    "restart_policy_type": "restartPolicyType",
}
_WAITING_FOR = {
    "NEEDS_APPROVAL": "waits for a person to approve it in Railway's dashboard",
    "WAITING": "waits for the repository's CI (Railway's Wait for CI)",
    "QUEUED": "waits in Railway's build queue",
}


class Refused(RailwayError):
    """apply will not change anything now; the message says what to do first."""


@dataclass(frozen=True)
class Refuse:
    """First when it comes: execute raises Refused before any change."""

    reason: str


@dataclass(frozen=True)
class CreateEnvironment:
    name: str


@dataclass(frozen=True)
class CreateService:
    name: str


@dataclass(frozen=True)
class KnownService:
    """The service apply made before, by the id its last run printed: a project token cannot
    find it by name while this environment has no instance of it."""

    service_id: str


@dataclass(frozen=True)
class CommitConfig:
    """Stage the service's entry of an environment patch and commit it without deploying.
    `entry` may hold variable values: it is sent, never shown; `differences` name what
    differs ("its deploy settings differ from the spec", "variable X is missing")."""

    entry: Mapping[str, Any]
    differences: tuple[str, ...]
    new_source: bool = False  # a new instance, or another repository, branch or image


@dataclass(frozen=True)
class SetRegistryCredentials:
    """serviceInstanceUpdate with `registryCredentials` (schema.graphql:4079): the login Railway
    pulls the private image with. Railway never shows it back (ServiceInstance has no such
    field), so the state keeps its fingerprint and the same login is never sent twice."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class CreateVolume:
    mount_path: str
    region: str | None = None


@dataclass(frozen=True)
class MoveVolume:
    """A volume apply made before, to the spec's new mount path: its data moves with it.
    `in_patch`: the move rides in the CommitConfig before it, no mutation of its own."""

    volume: VolumeInstance
    mount_path: str
    in_patch: bool = False


@dataclass(frozen=True)
class DetachVolume:
    volume: VolumeInstance


@dataclass(frozen=True)
class AddCustomDomain:
    domain: str


@dataclass(frozen=True)
class RemoveCustomDomain:
    ref: DomainRef
    in_patch: bool = False  # removed by the CommitConfig before it


@dataclass(frozen=True)
class AddServiceDomain:
    pass


@dataclass(frozen=True)
class RemoveServiceDomain:
    ref: DomainRef
    in_patch: bool = False


@dataclass(frozen=True)
class Deploy:
    """serviceInstanceDeployV2: a build of the source at `commit` (None: the source's latest)
    with the service's current settings and variables."""

    commit: str | None
    reason: str
    catch_up: bool = False  # for an earlier run that stopped before its deploy, not this one
    # A deployment of the same code with the settings that run would do (no build or deploy
    # setting changes): one Railway starts by itself after a volume or domain mutation is
    # waited for instead of starting a second (`RailwayDeploys`).
    adoptable: bool = False


@dataclass(frozen=True)
class Redeploy:
    """deploymentRedeploy: the same code and build/deploy settings, today's variables."""

    deployment_id: str
    reason: str
    catch_up: bool = False
    adoptable: bool = True


@dataclass(frozen=True)
class RailwayDeploys:
    """After a volume or domain mutation and no deployment of apply's own: whether Railway
    deploys on one is undocumented (docs/railway.md), so a deployment it started is waited for
    and recorded, as apply's own would be."""


@dataclass(frozen=True)
class Await:
    """A deployment in progress when apply started (an earlier run's): wait for it."""

    deployment: Deployment


@dataclass(frozen=True)
class RemoveDeployment:
    deployment_id: str


@dataclass(frozen=True)
class DeleteService:
    name: str


@dataclass(frozen=True)
class Rollback:
    deployment_id: str


@dataclass(frozen=True)
class Notice:
    """Something to say, on stderr; changes nothing."""

    text: str


Step = (
    Refuse
    | CreateEnvironment
    | CreateService
    | KnownService
    | SetRegistryCredentials
    | CommitConfig
    | CreateVolume
    | MoveVolume
    | DetachVolume
    | AddCustomDomain
    | RemoveCustomDomain
    | AddServiceDomain
    | RemoveServiceDomain
    | Deploy
    | Redeploy
    | Await
    | RailwayDeploys
    | RemoveDeployment
    | DeleteService
    | Rollback
    | Notice
)


_MUTATIONS = (
    SetRegistryCredentials,
    CreateVolume,
    MoveVolume,
    DetachVolume,
    AddCustomDomain,
    RemoveCustomDomain,
    AddServiceDomain,
    RemoveServiceDomain,
)


def may_deploy(step: Step) -> bool:
    """A volume, domain or registry login mutation, which may deploy the service by itself
    (undocumented: docs/railway.md). A change that rides in the environment patch sends none."""
    return isinstance(step, _MUTATIONS) and not getattr(step, "in_patch", False)


def _listed(seen: Observation, *path: str) -> Mapping[str, Any]:
    """A section of the service's entry of the environment's config, keyed by id."""
    found: Any = seen.config or {}
    for key in path:
        found = found.get(key) if isinstance(found, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def _carried(steps: list[Step], seen: Observation) -> list[Step]:
    """`steps`, each move of a volume and removal of a domain that the environment patch can
    carry marked so: the service's entry of the environment's config lists the volume under
    `volumeMounts` or the domain under `networking`, keyed by the id a patch names it by
    ("volumeMounts.<volume-id>.mountPath"; "Remove domains via JSON config patch by setting the
    domain ID to null", railwayapp/railway-skills plugins/railway/skills/use-railway/references/
    configure.md; railwayapp/cli src/controllers/config/environment.rs, ServiceInstance and
    ServiceNetworking). Committed with skipDeploys, they deploy nothing by themselves."""
    mounts = _listed(seen, "volumeMounts")
    custom = _listed(seen, "networking", "customDomains")
    generated = _listed(seen, "networking", "serviceDomains")
    out: list[Step] = []
    for step in steps:
        match step:
            case MoveVolume() if step.volume.volume_id in mounts:
                out.append(replace(step, in_patch=True))
            case RemoveCustomDomain() if step.ref.id in custom:
                out.append(replace(step, in_patch=True))
            case RemoveServiceDomain() if step.ref.id in generated:
                out.append(replace(step, in_patch=True))
            case _:
                out.append(step)
    return out


def _carried_entry(steps: list[Step]) -> tuple[dict[str, Any], list[str]]:
    """The patch entry of the steps `_carried` marked, and what each changes."""
    entry: dict[str, Any] = {}
    differences: list[str] = []
    for step in steps:
        match step:
            case MoveVolume(in_patch=True):
                mount = {"mountPath": step.mount_path}
                entry.setdefault("volumeMounts", {})[step.volume.volume_id] = mount
                differences.append(
                    f"volume {step.volume.volume_id} moves from {step.volume.mount_path} to "
                    f"{step.mount_path}"
                )
            case RemoveCustomDomain(in_patch=True) | RemoveServiceDomain(in_patch=True):
                kind = "customDomains" if isinstance(step, RemoveCustomDomain) else "serviceDomains"
                networking = entry.setdefault("networking", {})
                networking.setdefault(kind, {})[step.ref.id] = None  # null removes it
                differences.append(f"domain {step.ref.domain} is no longer in the spec")
    return entry, differences


def _nulls(current: object) -> dict[str, None]:
    """Null for every key of `current`: in a patch, null removes the key."""
    return dict.fromkeys(current) if isinstance(current, dict) else {}


def desired_config(spec: Spec, current: Mapping[str, Any]) -> dict[str, Any]:
    """The service's `source` and `deploy` entries of an environment patch that give it the
    spec's source and settings. `current` is its entry now: what the spec's source replaces (a
    repo's branch for an image, other regions) is set to null."""
    have_source = current.get("source") or {}
    have_deploy = current.get("deploy") or {}
    source = spec.service.source
    if isinstance(source, RepoSource):
        drop = {k: None for k in ("image",) if have_source.get(k) is not None}
        wanted_source: dict[str, Any] = {**drop, "repo": source.repo, "branch": source.branch}
        if source.root_directory is not None:
            wanted_source["rootDirectory"] = source.root_directory
    elif isinstance(source, WorkflowSource):
        wanted_source = {
            k: None
            for k in ("repo", "branch", "image")
            if have_source.get(k) and not (k == "image" and source.ships(have_source[k]))
        }
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
    deploy.update(dict.fromkeys(settings.cleared))  # null removes the key (_contains: absent)
    if settings.region is not None:
        deploy["multiRegionConfig"] = {
            **_nulls(have_deploy.get("multiRegionConfig")),
            settings.region: {"numReplicas": settings.num_replicas or 1},
        }
    elif settings.num_replicas is not None:
        deploy["numReplicas"] = settings.num_replicas
    return {"source": wanted_source, **({"deploy": deploy} if deploy else {})}


def settings_digest(spec: Spec) -> str:
    """Names the source and settings of `spec` (no value of a variable): the state keeps it, so
    that a run that committed them and stopped before its deploy is deployed by the next."""
    wanted = json.dumps(desired_config(spec, {}), sort_keys=True)
    return hashlib.sha256(wanted.encode()).hexdigest()[:16]


def registry_fingerprint(spec: Spec) -> str | None:
    """What the state keeps of the spec's registry login: scrypt of the password, salted with
    the project, service and username, so that the state (stored unencrypted by Pulumi) never
    holds anything that gives the password back, even a weak one. None without a login, or
    without its password (a `check`, which is never given it)."""
    login = spec.service.registry_credentials
    if login is None or login.password is None:
        return None
    salt = f"{spec.project_id}/{spec.service.name}/{login.username}".encode()
    key = hashlib.scrypt(
        login.password.get_secret_value().encode(), salt=salt, n=2**14, r=8, p=1, dklen=16
    )
    return f"scrypt:{key.hex()}"


def _registry(spec: Spec, previous: State | None) -> list[Step]:
    """The login, when it is not the one the last apply gave (a new service, a rotated token,
    another username). Railway cannot be asked which login it holds; one removed from the
    dashboard is set again only when the stack's login changes."""
    login = spec.service.registry_credentials
    if login is None or login.password is None:
        return []
    if previous is not None and previous.registry_credentials == registry_fingerprint(spec):
        return []
    return [SetRegistryCredentials(login.username, login.password.get_secret_value())]


def _contains(have: object, want: object) -> bool:
    """Whether `have` already says all that `want` says (a null in `want`: absent in `have`)."""
    if isinstance(want, dict):
        found = have if isinstance(have, dict) else {}
        return all(_contains(found.get(key), value) for key, value in want.items())
    return have == want


def _new_source(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether `wanted` names another repository, branch or image than `current`."""
    have = current.get("source") or {}
    return any(
        have.get(key) != value
        for key, value in wanted["source"].items()
        if key in ("repo", "branch", "image")
    )


def _config(
    spec: Spec, seen: Observation, previous: State | None, carried: list[Step]
) -> CommitConfig | None:
    created = seen.config is None
    current = seen.config or {}
    wanted = desired_config(spec, current)
    entry: dict[str, Any] = {"isCreated": True} if created else {}
    differences = [f"no instance in environment {spec.environment}"] if created else []
    for key, value in wanted.items():
        if created or not _contains(current.get(key), value):
            entry[key] = value
            differences += [] if created else [f"its {key} settings differ from the spec"]
    have = seen.variables
    variables: dict[str, Any] = {}
    for name, value in sorted(spec.service.variables.items()):
        if have.get(name) != value:
            variables[name] = {"value": value}
            missing = "is missing" if name not in have else "differs from the spec"
            differences += [] if created else [f"variable {name} {missing}"]
    before = previous.variables if previous else ()
    for name in sorted(set(before) - set(spec.service.variables)):
        if name in have:  # only names apply managed: variables it never set are left alone
            variables[name] = None  # null deletes a variable
            differences.append(f"variable {name} is no longer in the spec")
    if variables:
        entry["variables"] = variables
    more, changes = _carried_entry(carried)
    entry.update(more)
    differences += changes
    if not entry:
        return None
    return CommitConfig(entry, tuple(differences), created or _new_source(current, wanted))


def _volumes(spec: Spec, seen: Observation, previous: State | None) -> list[Step]:
    """Each wanted mount path found, else a volume apply made before moved there, else a new
    one. A volume is never deleted here: its data may be all the service remembers."""
    here = seen.volumes_here
    wanted = [v.mount_path for v in spec.service.volumes]
    at = {v.mount_path for v in here}
    managed = {ref.id for ref in previous.volumes} if previous else set()
    movable = [v for v in here if v.volume_id in managed and v.mount_path not in wanted]
    steps: list[Step] = []
    for path in wanted:
        if path in at:
            continue
        if movable:
            steps.append(MoveVolume(movable.pop(0), path))
        else:
            steps.append(CreateVolume(path, spec.service.settings.region))
    steps += [
        Notice(
            f"kept volume {v.volume_id} at {v.mount_path}: the spec no longer lists it, so apply "
            "stops managing it; its data stays until a person deletes it"
        )
        for v in movable
    ]
    return steps


def _domains(spec: Spec, seen: Observation, previous: State | None) -> list[Step]:
    have = {d.domain: d for d in seen.custom_domains}
    wanted = spec.service.domains
    steps: list[Step] = [AddCustomDomain(name) for name in wanted if name not in have]
    managed = previous.custom_domains if previous else ()
    steps += [
        RemoveCustomDomain(have[ref.domain])
        for ref in managed
        if ref.domain not in wanted and ref.domain in have
    ]
    current = seen.service_domains[0] if seen.service_domains else None
    if spec.service.service_domain and current is None:
        steps.append(AddServiceDomain())
    elif not spec.service.service_domain and current and previous and previous.service_domain:
        steps.append(RemoveServiceDomain(current))
    return steps


def _predates(spec: Spec, previous: State | None, running: Mapping[str, str] | None) -> bool:
    """Whether the running deployment started with other values than the spec's, or with a
    variable apply has since deleted: a run that stopped between its commit and its deploy.
    Values with references are skipped (a snapshot may hold them rendered), and a variable the
    snapshot does not hold is not counted (it may hold less than the service)."""
    if running is None:
        return False
    wanted = spec.service.variables
    dropped = set(previous.variables) - set(wanted) if previous else set()
    differs = any(
        name in running and running[name] != value
        for name, value in wanted.items()
        if "${{" not in value
    )
    return differs or any(name in running for name in dropped)


def _what(spec: Spec) -> str:
    source = spec.service.source
    if isinstance(source, RepoSource):
        return f"the latest commit of {source.repo}@{source.branch}"
    if isinstance(source, WorkflowSource):
        return f"what {source.deployed_by} ships"
    return source.image


@dataclass(frozen=True)
class _Why:
    """Why a deployment is due. `settings`: the source or deploy settings changed; `runtime`:
    variables or volumes changed (a redeploy carries those); `by_this_run`: this run changes
    them (else an earlier run changed Railway and stopped before its deploy); `first`: no apply
    finished yet and nothing runs."""

    settings: bool
    runtime: bool
    by_this_run: bool
    first: bool

    @property
    def due(self) -> bool:
        return self.settings or self.runtime or self.first


def _why(
    spec: Spec,
    seen: Observation,
    previous: State | None,
    config: CommitConfig | None,
    volumes: list[Step],
) -> _Why:
    running = seen.running
    settings = config is not None and ("source" in config.entry or "deploy" in config.entry)
    runtime = (config is not None and "variables" in config.entry) or any(
        isinstance(s, CreateVolume | MoveVolume) for s in volumes
    )
    by_this_run = settings or runtime
    # Nothing ran since the last apply that finished, and what it recorded is not what the spec
    # says: a run committed the difference and stopped before its deploy.
    if previous is not None and (running.id if running else None) == previous.deployment_id:
        settings = settings or previous.applied not in (None, settings_digest(spec))
        added = set(spec.service.variables) - set(previous.variables)
        mounted = {v.mount_path for v in spec.service.volumes} - {
            v.mount_path for v in previous.volumes
        }
        runtime = runtime or bool(added or mounted)
    # The snapshot is a reading of undocumented behaviour (docs/railway.md, "Undocumented"): it
    # is never compared for a deployment apply made because of it, so it cannot loop.
    compared = running is not None and (previous is None or previous.caught_up != running.id)
    runtime = runtime or (compared and _predates(spec, previous, seen.running_variables))
    return _Why(settings, runtime, by_this_run, previous is None and running is None)


def _deployment(
    spec: Spec,
    seen: Observation,
    previous: State | None,
    config: CommitConfig | None,
    volumes: list[Step],
) -> list[Step]:
    """Whether to deploy, and how: at most one deployment, built with everything in place."""
    name, env = spec.service.name, spec.environment
    latest = seen.latest
    why = _why(spec, seen, previous, config, volumes)
    if latest is not None and latest.status in WAITING:
        what = f"deployment {latest.id} of {name} in {env} is {latest.status}: it "
        what += _WAITING_FOR[latest.status]
        if why.due:
            return [
                Refuse(
                    f"{what}; apply changes nothing behind it: approve or remove it in Railway's "
                    "dashboard (or let it run), then run apply again"
                )
            ]
        return [Notice(f"{what}; apply changed nothing and does not wait for it")]
    if not why.due:
        return _as_it_is(spec, latest, seen.running)
    if latest is not None and latest.status not in (*RUNNING, *ENDED) and not why.by_this_run:
        return [Await(latest)]  # an earlier run's deployment, in progress: one at a time
    steps = _how(spec, seen, why, config is not None and config.new_source)
    if why.by_this_run or why.first:
        return steps
    note = (
        f"the deployment {name} runs in {env} predates the service's variables or settings "
        "(an earlier run stopped before its deploy): "
    )
    return [
        replace(s, reason=note + s.reason, catch_up=True) if isinstance(s, Deploy | Redeploy) else s
        for s in steps
    ]


def _how(spec: Spec, seen: Observation, why: _Why, new_source: bool) -> list[Step]:
    """One deployment that runs the spec's settings and variables with the code that runs now;
    or, where Railway cannot do both, what it can and when the rest takes effect."""
    name, env = spec.service.name, spec.environment
    latest, running = seen.latest, seen.running
    source = spec.service.source
    if isinstance(source, WorkflowSource):
        if running is None:
            return [
                Notice(
                    f"{name} in {env} runs no code yet: {source.deployed_by} ships it, built with "
                    "these settings and variables"
                )
            ]
        later = f"its next run of {source.deployed_by}"
        reason = f"redeploying the code {name} runs in {env} ({running.id}) with its variables"
        return [
            *([Redeploy(running.id, reason)] if why.runtime else []),
            *([_later(spec, later)] if why.settings else []),
        ]
    if isinstance(source, RepoSource) and running is not None and not new_source:
        if running.commit:
            return [
                Deploy(
                    running.commit,
                    f"deploying {name} to {env} at {running.commit[:12]}, the commit it runs, with "
                    "the spec's settings and variables",
                    adoptable=not why.settings,
                )
            ]
        reason = (
            f"Railway does not say which commit {running.id} of {name} in {env} runs: "
            "redeploying it (the same code, today's variables)"
        )
        later = f"its next deploy from {source.branch}"
        return [Redeploy(running.id, reason), *([_later(spec, later)] if why.settings else [])]
    prefix = ""
    if running is None and latest is not None:
        prefix = f"nothing runs (its latest deployment {latest.id} is {latest.status}): "
    return [Deploy(None, f"{prefix}deploying {_what(spec)} to {name} in {env}")]


def _later(spec: Spec, when: str) -> Notice:
    return Notice(
        f"the new settings of {spec.service.name} in {spec.environment} take effect at {when}: "
        "a redeploy keeps the build and deploy settings of the deployment it copies"
    )


def _as_it_is(spec: Spec, latest: Deployment | None, running: Deployment | None) -> list[Step]:
    """Nothing to deploy: say what apply leaves as it is."""
    name, env = spec.service.name, spec.environment
    if latest is None or latest == running:
        return []
    if latest.status not in ENDED:
        return [
            Notice(
                f"deployment {latest.id} of {name} in {env} ({latest.status}) started before "
                "this run; apply changed nothing and does not wait for it"
            )
        ]
    if running is not None:
        return [
            Notice(
                f"the latest deployment {latest.id} of {name} in {env} is {latest.status}; "
                f"{running.id}, the one before it, still runs; apply changed nothing"
            )
        ]
    return [
        Notice(
            f"nothing runs {name} in {env}: its latest deployment {latest.id} is "
            f"{latest.status}; apply deploys nothing for it (a fix or a rollback does)"
        )
    ]


def _staged(environment: str, count: int, then: str) -> Refuse:
    return Refuse(
        f"environment {environment} has {count} staged change(s) in Railway that nobody "
        f"deployed: deploy or discard them in Railway's dashboard, then {then} (apply commits "
        "the settings of one service and leaves no one's changes half done)"
    )


def _service(spec: Spec, seen: Observation, previous: State | None) -> Step:
    """A service the token does not see. An account or workspace token sees every service of
    the project, so there is none and apply creates it. A project token is scoped to a "Single
    environment in a project" (https://docs.railway.com/reference/public-api) and sees only the
    services with an instance there: one that another environment's stack created is invisible
    to it, and serviceCreate would make a second service of that name. So with a project token
    apply uses the id its last run printed, or creates nothing."""
    name, env = spec.service.name, spec.environment
    if seen.deployed_elsewhere is not None:  # the token sees the whole project
        return CreateService(name)
    if previous is not None and (previous.project_id, previous.service) == (spec.project_id, name):
        return KnownService(previous.service_id)
    return Refuse(
        f"service {name} has no instance in environment {env}, and RAILWAY_TOKEN, a project "
        "token, sees only that environment: it cannot tell whether another environment has a "
        f"service {name}, and creating one could make a second. Run apply once with an account "
        "or workspace token in RAILWAY_API_TOKEN (and RAILWAY_TOKEN unset): it finds the "
        f"service by name in the project or creates it; or add {name} to {env} in Railway's "
        "dashboard; then the project token can go on"
    )


def _may_deploy_more(spec: Spec, mutations: int, own: bool) -> Notice:
    """Where one deployment cannot be promised. A new volume or domain is a mutation of its own:
    a patch names a volume or a domain by an id only Railway gives (`_carried`), and no mutation
    renames a custom domain (customDomainUpdate takes only a targetPort, schema.graphql:1536).
    Whether each deploys is undocumented; if it does, its deployment is a redeploy of what runs,
    which keeps the old build/deploy settings, so a settings change needs apply's own after it."""
    name, env = spec.service.name, spec.environment
    text = (
        f"{name} in {env}: {mutations} volume or domain mutation(s), each sent on its own (a new "
        "volume or domain has no id an environment patch could name); Railway does not document "
        "whether each starts a deployment of the code that runs"
    )
    if own:
        text += (
            ", and one would keep the old settings: apply waits for any Railway starts, then "
            "deploys the same code with the new settings, last"
        )
    return Notice(text)


def plan(spec: Spec, seen: Observation, previous: State | None) -> list[Step]:
    """The steps, in order, that make Railway as `spec` says. When apply must change nothing
    now (changes someone staged, a deployment waiting for someone), a Refuse comes first."""
    steps: list[Step] = []
    if seen.environment_id is None:
        steps.append(CreateEnvironment(spec.environment))
    if seen.service_id is None:
        steps.append(_service(spec, seen, previous))
    # Before anything deploys: Railway pulls the image with it.
    registry = _registry(spec, previous)
    steps += registry
    volumes = _carried(_volumes(spec, seen, previous), seen)
    domains = _carried(_domains(spec, seen, previous), seen)
    config = _config(spec, seen, previous, [*volumes, *domains])
    if config is not None:
        steps.append(config)
    deployment = _deployment(spec, seen, previous, config, volumes)
    deploys = any(isinstance(s, Deploy | Redeploy | Await | Refuse) for s in deployment)
    mutations = [s for s in [*volumes, *domains] if may_deploy(s)]
    # Whether serviceInstanceUpdate deploys is undocumented: one Railway starts is waited for.
    if (mutations or registry) and seen.running is not None and not deploys:
        deployment.append(RailwayDeploys())
    own = any(isinstance(s, Deploy | Redeploy) and not s.adoptable for s in deployment)
    if seen.running is not None and (len(mutations) > 1 or (mutations and own)):
        steps.append(_may_deploy_more(spec, len(mutations), own))
    steps += [*volumes, *domains, *deployment]
    refusals = [s for s in steps if isinstance(s, Refuse)]
    if config is not None and seen.staged_changes:
        refusals.insert(0, _staged(spec.environment, seen.staged_changes, "run apply again"))
    return [*refusals[:1], *(s for s in steps if not isinstance(s, Refuse))]


def plan_delete(state: State, seen: Observation) -> list[Step]:
    """Remove what apply manages. serviceDelete removes a service from every environment, so
    when another environment runs it (or the token cannot see), only this environment's part
    goes. A volume is never deleted; before serviceDelete each is detached, so it stays."""
    name, env = state.service, state.environment
    if seen.service_id is None:
        return [Notice(f"service {name} is already gone")]
    if seen.deployed_elsewhere == ():
        return [*(DetachVolume(v) for v in seen.volumes), DeleteService(name)]
    steps: list[Step] = []
    dropped = {n: None for n in state.variables if n in seen.variables}
    if dropped:
        if seen.staged_changes:
            return [_staged(env, seen.staged_changes, "delete again")]
        removed = tuple(f"variable {n} removed" for n in dropped)
        steps.append(CommitConfig({"variables": dropped}, removed))
    managed = {ref.id for ref in state.custom_domains}
    steps += [RemoveCustomDomain(d) for d in seen.custom_domains if d.id in managed]
    if state.service_domain:
        steps += [RemoveServiceDomain(d) for d in seen.service_domains if d == state.service_domain]
    live = {d.id for d in (seen.running, seen.latest) if d and d.status not in ENDED}
    steps += [RemoveDeployment(d) for d in sorted(live)]
    why = (
        f"{', '.join(seen.deployed_elsewhere)} still runs it"
        if seen.deployed_elsewhere
        else "a project token cannot see whether another environment runs it (delete it with "
        "an account token in RAILWAY_API_TOKEN, or in Railway's dashboard, if none does)"
    )
    steps.append(Notice(f"removed {name} from {env}; kept the service because {why}"))
    steps += [
        Notice(
            f"kept volume {v.volume_id} at {v.mount_path} attached to {name} in {env}; its data "
            "stays until a person deletes it"
        )
        for v in seen.volumes_here
    ]
    return steps


# Statuses of a deployment that ran: SUCCESS serves now, SLEEPING serves when woken ("The first
# request made to a slept service wakes it", Serverless, railwayapp/docs content/docs/
# deployments/serverless.md), REMOVED was replaced by a newer one (schema.graphql:683, enum
# DeploymentStatus). Nothing else serves: BUILDING, DEPLOYING, INITIALIZING, QUEUED, WAITING and
# NEEDS_APPROVAL never ran, FAILED and CRASHED did not run healthy, SKIPPED never started.
_RAN = ("SUCCESS", "REMOVED", "SLEEPING")


# Statuses of a deployment on its way to serving (enum DeploymentStatus, schema.graphql:683): it
# replaces the one serving once online ("Singleton deploys"), also after a rollback.
IN_FLIGHT = ("INITIALIZING", "QUEUED", "WAITING", "NEEDS_APPROVAL", "BUILDING", "DEPLOYING")


def in_flight(deployments: Iterable[Mapping[str, Any]]) -> list[str]:
    """The deployments that could still go live, oldest first."""
    found = sorted((d for d in deployments if d.get("status") in IN_FLIGHT),
                   key=lambda d: d["createdAt"])  # fmt: skip
    return [str(d["id"]) for d in found]


def serving(deployments: Iterable[Mapping[str, Any]]) -> str | None:
    """The deployment that serves: the newest SUCCESS or SLEEPING one, whatever is newer (a
    build in progress, a FAILED one: Railway keeps one deployment running per service and a new
    one replaces it only once it is online, "Singleton deploys", railwayapp/docs content/docs/
    deployments/reference.md)."""
    found = [d for d in deployments if d.get("status") in RUNNING]
    newest = max(found, key=lambda d: d["createdAt"], default=None)
    return str(newest["id"]) if newest is not None else None


def rollback_target(
    deployments: Iterable[Mapping[str, Any]],
    bad: str | None,
    avoid: frozenset[str] = frozenset(),
    healthy: frozenset[str] = frozenset(),
) -> str | None:
    """The newest deployment created before `bad` that ran and may be rolled back to, neither
    `bad` nor one of `avoid` (releases an earlier rollback replaced): the newest of `healthy`
    (seen serving while no alert fired) if any, else the newest that ran. `bad` None: the one
    that serves (`serving`). "The deployment before the current one" would be wrong after a
    rollback: the current one is then the rollback's copy, and the one before it the bad
    release. A status cannot say which ran healthy: "older deploys in a `Crashed` and
    `Success` state are eventually removed - first having their status updated to `Removing`
    before they are finally `Removed`" (railwayapp/docs src/docs/reference/deployments.md,
    "Deployment States"), so a REMOVED one may be a release that crashed."""
    found = list(deployments)
    if bad is None:
        bad = serving(found)
    cutoff = next((d["createdAt"] for d in found if d["id"] == bad), None)
    candidates = [
        d
        for d in found
        if d["id"] != bad
        and d["id"] not in avoid
        and d.get("canRollback")
        and d.get("status") in _RAN
        and (cutoff is None or d["createdAt"] < cutoff)
    ]
    known = [d for d in candidates if d["id"] in healthy]
    newest = max(known or candidates, key=lambda d: d["createdAt"], default=None)
    return str(newest["id"]) if newest is not None else None
