"""Basic authentication of Prometheus and Alertmanager (`--web.config.file`).

Railway's private network reaches every service of the environment, the public backend and
worker included: without a login, any of them could silence an alert or post a fake one. Each
server has one user, named after it, whose password is a stack secret; its clients log in with
it: Prometheus (its own scrape, and Alertmanager's alerts and scrape), Grafana's datasource,
people with amtool or curl.

The web config holds a bcrypt hash. bcrypt salts at random, so a hash made at each `pulumi up`
would differ every time, change the server's secret variable and redeploy it for nothing. The
salt here is derived from the user and the stack (product and environment) instead, never from
the password: the same password always gives the same hash in one stack, so a second
`pulumi up` changes nothing; two stacks (or two servers) given one password get different hashes,
so neither hash tells that they share it; and the salt, which bcrypt writes into the hash in
clear, says nothing about the password. The images have no bcrypt tool, so hashing at container
start is not an option. The hash is derived from a secret and stays one (a Pulumi secret, a
secret variable, a 0600 file).
"""

from __future__ import annotations

import hashlib
from typing import Literal, get_args

import bcrypt

from monitoring.yamlfile import dump

AuthServer = Literal["prometheus", "alertmanager"]
AUTHENTICATED: tuple[AuthServer, ...] = get_args(AuthServer)
# bcrypt's work factor: its minimum (Go's bcrypt.MinCost, which the servers' exporter-toolkit
# accepts). Where the hash is (a secret variable, a 0600 file on the server), the password is too:
# the server logs in to itself with it. A higher factor would protect nothing and cost every synth
# and preview (8: 15 ms a hash here; 10: 60 ms).
COST = 4
MAX_PASSWORD_BYTES = 72  # bcrypt reads no further (the bcrypt package refuses longer ones)
_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def user_of(server: AuthServer) -> str:
    return server


def password_file(server: AuthServer) -> str:
    """Where Prometheus reads `server`'s password, relative to prometheus.yml (Prometheus
    resolves relative paths against its config file's folder)."""
    return f"secrets/{server}-password"


def stack_of(product: str, environment: str) -> str:
    """What names one stack's servers apart from another stack's: the salt's context."""
    return f"{product}/{environment}"


def _salt(user: str, stack: str) -> bytes:
    """bcrypt's 22-character salt, from the user and the stack: the same pair, the same salt.
    16 bytes in bcrypt's base64 (its own alphabet, 4 padding bits)."""
    context = f"pipeline web login salt\0{stack}\0{user}".encode()
    raw = hashlib.blake2b(context, digest_size=16).digest()
    bits = int.from_bytes(raw, "big") << 4
    encoded = "".join(_ALPHABET[(bits >> (6 * (21 - i))) & 63] for i in range(22))
    return f"$2b${COST:02d}${encoded}".encode()


def password_hash(user: str, password: str, stack: str) -> str:
    secret = password.encode()
    if len(secret) > MAX_PASSWORD_BYTES:
        raise ValueError(f"a password may hold at most {MAX_PASSWORD_BYTES} bytes (bcrypt)")
    return bcrypt.hashpw(secret, _salt(user, stack)).decode()


def web_config(server: AuthServer, password: str, stack: str) -> str:
    """The server's `--web.config.file` in `stack` (`stack_of`): its one user and the hash of
    its password."""
    user = user_of(server)
    return dump({"basic_auth_users": {user: password_hash(user, password, stack)}})
