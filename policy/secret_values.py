"""Heuristics for "this looks like a secret": key names, known token prefixes, credentials in
URLs, high-entropy strings. Pure functions; docs/policy.md lists what each one catches and why.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

# Marks of values that cannot be inspected: a secret in plan.json, an unknown in a preview.
SECRET = "[secret]"
UNKNOWN = "[unknown]"

# Words that make a variable name a secret's name: DEPLOY_TOKEN, dbPassword, AWS_SECRET_ACCESS_KEY.
_SECRET_NAME = re.compile(
    r"(token|secret|passw(or)?d|passwd|pwd|api_?key|private_?key|access_?key|"
    r"signing_?key|credentials?|auth|bearer|session_?key)$|"
    r"(token|secret|password|passwd|credentials?)_",
    re.IGNORECASE,
)

# Formats issuers publish so that scanners can recognise their tokens, each with the literals
# one of which every match contains: a pattern runs only on a value that holds one. A plan's
# command specs carry whole dashboards, and a pattern that starts with `\b` is tried at every
# character (one expression of all nine was most of a plan diff's policy check).
TOKENS: dict[str, tuple[tuple[str, ...], re.Pattern[str]]] = {
    "a GitHub token": (
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
    ),
    "a Slack token": (("xox",), re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    "a Slack webhook URL": (
        ("hooks.slack.com/services/",),
        re.compile(r"hooks\.slack\.com/services/[A-Za-z0-9/]{10,}"),
    ),
    "an AWS access key id": (("AKIA", "ASIA"), re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    "a Stripe secret key": (
        ("k_live_", "k_test_"),
        re.compile(r"\b[sr]k_(live|test)_[A-Za-z0-9]{10,}"),
    ),
    "a GitLab token": (("glpat-",), re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    "an npm token": (("npm_",), re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    "a private key": (("PRIVATE KEY-----",), re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    "a JSON Web Token": (
        ("eyJ",),
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"),
    ),
}
_URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@", re.IGNORECASE)

# Identifiers that look random but are public: UUIDs (Railway ids), hex digests,
# Vercel project and team ids.
_PUBLIC_ID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32,64}|"
    r"(prj|team)_[A-Za-z0-9]{8,40}"
)
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9+/=_.-]{20,}")
MIN_ENTROPY_BITS = 3.5  # per character; English words and slugs stay well below


def is_secret_name(name: str) -> bool:
    """True for names like DEPLOY_TOKEN, dbPassword, STRIPE_SECRET_KEY, SENTRY_DSN."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return bool(_SECRET_NAME.search(snake))


def entropy_bits(text: str) -> float:
    """Shannon entropy per character."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def looks_random(text: str) -> bool:
    """A long token-shaped string of letters and digits with high entropy, not a public id."""
    return (
        _TOKEN_SHAPE.fullmatch(text) is not None
        and _PUBLIC_ID.fullmatch(text) is None
        and re.search(r"[A-Za-z]", text) is not None
        and re.search(r"[0-9]", text) is not None
        and entropy_bits(text) >= MIN_ENTROPY_BITS
    )


def secret_kind(value: str) -> str | None:
    """What secret `value` looks like ("a GitHub token", ...), or None when it looks harmless."""
    if value in (SECRET, UNKNOWN):
        return None
    for kind, (markers, pattern) in TOKENS.items():
        if any(marker in value for marker in markers) and pattern.search(value):
            return kind
    if "://" in value and "@" in value and _URL_CREDENTIALS.search(value):
        return "a URL with a user and password"
    # `=` splits too: a flag or setting (`--retention=15d`, `KEY=value`) is judged by its value.
    if any(looks_random(word) for word in re.split(r"[\s\"',;=]+", value)):
        return "a high-entropy string"
    return None


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, str, str]]:
    """Every string leaf of a JSON-like value as (path, key, text); the key is the nearest name."""
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            for leaf_path, leaf_key, text in leaves(item, sub):
                yield leaf_path, leaf_key or str(key), text
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, "", value


# `GF_SECURITY_ADMIN_PASSWORD__FILE=/run/secrets/x`: the Docker convention of naming the file a
# secret is read from; the value is a path, not the secret.
_PATH_TO_A_SECRET = re.compile(r"_(FILE|PATH)$", re.IGNORECASE)


def findings(value: Any, path: str) -> list[str]:
    """Where a plain value holds something secret-looking, as "path: reason" lines (no values)."""
    found = []
    for leaf_path, key, text in leaves(value, path):
        kind = secret_kind(text)
        if kind:
            found.append(f"{leaf_path} holds {kind}")
        elif _PATH_TO_A_SECRET.search(key) and text.startswith("/") and " " not in text:
            continue
        elif key and is_secret_name(key) and text not in ("", SECRET, UNKNOWN):
            found.append(f"{leaf_path} is named like a secret and set in plain text")
    return found
