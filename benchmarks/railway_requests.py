"""Requests and mutations per `apply` against the Railway stand-in on 127.0.0.1.

    .venv/bin/python -m benchmarks.railway_requests

Scenarios, in one project with a staging and a production environment: a fresh service, a no-op
(same spec again) with an account token and with a project token, one changed variable, one
changed setting, and an image service (fresh, then a no-op). Each apply waits for its
deployment, which the stand-in reports as running at the first look. Goal: a no-op sends 0
mutations and at most 3 queries per service, whatever the token. Needs Railway's schema
(../shared/railway or $RAILWAY_SCHEMA) because the stand-in validates every document against it.
"""

from __future__ import annotations

import sys
import time

from components.railway import converge
from components.railway.client import Auth, RailwayClient
from components.railway.spec import Spec, State
from tests.railway.conftest import schema_path
from tests.railway.standin import ACCOUNT_TOKEN, PROJECT_TOKEN, RailwayStandIn, load_schema
from tests.railway.test_converge import CANARY, PROMETHEUS_YML, make_spec

ACCOUNT = Auth("account", "Authorization", f"Bearer {ACCOUNT_TOKEN}")
PROJECT = Auth("project", "Project-Access-Token", PROJECT_TOKEN)


def image_spec() -> Spec:
    return make_spec(
        name="prometheus",
        source={"image": "prom/prometheus@sha256:" + "a" * 64},
        variables={"PROMETHEUS_YML": PROMETHEUS_YML},
        settings={"startCommand": "/bin/prometheus --config.file=/etc/prometheus.yml"},
        domains=[],
        serviceDomain=False,
        volumes=[{"mountPath": "/prometheus"}],
    )


def main() -> int:
    path = schema_path()
    if path is None:
        print("Railway's schema not found: set RAILWAY_SCHEMA", file=sys.stderr)
        return 2
    standin = RailwayStandIn(load_schema(path)).start()
    standin.add_environment("staging")
    standin.add_environment("production")
    changed = {"DATABASE_URL": CANARY, "LOG_LEVEL": "debug"}
    backend = [
        ("fresh service", make_spec(), ACCOUNT),
        ("no-op, account token", make_spec(), ACCOUNT),
        ("no-op, project token", make_spec(), PROJECT),
        ("one changed variable", make_spec(variables=changed), ACCOUNT),
        ("one changed setting", make_spec(variables=changed, settings={"numReplicas": 3}), ACCOUNT),
    ]
    image = [
        ("image service, fresh", image_spec(), ACCOUNT),
        ("image service, no-op", image_spec(), PROJECT),
    ]
    print(f"{'scenario':<24} {'requests':>8} {'queries':>8} {'mutations':>9} {'ms':>7}  mutations")
    try:
        for scenarios in (backend, image):
            previous: State | None = None
            for label, spec, auth in scenarios:
                with RailwayClient(standin.url, auth) as client:
                    start = time.perf_counter()
                    previous = converge.apply(client, spec, previous, lambda _: None)
                    elapsed = (time.perf_counter() - start) * 1000
                    sent = client.counters
                    names = ",".join(standin.mutations) or "-"
                    print(
                        f"{label:<24} {sent.requests:>8} {sent.queries:>8} {sent.mutations:>9} "
                        f"{elapsed:>7.1f}  {names}"
                    )
                    standin.mutations.clear()
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
