"""python -m rollback serve | rollback --service NAME | unfreeze

    serve                      run the webhook service (PORT from the environment, default 8080)
    rollback --service NAME    a manual rollback through the same code, written to the audit log
    unfreeze                   lift the deploy freeze (a person runs this; the service never does)

Settings come from the environment (see rollback/settings.py); exit 2 on bad settings.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time
from collections.abc import Mapping, Sequence

from rollback.audit import AuditLog, AuditPathError
from rollback.http import PermanentError, TransientError
from rollback.ledger import history, restore
from rollback.logs import UVICORN_LOGGING
from rollback.platforms import LiveActions
from rollback.service import policy_of
from rollback.settings import Settings, SettingsError


def listen(host: str, port: int) -> socket.socket:
    """A listening socket; `::` takes IPv6 and IPv4 alike (uvicorn's own would be IPv6 only):
    Railway's private network is IPv6 in legacy environments, IPv4 too in newer ones."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def _parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rollback", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the webhook service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=int(env.get("PORT", "8080")))
    manual = commands.add_parser("rollback", help="roll one service back now")
    manual.add_argument(
        "--service", required=True, help="a service of rollback-services.yml (its name)"
    )
    commands.add_parser("unfreeze", help="lift the deploy freeze")
    return parser


def run(argv: Sequence[str], env: Mapping[str, str]) -> int:
    args = _parser(env).parse_args(argv)
    try:
        settings = Settings.from_env(env)
    except SettingsError as error:
        print(f"rollback: {error}", file=sys.stderr)
        return 2
    if args.command == "serve":
        import uvicorn

        from rollback.app import create_app
        from rollback.service import build_service

        try:
            service = build_service(settings)
        except AuditPathError as error:
            print(f"rollback: {error}", file=sys.stderr)
            return 2
        config = uvicorn.Config(create_app(service), log_config=UVICORN_LOGGING, access_log=False)
        sock = listen(args.host, args.port)
        # uvicorn names the address only when it binds itself; say it the same way (JSON).
        host = f"[{args.host}]" if ":" in args.host else args.host
        logging.getLogger("uvicorn.error").info(
            "listening on http://%s:%d", host, sock.getsockname()[1]
        )
        uvicorn.Server(config).run(sockets=[sock])
        return 0
    if settings.dry_run:
        print("rollback: ROLLBACK_DRY_RUN is set: nothing to do by hand", file=sys.stderr)
        return 2
    policy = policy_of(settings)
    if args.command == "rollback" and args.service not in policy.services:
        known = ", ".join(policy.services) or "none"
        print(
            f"rollback: no service {args.service!r} to roll back (known: {known})", file=sys.stderr
        )
        return 2
    actions = LiveActions(settings, policy)
    audit = AuditLog(settings.audit_log, time.time, dry_run=False)
    try:
        audit.open()
    except AuditPathError as error:
        print(f"rollback: {error}", file=sys.stderr)
        return 2
    timeout = settings.request_timeout.total_seconds()
    user = env.get("USER", "?")
    try:
        if args.command == "rollback":
            before = actions.current(args.service, timeout)
            # what the service rolled back from and saw healthy, from its audit log
            seen = history(restore(audit.records()), args.service)
            detail = actions.rollback(args.service, before, seen, timeout)
            audit.write("manual", groupKey=None, action="rollback", service=args.service,
                        outcome="succeeded", detail=detail, by=user)  # fmt: skip
        else:
            variable = settings.freeze_variable
            detail = actions.set_variable(variable, "false", timeout)
            audit.write("manual", groupKey=None, action="unfreeze", outcome="succeeded",
                        detail=detail, by=user)  # fmt: skip
    except (PermanentError, TransientError) as error:
        print(f"rollback: {error}", file=sys.stderr)
        return 1
    print(detail)
    return 0


def main() -> None:
    sys.exit(run(sys.argv[1:], os.environ))


if __name__ == "__main__":
    main()
