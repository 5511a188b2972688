"""Requests, mutations and deployments per `apply` against the Railway stand-in on 127.0.0.1.

    .venv/bin/python -m benchmarks.railway_requests

One project with a staging and a production environment; each `pulumi up` applies the next
spec with the state the one before printed. A repository service (created, then one change at a
time, each followed by a no-op, with an account token and with a project token), an image
service and a service its deploy workflow ships. The stand-in deploys as Railway documents it (a
committed patch deploys what it changes unless committed staged with skipDeploys, a redeploy
keeps the copied deployment's settings) and reports each deployment running at the first look;
a real build adds one status query per RAILWAY_POLL_SECONDS. The floor: a no-op sends 0
mutations; a change makes 1 deployment, or none where nothing needs restarting (a domain) or
where Railway cannot put it into the running code (a workflow service's settings). A setting
changed with a volume or domain change, and a custom domain swap, miss it under the stand-in's
hardest reading (each such mutation redeploys what runs): docs/railway.md says why. Needs
Railway's schema (../shared/railway or $RAILWAY_SCHEMA): the stand-in validates every document.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from components.railway import converge
from components.railway.client import Auth, RailwayClient
from components.railway.spec import REGISTRY_PASSWORD_ENV, Spec, State
from tests.railway.conftest import schema_path
from tests.railway.standin import ACCOUNT_TOKEN, PROJECT_TOKEN, RailwayStandIn, load_schema
from tests.railway.test_converge import CANARY, PROMETHEUS_YML, make_spec

ACCOUNT = Auth("account", "Authorization", f"Bearer {ACCOUNT_TOKEN}")
PROJECT = Auth("project", "Project-Access-Token", PROJECT_TOKEN)
ONE = {"healthcheckPath": "/health", "numReplicas": 1}
NO_OP = None


@dataclass(frozen=True)
class Scenario:
    label: str
    spec: Spec
    auth: Auth
    floor: int | None  # the deployments a change needs; NO_OP: a no-op, 0 mutations

    def met(self, mutations: int, deployments: int) -> bool:
        return mutations == 0 if self.floor is NO_OP else deployments <= self.floor

    @property
    def goal(self) -> str:
        if self.floor is NO_OP:
            return "0 mutations"
        return f"{self.floor} deployment{'s' if self.floor != 1 else ''}"


def _start(command: str) -> dict[str, Any]:
    return {"settings": {**ONE, "startCommand": command}}


def _at(path: str) -> dict[str, Any]:
    return {"volumes": [{"mountPath": path}]}


def backend() -> list[Scenario]:
    debug2 = {"variables": {"DATABASE_URL": CANARY, "LOG_LEVEL": "warning"}}
    faster = {"settings": {**ONE, "startCommand": "serve --fast"}}
    debug = {**faster, "variables": {"DATABASE_URL": CANARY, "LOG_LEVEL": "debug"}}
    fewer = {**faster, "variables": {"DATABASE_URL": CANARY}}
    volume = {**fewer, "volumes": [{"mountPath": "/data"}]}
    domain = {**volume, "domains": ["staging-api2.fixture.example.test"]}
    changes: list[tuple[str, dict[str, Any], int]] = [
        ("one changed setting", faster, 1),
        ("one changed variable", debug, 1),
        ("one variable removed", fewer, 1),
        ("a volume added", volume, 1),
        # At most one deployment per change; the stand-in has Railway deploy on each volume or
        # domain mutation (undocumented: the hardest reading). The old domain goes in the
        # patch, so a changed domain is one mutation; a removed one is none.
        ("a domain changed", domain, 1),
        ("a domain removed", removed := {**domain, "domains": []}, 0),
        # A setting with another change: one patch for variables and a moved volume; a new
        # domain is a mutation of its own, and Railway's redeploy after it keeps the old
        # settings.
        (
            "a setting and a variable changed",
            both := {**removed, **_start("serve --a"), **debug2},
            1,
        ),
        (
            "a setting changed, the volume moved",
            moved := {**both, **_start("serve --b"), **_at("/var/lib/data")},
            1,
        ),
        (
            "a setting changed, a domain added",
            {
                **moved,
                **_start("serve --c"),
                "domains": ["staging-api2.fixture.example.test"],
            },
            1,
        ),
    ]
    first = make_spec(settings=ONE)
    found = [
        Scenario("fresh service", first, ACCOUNT, 1),
        Scenario("no-op, account token", first, ACCOUNT, NO_OP),
        Scenario("no-op, project token", first, PROJECT, NO_OP),
    ]
    for label, change, floor in changes:
        spec = make_spec(**change)
        found += [
            Scenario(label, spec, ACCOUNT, floor),
            Scenario("no-op", spec, PROJECT, NO_OP),
        ]
    return found


def image() -> list[Scenario]:
    body = {
        "name": "prometheus",
        "source": {"image": "prom/prometheus@sha256:" + "a" * 64},
        "variables": {"PROMETHEUS_YML": PROMETHEUS_YML},
        "settings": {"startCommand": "/bin/prometheus --config.file=/etc/prometheus.yml"},
        "domains": [],
        "serviceDomain": False,
        "volumes": [{"mountPath": "/prometheus"}],
    }
    changed = {**body, "settings": {"startCommand": "/bin/prometheus --web.enable-lifecycle"}}
    return [
        Scenario("image service, fresh", make_spec(**body), ACCOUNT, 1),
        Scenario("image service, no-op", make_spec(**body), PROJECT, NO_OP),
        Scenario("image service, one setting", make_spec(**changed), ACCOUNT, 1),
    ]


def workflow() -> list[Scenario]:
    source = {"deployedBy": ".github/workflows/deploy-staging.yml"}
    debug = {"DATABASE_URL": CANARY, "LOG_LEVEL": "debug"}
    faster = {**ONE, "startCommand": "serve --fast"}
    return [
        Scenario(
            "workflow service, fresh",
            make_spec(name="worker", source=source),
            ACCOUNT,
            0,
        ),
        Scenario(
            "workflow service, one variable",
            make_spec(name="worker", source=source, variables=debug),
            ACCOUNT,
            1,
        ),
        Scenario(
            "workflow service, one setting",
            make_spec(name="worker", source=source, variables=debug, settings=faster),
            ACCOUNT,
            0,
        ),
        Scenario(
            "workflow service, no-op",
            make_spec(name="worker", source=source, variables=debug, settings=faster),
            PROJECT,
            NO_OP,
        ),
    ]


BUILT = "ghcr.io/owner/app/api"


def built() -> list[Scenario]:
    """A service that runs the image its deploy workflow pushed (stack `deploy: built`)."""
    source = {"deployedBy": ".github/workflows/deploy-staging.yml", "imageRepository": BUILT}
    body = {"name": "api", "source": source, "domains": [], "serviceDomain": False}
    debug = {"DATABASE_URL": CANARY, "LOG_LEVEL": "debug"}
    return [
        Scenario("built image service, fresh", make_spec(**body), ACCOUNT, 0),
        Scenario("built image service, no-op after its deploy", make_spec(**body), PROJECT, NO_OP),
        Scenario(
            "built image service, one variable", make_spec(**body, variables=debug), ACCOUNT, 1
        ),
        Scenario("built image service, no-op", make_spec(**body, variables=debug), PROJECT, NO_OP),
        # A private image: the login Railway pulls it with, sent once per token.
        Scenario("built image, private: login set", _login(body, debug, "t1"), ACCOUNT, 0),
        Scenario("built image, private: no-op", _login(body, debug, "t1"), PROJECT, NO_OP),
        Scenario("built image, private: token rotated", _login(body, debug, "t2"), ACCOUNT, 0),
        Scenario("built image, private: no-op after it", _login(body, debug, "t2"), PROJECT, NO_OP),
    ]


def _login(body: dict[str, Any], variables: dict[str, str], token: str) -> Spec:
    spec = make_spec(**body, variables=variables, registryCredentials={"username": "puller"})
    service = spec.service.with_secrets({REGISTRY_PASSWORD_ENV: f"{CANARY}-{token}"})
    return spec.model_copy(update={"service": service})


def run(standin: RailwayStandIn, scenarios: list[Scenario]) -> list[str]:
    rows = []
    previous: State | None = None
    for scenario in scenarios:
        before = len(standin.world.deployments)
        standin.mutations.clear()
        with RailwayClient(standin.url, scenario.auth) as client:
            previous = converge.apply(client, scenario.spec, previous, lambda _line: None)
            sent = client.counters
        made = len(standin.world.deployments) - before
        if scenario.label == "workflow service, fresh":  # its deploy workflow ships the code
            standin.upload(previous.environment_id, previous.service_id, "shipped")
        if scenario.label == "built image service, fresh":  # railway-deploy-image.sh's requests
            standin.ship_image(
                previous.environment_id, previous.service_id, f"{BUILT}@sha256:{'b' * 64}"
            )
        names = ", ".join(standin.mutations) or "-"
        met = scenario.met(sent.mutations, made)
        rows.append(
            f"| {scenario.label} | {sent.requests} | {sent.queries} | {sent.mutations} | {made} "
            f"| {scenario.goal} | {'yes' if met else 'NO'} | {names} |"
        )
    return rows


def main() -> int:
    path = schema_path()
    if path is None:
        print("Railway's schema not found: set RAILWAY_SCHEMA", file=sys.stderr)
        return 2
    standin = RailwayStandIn(load_schema(path)).start()
    # Counts of the pulls that succeed: Railway pulling by digest is assumed (undocumented,
    # docs/railway.md "Pull by digest"; the stand-in's default fails such a pull).
    standin.pulls_by_digest = True
    standin.add_environment("staging")
    standin.add_environment("production")
    print(
        "| scenario | requests | queries | mutations | deployments | floor | met | mutations sent |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    try:
        for scenarios in (backend(), image(), workflow(), built()):
            for row in run(standin, scenarios):
                print(row)
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
