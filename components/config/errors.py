"""How configuration problems are told: one message, every problem with its key path (as
`pulumi config --path` spells it), what is wrong, and the command that fixes it. A key that moved
in the generic model (2.0.0) says where it went (`MOVED`, docs/migration-2.0.md).
"""

from __future__ import annotations

import difflib
import json
import re
import types
from collections.abc import Collection
from typing import Any, Literal, Union, get_args, get_origin

import pulumi
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from components.config.schema import StackConfig
from policy.secret_values import is_secret_name, secret_kind

MAX_SHOWN = 60  # characters of a value an error message shows
MAX_PROBLEMS = 30  # problems listed; the count says how many more
MIGRATION = "docs/migration-2.0.md"

# Keys of the stack file before 2.0.0 -> where their value lives now.
MOVED = {
    "urls.frontend": "services.<name>.url of the Vercel service",
    "urls.api": "services.<name>.url of the Railway web service (urlVariable: API_URL keeps the "
    "GitHub variable's name)",
    "urls.worker": "services.<name>.url of the worker (urlVariable: WORKER_URL)",
    "railway.backendRootDirectory": "services.<name>.root",
    "railway.workerRootDirectory": "services.<name>.root",
    "railway.appPort": "services.<name>.port",
    "vercel.project": "services.<name>.vercel.project",
    "vercel.rootDirectory": "services.<name>.root of the Vercel service",
    "secrets.databaseUrl": "secrets.env.DATABASE_URL, named in each service's secretEnv",
    "secrets.redisUrl": "secrets.env.REDIS_URL, named in each service's secretEnv",
    "secrets.frontendEnv": "secrets.env.<NAME>, named in the Vercel service's secretEnv",
    "monitoring.services": "services.<name>.healthPath, metricsPath and critical",
    "monitoring.triggers.business.service": "monitoring.business.service",
    "monitoring.grafana.folder": "product.title",
    "monitoring.grafana.folderUid": "product.name",
    "monitoring.grafana.datasourceUid": "product.name (the uid is <name>-prometheus)",
}
# Keys that held a credential in plain text -> the secret that holds it now.
NOW_SECRET = {"monitoring.receivers.watchdogUrl": "secrets.watchdogUrl"}
# Keys new in 2.0.0 that every stack file sets.
NEW = {
    "product": "new in 2.0.0: {name, title} of the product",
    "services": "new in 2.0.0: the product's services, name -> {platform, role, root, ...}",
    "environment": "since 2.0.0 a mapping {name, kind}, e.g. {name: staging, kind: staging}",
    "monitoring.receivers.emailTo": "no longer has a default: the product's own on-call address",
    "monitoring.receivers.emailFrom": "no longer has a default: the product's own sender",
    "monitoring.receivers.smtpSmarthost": "no longer has a default: the product's SMTP host:port "
    "(it receives the SMTP password)",
    "monitoring.receivers.smtpUsername": "no longer has a default: the product's SMTP login",
}

Kind = Literal["invalid", "missing", "extra"]
Shape = Literal["value", "list", "mapping"]
Problem = tuple[str, str, str]  # key path, what is wrong, the fix


class ConfigError(pulumi.RunError):
    """A stack file that cannot be deployed. Pulumi prints a RunError without a traceback.
    `problems`: the (key path, problem, fix) the message tells, when it tells the config's."""

    def __init__(self, message: str, problems: Collection[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


def clip(text: str, width: int = MAX_SHOWN) -> str:
    return text if len(text) <= width else f"{text[: width - 1]}…"


def key_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as `pulumi config --path` spells it: github.reviewers[0].user."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{clip(str(part))}"
    return path.lstrip(".")


def fix(path: str, kind: Kind, stack: str, shape: Shape = "value") -> str:
    """The command that fixes the key at `path`: a list is set item by item, a mapping key by
    key (the one its problem names)."""
    if kind == "extra" or path.endswith("[key]"):
        return f"pulumi config rm --path '{path.removesuffix('.[key]')}' --stack {stack}"
    if path.startswith("secrets"):
        return (
            f"pulumi config set --secret --path '{path}' --stack {stack}  (value read from stdin)"
        )
    if shape == "list":
        return f"pulumi config set --path '{path}[0]' VALUE --stack {stack}  (then [1], [2], ...)"
    if shape == "mapping":
        return f"pulumi config set --path '{path}.KEY' VALUE --stack {stack}  (KEY: as named above)"
    return f"pulumi config set --path '{path}' VALUE --stack {stack}"


def _annotation_at(loc: tuple[int | str, ...]) -> tuple[Any, bool] | None:
    """The annotation of the key at `loc` (as the stack file spells it), and whether it is a
    map whose key `loc` does not name; None where the models know no such key."""
    annotation: Any = StackConfig
    keyed = False
    for part in loc:
        if keyed:  # a map's key: any name
            keyed = False
            continue
        model, _ = _model_of(annotation)
        fields = {} if model is None else {f.alias: f for f in model.model_fields.values()}
        field = fields.get(str(part))
        if field is None:
            return None
        annotation = field.annotation
        _, keyed = _model_of(annotation)
    return annotation, keyed


def _shape(loc: tuple[int | str, ...]) -> Shape:
    """What the key at `loc` (as the stack file spells it) holds."""
    found = _annotation_at(loc)
    if found is None:
        return "value"
    annotation, keyed = found
    members = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else ()
    if any(get_origin(a) in (list, tuple) for a in (annotation, *members)):
        return "list"
    model, _ = _model_of(annotation)
    return "mapping" if model is not None and not keyed else "value"


def _might_be_secret(path: str, value: Any) -> bool:
    name = re.split(r"[.\[]", path)[-1]
    return (
        path.startswith("secrets")
        or is_secret_name(name)
        or (isinstance(value, str) and secret_kind(value) is not None)
    )


def _got(item: ErrorDetails, path: str) -> str:
    """What the user wrote, short; nothing for an unknown key or a value that may be a secret."""
    value = item["input"]
    if item["type"] in ("missing", "extra_forbidden") or _might_be_secret(path, value):
        return ""
    if isinstance(value, dict):
        return f" (got a mapping of {len(value)} key(s))"
    if isinstance(value, list):
        return f" (got a list of {len(value)} item(s))"
    if isinstance(value, str):
        return f" (got {clip(json.dumps(value[: MAX_SHOWN + 1]))})"
    return f" (got {clip(json.dumps(value, default=str))})"


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model an annotation holds, and whether a map key comes before it (dict[str, M])."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = get_origin(annotation)
    if origin is dict:
        model, _ = _model_of(get_args(annotation)[1])
        return model, True
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            model, keyed = _model_of(arg)
            if model is not None:
                return model, keyed
    return None, False


def _spelled(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """The location as the stack file spells it: a field met by its Python name (a default that
    fails validation is located so) in camelCase; a map's key as written."""
    model: type[BaseModel] | None = StackConfig
    spelled: list[int | str] = []
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        fields = model.model_fields if model is not None else {}
        field = fields.get(str(part)) or next((f for f in fields.values() if f.alias == part), None)
        if field is None:
            spelled.append(part)
            model = None
            continue
        spelled.append(field.alias or part)
        model, keyed = _model_of(field.annotation)
        if keyed and parts:
            spelled.append(parts.pop(0))
    return tuple(spelled)


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the model at `loc`'s parent knows, for "did you mean" (none inside a list)."""
    found = _annotation_at(loc[:-1])
    model = None if found is None or found[1] else _model_of(found[0])[0]
    return [] if model is None else [str(f.alias) for f in model.model_fields.values()]


def _hint(loc: tuple[int | str, ...], path: str, error_type: str) -> str:
    if error_type == "extra_forbidden" and path in NOW_SECRET:
        return (
            f" (a credential in plain text: move it to {NOW_SECRET[path]} with `pulumi config "
            f"set --secret --path '{NOW_SECRET[path]}'`, and replace it if this file was ever "
            "committed)"
        )
    if error_type == "extra_forbidden" and path in MOVED:
        return f" (moved in 2.0.0: set {MOVED[path]} instead; {MIGRATION})"
    if error_type in ("missing", "model_type") and path in NEW:
        return f" ({NEW[path]}; {MIGRATION})"
    if error_type != "extra_forbidden":
        return ""
    close = difflib.get_close_matches(str(loc[-1]), _known_keys(loc), n=1)
    return f" (did you mean {'.'.join(map(str, (*loc[:-1], close[0])))}?)" if close else ""


def _is_model_name(part: str) -> bool:
    return part[:1].isupper() and any(c.islower() for c in part)


def validation_problems(error: ValidationError, stack: str) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False):
        # Union members show up as extra loc parts (e.g. "UserReviewer"); drop them from the path.
        # (Keys are camelCase, and variable names have no lowercase letter.)
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and _is_model_name(p)))
        loc = _spelled(loc)
        path = key_path(loc)
        message = clip(item["msg"], 300) + _hint(loc, path, item["type"]) + _got(item, path)
        kind: Kind = "extra" if item["type"] == "extra_forbidden" else "invalid"
        shape = _shape(loc)
        if shape == "mapping" and item["type"] == "missing":  # a whole section: no key named
            shape = "value"
        fixed = fix(path, kind, stack, shape)
        if shape == "list" and item["type"] in ("list_type", "tuple_type"):
            # Pulumi sets no index into a value that is not a list: "an array was expected for
            # index 0" (pulumi/sdk/go/common/resource/config/map.go, Map.Set); remove it first
            fixed = f"pulumi config rm --path '{path}' --stack {stack}, then {fixed}"
        problems.append((path, message, fixed))
    return problems


def plain_problem(path: str, stack: str) -> Problem:
    path = clip(path, 200)
    return (
        path,
        "stored in plain text; every value under secrets must be encrypted "
        "(rotate it if the file was ever committed)",
        f"pulumi config set --secret --path '{path}' --stack {stack}  (value read from stdin)",
    )


def format_problems(problems: Collection[Problem], stack: str, namespace: str) -> str:
    """One message: every (key path, problem, fix), the same line once, at most MAX_PROBLEMS."""
    unique = list(dict.fromkeys(problems))
    lines = [f"Stack '{stack}' has {len(unique)} configuration problem(s):"]
    for path, message, fixed in unique[:MAX_PROBLEMS]:
        lines += [f"  - {namespace}:{path}: {message}", f"      fix: {fixed}"]
    if len(unique) > MAX_PROBLEMS:
        lines.append(f"  ... and {len(unique) - MAX_PROBLEMS} more")
    return "\n".join(lines)
