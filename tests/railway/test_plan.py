"""plan() as tables, without a server: what Railway has, what the last apply recorded and the
spec in; the steps out. Each row is a situation a `pulumi up` meets."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from components.railway.observation import Deployment, Observation, VolumeInstance
from components.railway.plan import (
    AddCustomDomain,
    CommitConfig,
    CreateVolume,
    DeleteService,
    Deploy,
    DetachVolume,
    MoveVolume,
    Notice,
    Redeploy,
    Refuse,
    RemoveCustomDomain,
    RemoveDeployment,
    RemoveServiceDomain,
    Step,
    desired_config,
    plan,
    plan_delete,
    registry_fingerprint,
    settings_digest,
)
from components.railway.spec import REGISTRY_PASSWORD_ENV, DomainRef, Spec, State, VolumeRef
from tests.railway.standin import PROJECT_ID
from tests.railway.test_converge import make_spec

T0 = datetime(2026, 4, 1, tzinfo=UTC)
COMMIT = "c0ffee1234567890"
RUNS = Deployment("dep-1", "SUCCESS", T0, COMMIT)
ONE = {"healthcheckPath": "/health", "numReplicas": 1}
WORKFLOW = {"deployedBy": "deploy-staging.yml", "rootDirectory": "backend"}
IMAGE = {"image": "prom/prometheus@sha256:" + "a" * 64}
CUSTOM = DomainRef(id="cd-1", domain="staging-api.fixture.example.test")
GENERATED = DomainRef(id="sd-1", domain="backend-staging.up.railway.app")


def spec_of(**service: Any) -> Spec:
    return make_spec(**{"settings": ONE, **service})


def railway_as(spec: Spec, **changes: Any) -> Observation:
    """Railway running `spec` in staging, deployed by the last apply; then `changes`."""
    service = spec.service
    seen = Observation(
        PROJECT_ID,
        "staging",
        "env-1",
        "svc-1",
        desired_config(spec, {}),
        custom_domains=tuple(
            DomainRef(id=f"cd-{i}", domain=d) for i, d in enumerate(service.domains, 1)
        ),
        service_domains=(GENERATED,) if service.service_domain else (),
        volumes=tuple(
            VolumeInstance(f"vol-{v.mount_path}", "env-1", "staging", v.mount_path)
            for v in service.volumes
        ),
        latest=RUNS,
        variables=dict(service.variables),
        running=RUNS,
        running_variables=dict(service.variables),
    )
    return replace(seen, **changes)


def recorded(spec: Spec, **changes: Any) -> State:
    """The state the last apply of `spec` printed."""
    service = spec.service
    state = State(
        project_id=PROJECT_ID,
        environment_id="env-1",
        environment="staging",
        service_id="svc-1",
        service=service.name,
        variables=tuple(sorted(service.variables)),
        custom_domains=tuple(
            DomainRef(id=f"cd-{i}", domain=d) for i, d in enumerate(service.domains, 1)
        ),
        service_domain=GENERATED if service.service_domain else None,
        volumes=tuple(
            VolumeRef(id=f"vol-{v.mount_path}", mount_path=v.mount_path) for v in service.volumes
        ),
        deployment_id=RUNS.id,
        applied=settings_digest(spec),
    )
    return state.model_copy(update=changes)


def shape(steps: list[Step]) -> list[str]:
    """Each step as a short word: enough to read a table, and every detail that matters."""
    words = []
    for step in steps:
        match step:
            case CommitConfig():
                words.append(f"commit {'+'.join(step.entry)}")
            case Deploy():
                words.append(f"deploy {step.commit or 'source'}")
            case Redeploy():
                words.append(f"redeploy {step.deployment_id}")
            case CreateVolume():
                words.append(f"volume {step.mount_path}")
            case MoveVolume():
                words.append(f"move {step.mount_path}{' (patch)' if step.in_patch else ''}")
            case AddCustomDomain():
                words.append(f"add {step.domain}")
            case RemoveCustomDomain() | RemoveServiceDomain():
                words.append(f"remove {step.ref.domain}{' (patch)' if step.in_patch else ''}")
            case RemoveDeployment():
                words.append(f"remove {step.deployment_id}")
            case _:
                words.append(type(step).__name__)
    return words


@dataclass(frozen=True)
class Row:
    """`railway` and `last` change what Railway has and what the last apply recorded; both
    start as `before` applied, and the spec is `after`."""

    before: dict[str, Any]
    after: dict[str, Any]
    expected: list[str]
    railway: dict[str, Any] = field(default_factory=dict)
    last: dict[str, Any] | None = field(default_factory=dict)
    # Railway's config lists the service's volume and domains by id (a patch can name them).
    listed: bool = False


def listing(seen: Observation) -> Observation:
    """`seen` with its volumes and domains in the service's config entry, as Railway's CLI
    reads them (railwayapp/cli src/controllers/config/environment.rs)."""
    networking = {
        kind: {d.id: {"port": None} for d in found}
        for kind, found in (
            ("customDomains", seen.custom_domains),
            ("serviceDomains", seen.service_domains),
        )
        if found
    }
    mounts = {v.volume_id: {"mountPath": v.mount_path} for v in seen.volumes_here}
    config = {**(seen.config or {}), "networking": networking, "volumeMounts": mounts}
    return replace(seen, config=config)


FAILED = Deployment("dep-2", "FAILED", T0, "broken")
CRASHED = Deployment("dep-1", "CRASHED", T0, COMMIT)
DEBUG = {"DATABASE_URL": "postgres://db", "LOG_LEVEL": "debug"}
INFO = {"DATABASE_URL": "postgres://db", "LOG_LEVEL": "info"}
STARTS = {**ONE, "startCommand": "serve --fast"}

ROWS = {
    "nothing changed": Row({}, {}, []),
    "a variable changes": Row({}, {"variables": DEBUG}, ["commit variables", f"deploy {COMMIT}"]),
    "a variable is removed": Row(
        {},
        {"variables": {"DATABASE_URL": "postgres://db"}},
        ["commit variables", f"deploy {COMMIT}"],
    ),
    "a setting changes": Row({}, {"settings": STARTS}, ["commit deploy", f"deploy {COMMIT}"]),
    "the branch changes: the new branch's latest": Row(
        {},
        {"source": {"repo": "fixture-owner/app", "branch": "main", "rootDirectory": "backend"}},
        ["commit source", "deploy source"],
    ),
    "a volume is added": Row(
        {}, {"volumes": [{"mountPath": "/data"}]}, ["volume /data", f"deploy {COMMIT}"]
    ),
    # None of apply's own; one Railway may start by itself is waited for (RailwayDeploys).
    "a domain is added: no deployment of apply's": Row(
        {},
        {"domains": [CUSTOM.domain, "api2.fixture.example.test"]},
        ["add api2.fixture.example.test", "RailwayDeploys"],
    ),
    "a domain is removed: no deployment of apply's": Row(
        {}, {"domains": []}, [f"remove {CUSTOM.domain}", "RailwayDeploys"]
    ),
    # No mutation renames a custom domain: an add and a remove, said before they are sent.
    "a custom domain is swapped: two mutations, said first": Row(
        {},
        {"domains": ["api2.fixture.example.test"]},
        ["Notice", "add api2.fixture.example.test", f"remove {CUSTOM.domain}", "RailwayDeploys"],
    ),
    # Where the config lists them, a moved volume and a removed domain go in the patch.
    "a domain is removed, the config lists it: in the patch, nothing deployed": Row(
        {}, {"domains": []}, ["commit networking", f"remove {CUSTOM.domain} (patch)"], listed=True
    ),
    "a custom domain is swapped, the config lists it: one mutation": Row(
        {},
        {"domains": ["api2.fixture.example.test"]},
        [
            "commit networking",
            "add api2.fixture.example.test",
            f"remove {CUSTOM.domain} (patch)",
            "RailwayDeploys",
        ],
        listed=True,
    ),
    "a volume moves, the config lists it: one patch, one deployment": Row(
        {"volumes": [{"mountPath": "/data"}]},
        {"volumes": [{"mountPath": "/var/lib/data"}]},
        ["commit volumeMounts", "move /var/lib/data (patch)", f"deploy {COMMIT}"],
        listed=True,
    ),
    "a setting and a volume move: one patch, one deployment": Row(
        {"volumes": [{"mountPath": "/data"}]},
        {"settings": STARTS, "volumes": [{"mountPath": "/var/lib/data"}]},
        ["commit deploy+volumeMounts", "move /var/lib/data (patch)", f"deploy {COMMIT}"],
        listed=True,
    ),
    "a volume moves, the config is silent: a mutation": Row(
        {"volumes": [{"mountPath": "/data"}]},
        {"volumes": [{"mountPath": "/var/lib/data"}]},
        ["move /var/lib/data", f"deploy {COMMIT}"],
    ),
    "a setting and a variable change: one patch, one deployment": Row(
        {},
        {"settings": STARTS, "variables": DEBUG},
        ["commit deploy+variables", f"deploy {COMMIT}"],
    ),
    # Railway's own (if any) redeploys the old settings: apply's, with the new ones, goes last.
    "a setting and a volume change: apply's deployment carries the settings": Row(
        {},
        {"settings": STARTS, "volumes": [{"mountPath": "/data"}]},
        ["commit deploy", "Notice", "volume /data", f"deploy {COMMIT}"],
    ),
    "a setting and a domain change: apply's deployment carries the settings": Row(
        {},
        {"settings": STARTS, "domains": [CUSTOM.domain, "api2.fixture.example.test"]},
        ["commit deploy", "Notice", "add api2.fixture.example.test", f"deploy {COMMIT}"],
    ),
    "the latest FAILED and the one before runs: nothing to do": Row(
        {}, {}, ["Notice"], railway={"latest": FAILED}
    ),
    "the latest FAILED, a variable changes: the running commit, not the failed build": Row(
        {},
        {"variables": DEBUG},
        ["commit variables", f"deploy {COMMIT}"],
        railway={"latest": FAILED},
    ),
    "nothing runs (CRASHED), nothing changes: said, not deployed": Row(
        {}, {}, ["Notice"], railway={"latest": CRASHED, "running": None}
    ),
    "nothing runs (CRASHED), a variable changes: the source's latest, said": Row(
        {},
        {"variables": DEBUG},
        ["commit variables", "deploy source"],
        railway={"latest": CRASHED, "running": None},
    ),
    "a deployment waits for approval, nothing changes": Row(
        {}, {}, ["Notice"], railway={"latest": Deployment("dep-2", "NEEDS_APPROVAL", T0)}
    ),
    "a deployment waits for approval, a variable changes: refused at once": Row(
        {},
        {"variables": DEBUG},
        ["Refuse", "commit variables"],
        railway={"latest": Deployment("dep-2", "NEEDS_APPROVAL", T0)},
    ),
    "a deployment waits for CI, a setting changes: refused at once": Row(
        {},
        {"settings": STARTS},
        ["Refuse", "commit deploy"],
        railway={"latest": Deployment("dep-2", "WAITING", T0)},
    ),
    "a deployment is queued, a volume is added: refused at once": Row(
        {},
        {"volumes": [{"mountPath": "/data"}]},
        ["Refuse", "volume /data"],
        railway={"latest": Deployment("dep-2", "QUEUED", T0)},
    ),
    "someone else's build runs, nothing changes: not waited for": Row(
        {}, {}, ["Notice"], railway={"latest": Deployment("dep-2", "BUILDING", T0)}
    ),
    "the last run timed out on its first deployment: waited for": Row(
        {},
        {},
        ["Await"],
        railway={"latest": Deployment("dep-2", "BUILDING", T0), "running": None},
        last=None,
    ),
    "changes someone staged, a variable changes: refused first": Row(
        {},
        {"variables": DEBUG},
        ["Refuse", "commit variables", f"deploy {COMMIT}"],
        railway={"staged_changes": 2},
    ),
    "changes someone staged, nothing changes": Row({}, {}, [], railway={"staged_changes": 2}),
    "a run committed settings and stopped before its deploy": Row(
        {"settings": STARTS}, {"settings": STARTS}, [f"deploy {COMMIT}"], last={"applied": "before"}
    ),
    "a run committed a new variable and stopped before its deploy": Row(
        {"variables": {**INFO, "FEATURE": "on"}},
        {"variables": {**INFO, "FEATURE": "on"}},
        [f"deploy {COMMIT}"],
        last={"variables": ("DATABASE_URL", "LOG_LEVEL")},
    ),
    "a run committed a new value and stopped before its deploy": Row(
        {"variables": DEBUG},
        {"variables": DEBUG},
        [f"deploy {COMMIT}"],
        railway={"running_variables": INFO},
    ),
    "settings differ from the last record, but a deployment ran since": Row(
        {}, {}, [], last={"applied": "before", "deployment_id": "dep-0"}
    ),
    "a state printed before schemaVersion 2": Row({}, {}, [], last={"applied": None}),
    "Railway does not say which commit runs, a setting changes": Row(
        {},
        {"settings": STARTS},
        ["commit deploy", "redeploy dep-1", "Notice"],
        railway={"running": Deployment("dep-1", "SUCCESS", T0), "latest": None},
    ),
    "an image service, a setting changes: the image again": Row(
        {"source": IMAGE}, {"source": IMAGE, "settings": STARTS}, ["commit deploy", "deploy source"]
    ),
    "workflow service, a setting changes: when it takes effect, no deployment": Row(
        {"source": WORKFLOW}, {"source": WORKFLOW, "settings": STARTS}, ["commit deploy", "Notice"]
    ),
    "workflow service, a variable changes: its code redeployed": Row(
        {"source": WORKFLOW},
        {"source": WORKFLOW, "variables": DEBUG},
        ["commit variables", "redeploy dep-1"],
    ),
    "workflow service, both change": Row(
        {"source": WORKFLOW},
        {"source": WORKFLOW, "variables": DEBUG, "settings": STARTS},
        ["commit deploy+variables", "redeploy dep-1", "Notice"],
    ),
    "workflow service, the apply after a settings change": Row(
        {"source": WORKFLOW, "settings": STARTS},
        {"source": WORKFLOW, "settings": STARTS},
        [],
        railway={"running_variables": INFO},
    ),
}


@pytest.mark.parametrize("name", ROWS)
def test_plan(name: str) -> None:
    row = ROWS[name]
    before = spec_of(**{"variables": INFO, **row.before})
    after = spec_of(**{"variables": INFO, **row.after})
    seen = railway_as(before, **row.railway)
    seen = listing(seen) if row.listed else seen
    last = None if row.last is None else recorded(before, **row.last)
    steps = plan(after, seen, last)
    assert shape(steps) == row.expected
    said = [
        s.text if isinstance(s, Notice) else s.reason
        for s in steps
        if isinstance(s, Notice | Refuse)
    ]
    assert all("staging" in text and "\n" not in text for text in said)  # says where


def test_a_create_is_one_patch_then_one_deployment() -> None:
    spec = spec_of(variables=INFO, volumes=[{"mountPath": "/data"}])
    nothing = Observation(PROJECT_ID, "staging", None, None, None)

    steps = plan(spec, nothing, None)

    assert shape(steps) == [
        "CreateEnvironment",
        "CreateService",
        "commit isCreated+source+deploy+variables",
        "volume /data",
        f"add {CUSTOM.domain}",
        "AddServiceDomain",
        "deploy source",
    ]
    [config] = [s for s in steps if isinstance(s, CommitConfig)]
    assert config.entry["variables"] == {name: {"value": v} for name, v in INFO.items()}


def test_a_service_that_exists_in_another_environment_first_gets_is_created() -> None:
    spec = spec_of(variables=INFO)
    production_first = Observation(PROJECT_ID, "staging", "env-2", "svc-1", None)

    steps = plan(spec, production_first, None)

    assert shape(steps)[0] == "commit isCreated+source+deploy+variables"
    assert shape(steps)[-1] == "deploy source"


def test_a_workflow_service_new_here_is_created_and_left_for_its_workflow() -> None:
    spec = spec_of(variables=INFO, source=WORKFLOW)
    steps = plan(spec, Observation(PROJECT_ID, "staging", "env-1", "svc-1", None), None)
    assert shape(steps) == [
        "commit isCreated+source+deploy+variables",
        f"add {CUSTOM.domain}",
        "AddServiceDomain",
        "Notice",
    ]


def test_a_cleared_health_check_is_removed_once_then_left_alone() -> None:
    """A server put behind a login loses the health check an earlier apply gave it (its health
    path now answers 401, so a deploy would never go live), in one commit and one deployment."""
    before = spec_of(
        source=IMAGE, settings={"healthcheckPath": "/-/ready", "healthcheckTimeout": 300}
    )
    after = spec_of(source=IMAGE, settings={"cleared": ["healthcheckPath", "healthcheckTimeout"]})

    steps = plan(after, railway_as(before), recorded(before))

    assert shape(steps) == ["commit deploy", "deploy source"]  # the pinned image, as it runs
    [config] = [s for s in steps if isinstance(s, CommitConfig)]
    assert config.entry["deploy"] == {"healthcheckPath": None, "healthcheckTimeout": None}
    assert plan(after, railway_as(after), recorded(after)) == []


def test_a_setting_is_never_set_and_cleared_at_once() -> None:
    with pytest.raises(ValueError, match="healthcheckPath: set and cleared at once"):
        spec_of(settings={"healthcheckPath": "/health", "cleared": ["healthcheckPath"]})


def test_settings_digest_names_settings_not_variables() -> None:
    spec = spec_of(variables=INFO)
    assert settings_digest(spec) == settings_digest(spec_of(variables=DEBUG))
    assert settings_digest(spec) != settings_digest(spec_of(variables=INFO, settings=STARTS))
    assert "postgres" not in settings_digest(spec)


DELETES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "no other environment runs it": (
        {"deployed_elsewhere": ()},
        ["DetachVolume", "DeleteService"],
    ),
    "production still runs it": (
        {"deployed_elsewhere": ("production",)},
        [
            "commit variables",
            f"remove {CUSTOM.domain}",
            f"remove {GENERATED.domain}",
            "remove dep-1",
            "Notice",
            "Notice",
        ],
    ),
    "a project token cannot see": (
        {"deployed_elsewhere": None},
        [
            "commit variables",
            f"remove {CUSTOM.domain}",
            f"remove {GENERATED.domain}",
            "remove dep-1",
            "Notice",
            "Notice",
        ],
    ),
    "already gone": ({"service_id": None}, ["Notice"]),
}


@pytest.mark.parametrize("name", DELETES)
def test_plan_delete(name: str) -> None:
    changes, expected = DELETES[name]
    spec = spec_of(variables=INFO, volumes=[{"mountPath": "/data"}])
    steps = plan_delete(recorded(spec), railway_as(spec, **changes))
    assert shape(steps) == expected
    assert not any(isinstance(s, DeleteService) for s in steps) or isinstance(
        steps[0], DetachVolume
    )


def _with_login(password: str | None) -> Spec:
    spec = spec_of(source=WORKFLOW, registryCredentials={"username": "puller"})
    if password is None:  # as `check` reads it: no password
        return spec
    service = spec.service.with_secrets({REGISTRY_PASSWORD_ENV: password})
    return spec.model_copy(update={"service": service})


@pytest.mark.parametrize(
    ("password", "last", "expected"),
    [
        ("token-1", None, ["SetRegistryCredentials"]),  # never given: a new service
        ("token-1", "token-1", []),  # the same login: Railway cannot show it, never sent again
        ("token-2", "token-1", ["SetRegistryCredentials"]),  # a rotated token
        (None, None, []),  # `check`: without the password, a login is never counted
    ],
)
def test_the_registry_login_is_sent_only_when_it_is_not_the_one_last_given(
    password: str | None, last: str | None, expected: list[str]
) -> None:
    spec = _with_login(password)
    previous = recorded(spec, registry_credentials=registry_fingerprint(_with_login(last)))
    railway = railway_as(spec, running=None, latest=None)  # a built service before its deploy
    steps = plan(spec, railway, previous if last else recorded(spec))
    assert shape(steps) == expected
    for step in steps:
        assert "token" not in repr(step)  # the password never shows, even in a repr


def test_the_fingerprint_gives_nothing_of_the_password_back() -> None:
    fingerprint = registry_fingerprint(_with_login("hunter2"))
    assert fingerprint is not None and fingerprint.startswith("scrypt:")
    assert "hunter2" not in fingerprint
    assert fingerprint != registry_fingerprint(_with_login("hunter3"))
    assert fingerprint == registry_fingerprint(_with_login("hunter2"))  # no clock, no salt drawn
