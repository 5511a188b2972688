"""CLI run by the Pulumi command resources (and by people for rollback).

    python -m components.railway apply      < spec.json   # prints the state JSON
        (the value of each of the spec's `secretVariables` comes from PIPELINE_SECRET_<NAME>,
        the password of its `registryCredentials` from PIPELINE_REGISTRY_PASSWORD)
    python -m components.railway delete        # reads the state from PULUMI_COMMAND_STDOUT
    python -m components.railway check      < spec.json   # read only: drift, exit 3
    python -m components.railway rollback --service NAME [--project ID] [--environment NAME]

Token and endpoint come from the environment only: RAILWAY_API_TOKEN or RAILWAY_TOKEN, and
RAILWAY_API_URL; RAILWAY_POLL_SECONDS is how often apply asks how its deployment goes (5).
Exit status: 0 done, 1 Railway or token problem or a deployment that did not run, 2 bad spec or
usage. Nothing printed ever holds a variable value or the token.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from components.railway import converge
from components.railway.client import (
    DEFAULT_URL,
    RailwayClient,
    RailwayError,
    auth_from_env,
)
from components.railway.spec import SECRET_ENV_PREFIX, Spec, State


class UsageError(Exception):
    pass


def _validation_message(what: str, error: ValidationError) -> str:
    # include_input=False: a bad spec must not echo a secret value into Pulumi's logs.
    problems = [
        f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
        for e in error.errors(include_input=False, include_url=False)
    ]
    return f"invalid {what}: " + "; ".join(problems)


def _read_spec(stdin: TextIO, env: Mapping[str, str]) -> tuple[Spec, list[str]]:
    """The spec with its secret variables' values from `env`, and those values (to redact)."""
    try:
        spec = Spec.model_validate_json(stdin.read())
        service = spec.service.with_secrets(env)
    except ValidationError as error:
        raise UsageError(_validation_message("spec on stdin", error)) from None
    except ValueError as error:
        raise UsageError(str(error)) from None
    secrets = [service.variables[name] for name in spec.service.secret_variables]
    login = service.registry_credentials
    if login is not None and login.password is not None:
        secrets.append(login.password.get_secret_value())
    return spec.model_copy(update={"service": service}), secrets


def _spec_to_check(stdin: TextIO, env: Mapping[str, str]) -> tuple[Spec, frozenset[str]]:
    """The spec with the secret values `env` has; the names of those it has not."""
    try:
        spec = Spec.model_validate_json(stdin.read())
    except ValidationError as error:
        raise UsageError(_validation_message("spec on stdin", error)) from None
    names = spec.service.secret_variables
    unknown = frozenset(n for n in names if f"{SECRET_ENV_PREFIX}{n}" not in env)
    values = {n: env.get(f"{SECRET_ENV_PREFIX}{n}", "") for n in names}
    service = spec.service.model_copy(
        update={"variables": {**spec.service.variables, **values}, "secret_variables": ()}
    )
    return spec.model_copy(update={"service": service}), unknown


def _previous_state(env: Mapping[str, str]) -> State | None:
    text = env.get("PULUMI_COMMAND_STDOUT", "").strip()
    if not text:
        return None
    try:
        return State.model_validate_json(text)
    except ValidationError as error:
        raise UsageError(_validation_message("state in PULUMI_COMMAND_STDOUT", error)) from None


def _client(env: Mapping[str, str], secrets: Sequence[str] = ()) -> RailwayClient:
    try:
        timeout = float(env.get("RAILWAY_TIMEOUT_SECONDS", "30"))
        attempts = int(env.get("RAILWAY_MAX_ATTEMPTS", "5"))
    except ValueError:
        raise UsageError(
            "RAILWAY_TIMEOUT_SECONDS and RAILWAY_MAX_ATTEMPTS must be numbers"
        ) from None
    return RailwayClient(
        env.get("RAILWAY_API_URL") or DEFAULT_URL,
        auth_from_env(env),
        timeout=timeout,
        max_attempts=max(1, attempts),
        secrets=secrets,
    )


def _pace(env: Mapping[str, str]) -> converge.Pace:
    try:
        # At least 0.1 s: a deployment that takes minutes must not be asked about in a loop.
        return converge.Pace(interval=max(0.1, float(env.get("RAILWAY_POLL_SECONDS", "5"))))
    except ValueError:
        raise UsageError("RAILWAY_POLL_SECONDS must be a number") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m components.railway", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("apply", help="converge to the JSON spec on stdin, print the state")
    commands.add_parser("delete", help="remove what the state in PULUMI_COMMAND_STDOUT names")
    commands.add_parser(
        "check",
        help="read only: how Railway differs from the spec on stdin (exit 3 on drift); secret "
        "variables without PIPELINE_SECRET_<NAME> are checked for presence only",
    )
    back = commands.add_parser("rollback", help="roll back to the previous successful deployment")
    back.add_argument("--service", required=True)
    back.add_argument("--project", default=os.environ.get("RAILWAY_PROJECT_ID"))
    back.add_argument("--environment", default=os.environ.get("RAILWAY_ENVIRONMENT"))
    return parser


def _check(env: Mapping[str, str], stdin: TextIO, stdout: TextIO, log: converge.Log) -> int:
    spec, unknown = _spec_to_check(stdin, env)
    # Only names are printed; the values are redacted from any error all the same.
    with _client(env, list(spec.service.variables.values())) as client:
        drift = converge.check(client, spec, unknown)
    for line in drift:
        print(line, file=stdout)
    if drift:
        return 3
    log(f"{spec.service.name} in {spec.environment} is as the spec says")
    return 0


def _delete(env: Mapping[str, str], log: converge.Log) -> int:
    state = _previous_state(env)
    if state is None:
        log("no state in PULUMI_COMMAND_STDOUT: nothing to delete")
        return 0
    with _client(env) as client:
        converge.delete(client, state, log)
    return 0


def run(
    argv: Sequence[str], env: Mapping[str, str], stdin: TextIO, stdout: TextIO, stderr: TextIO
) -> int:
    args = _parser().parse_args(argv)

    def log(line: str) -> None:
        print(f"railway: {line}", file=stderr)

    try:
        if args.command == "check":
            return _check(env, stdin, stdout, log)
        if args.command == "delete":
            return _delete(env, log)
        if args.command == "apply":
            spec, secrets = _read_spec(stdin, env)
            previous = _previous_state(env)
            pace = _pace(env)
            with _client(env, secrets) as client:
                state = converge.apply(client, spec, previous, log, pace)
            print(state.model_dump_json(by_alias=True), file=stdout)
        else:
            if not args.project or not args.environment:
                raise UsageError(
                    "rollback needs --project and --environment "
                    "(or RAILWAY_PROJECT_ID and RAILWAY_ENVIRONMENT)"
                )
            with _client(env) as client:
                # First: a deploy in flight would replace the rollback once online.
                where = (args.project, args.environment, args.service)
                cancelled = converge.cancel_in_flight(client, *where)
                target = converge.rollback(client, *where)
            if cancelled:
                log(f"cancelled the deployment(s) in flight {', '.join(cancelled)}")
            log(f"rolled {args.service} in {args.environment} back to deployment {target}")
            print(json.dumps({"rolledBackTo": target, "cancelled": cancelled}), file=stdout)
    except UsageError as error:
        log(str(error))
        return 2
    except converge.DeployFailed as error:
        log(str(error))
        for line in error.tail:
            log(f"| {line}")
        return 1
    except RailwayError as error:
        log(str(error))
        return 1
    except Exception as error:  # one line, never a traceback: it may show data
        frame = traceback.extract_tb(error.__traceback__)[-1]
        log(
            f"unexpected {type(error).__name__} at {Path(frame.filename).name}:{frame.lineno} "
            "(an answer of a shape apply does not know?); nothing more is shown, since it may "
            "hold a value: run again, or report it"
        )
        return 1
    return 0


def main() -> None:
    sys.exit(run(sys.argv[1:], os.environ, sys.stdin, sys.stdout, sys.stderr))


if __name__ == "__main__":
    main()
