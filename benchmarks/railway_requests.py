"""Requests and mutations per `apply` against the Railway stand-in on 127.0.0.1.

    .venv/bin/python -m benchmarks.railway_requests

Scenarios: a fresh service, a no-op (same spec again), one changed variable. Goal: a no-op sends
0 mutations and at most 3 queries per service. Needs Railway's schema (../shared/railway or
$RAILWAY_SCHEMA) because the stand-in validates every document against it.
"""

from __future__ import annotations

import sys
import time

from components.railway import converge
from components.railway.client import Auth, RailwayClient
from components.railway.spec import State
from tests.railway.conftest import schema_path
from tests.railway.standin import ACCOUNT_TOKEN, RailwayStandIn, load_schema
from tests.railway.test_converge import CANARY, make_spec


def main() -> int:
    path = schema_path()
    if path is None:
        print("Railway's schema not found: set RAILWAY_SCHEMA", file=sys.stderr)
        return 2
    standin = RailwayStandIn(load_schema(path)).start()
    standin.add_environment("staging")
    auth = Auth("account", "Authorization", f"Bearer {ACCOUNT_TOKEN}")
    changed = {"DATABASE_URL": CANARY, "LOG_LEVEL": "debug"}
    scenarios = [
        ("fresh service", make_spec(), False),
        ("no-op", make_spec(), True),
        ("one changed variable", make_spec(variables=changed), True),
    ]
    previous: State | None = None
    print(f"{'scenario':<22} {'requests':>8} {'queries':>8} {'mutations':>9} {'ms':>7}  mutations")
    try:
        for label, spec, with_previous in scenarios:
            with RailwayClient(standin.url, auth) as client:
                start = time.perf_counter()
                previous = converge.apply(
                    client, spec, previous if with_previous else None, lambda _: None
                )
                elapsed = (time.perf_counter() - start) * 1000
                sent = client.counters
                names = ",".join(standin.mutations) or "-"
                print(
                    f"{label:<22} {sent.requests:>8} {sent.queries:>8} {sent.mutations:>9} "
                    f"{elapsed:>7.1f}  {names}"
                )
                standin.mutations.clear()
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
