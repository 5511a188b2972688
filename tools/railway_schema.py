"""Fetch Railway's GraphQL schema by introspection, for the tests that validate our documents.

    python -m tools.railway_schema --out build/railway-schema.graphql
    RAILWAY_SCHEMA=build/railway-schema.graphql bash tools/check

Where `../shared/railway/schema.graphql` is not beside the clone (a GitHub runner), this gives
the tests the live schema instead. Endpoint and token come from the environment, as for the
converge tool (RAILWAY_API_URL; RAILWAY_API_TOKEN or RAILWAY_TOKEN).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from graphql import build_client_schema, get_introspection_query, print_schema

from components.railway.client import DEFAULT_URL, RailwayClient, RailwayError, auth_from_env
from tools.files import write_whole


def fetch(client: RailwayClient) -> str:
    """The schema in SDL, as Railway answers introspection."""
    result = client.query(get_introspection_query(descriptions=True), {})
    return print_schema(build_client_schema(result))  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.railway_schema", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="where to write the SDL")
    args = parser.parse_args(argv)
    try:
        auth = auth_from_env(os.environ)
        with RailwayClient(os.environ.get("RAILWAY_API_URL", DEFAULT_URL), auth) as client:
            sdl = fetch(client)
    except RailwayError as error:
        print(f"railway_schema: {error}", file=sys.stderr)
        return 1
    write_whole(args.out, sdl + "\n")
    print(f"wrote {args.out} ({len(sdl.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
