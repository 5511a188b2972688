"""Every key of a stack file reaches the plan diff when changed (issue 19).

The keys come from the config models (`components.config.StackConfig`), never from a list kept by
hand: a key added to a model is tried here the day it is added. For each key the test tries
changes derived from its current value, keeps the first one the config accepts, synthesizes the
production stack with it and checks that the comment shows a readable change (for a secret:
that it changed). A key for which no derived change is valid needs an entry in HINTS.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from components.config import ConfigError, StackConfig, raw_project_config, validate
from monitoring.durations import format_duration, parse_duration
from monitoring.images import IMAGES
from tests.conftest import (
    STACKS,
    CommittedPlan,
    built_service,
    business_metrics,
    validated_stack,
)
from tests.plandiff import stacks
from tools import synth
from tools.plandiff.plan import Snapshot

STACK = "production"
# Keys that change only another stack: production's Vercel project is the same in either layout.
# Production already pages (its default): staging shows what turning paging on changes.
STACK_OF = {"vercel": "staging", "monitoring.receivers.pagerduty": "staging"}

# Keys the generic changes cannot reach on their own: key -> (value, other keys it needs).
HINTS: dict[str, tuple[Any, dict[str, Any]]] = {
    # Keys a stack may leave unset: a value no stack file has.
    "appCi.databases.postgres": ("postgres:17@sha256:" + "1" * 64, {}),
    "appCi.databases.redis": ("redis:8@sha256:" + "2" * 64, {}),
    "appCi.dependencyUpdates.targetBranch": ("release", {}),
    "monitoring.runbookBaseUrl": ("https://runbooks.example.net/monitoring.md", {}),
    "railway.retainOnDelete": (False, {}),  # production's default (null) already retains
    "github.mergeBypass": (["a-maintainer"], {}),  # a login no stack names
    # One more trusted publisher: every image the stack runs is still from the ones before.
    "railway.allowedImagePublishers": (["prom", "grafana", "ghcr.io/example"], {}),
    # Routable channel sets only: {slack}, {email, slack}, {pagerduty, email, slack}.
    "monitoring.strategies.immediate.notifications": (["slack", "email"], {}),
    "monitoring.strategies.fast.notifications": (["slack"], {}),
    "monitoring.strategies.gradual.notifications": (["slack", "email"], {}),
    # Production freezes on a spent budget by default (null): turning it off is the change.
    "monitoring.sloAlerting.freeze": (False, {}),
    # Set only where the monitoring runs outside Railway (the Railway addresses are derived).
    "monitoring.addresses.alertmanager": (
        "alertmanager.example.net:9093",
        {"monitoring.servers.hosting": "external"},
    ),
    "monitoring.addresses.blackboxExporter": (
        "blackbox.example.net:9115",
        {"monitoring.servers.hosting": "external"},
    ),
    "monitoring.addresses.prometheusUrl": (
        "https://prometheus.example.net",
        {"monitoring.servers.hosting": "external"},
    ),
}
# A service's keys that change only together with others: key -> the service changed whole
# (from the stack file's entry). The first service of the stack for which the result is a valid
# stack file is changed.
SERVICE_HINTS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "services.*.dockerfile": lambda s: {**s, "dockerfile": "docker/ci"},
    "services.*.language": lambda s: {**s, "language": "node", "python": None},
    "services.*.deploy": lambda s: {**s, "deploy": "image", "image": IMAGES["grafana"]},
    "services.*.image": lambda s: {**s, "deploy": "image", "image": IMAGES["grafana"]},
    "services.*.platform": lambda s: {**s, "platform": "railway", "vercel": None, "port": 3000},
    "services.*.role": lambda s: {**s, "role": "worker"},
    "services.*.schedule": lambda s: {
        **{k: v for k, v in s.items() if k not in ("url", "healthPath", "metricsPath")},
        "role": "cron",
        "schedule": "0 3 * * *",
        "urlVariable": None,
    },
    "services.*.secretEnv": lambda s: {**s, "secretEnv": [*s.get("secretEnv", []), "NEW_SECRET"]},
    # Not of the form a default takes (<NAME>_URL): a change for any service of any name.
    "services.*.urlVariable": lambda s: {**s, "urlVariable": "PUBLIC_ADDRESS"},
    "services.*.rollback": lambda s: {**s, "rollback": False},
    "services.*.vercel.publicUrls": lambda s: {
        **s,
        "vercel": {
            **s["vercel"],
            "publicUrls": {f"{k}_RENAMED": v for k, v in s["vercel"]["publicUrls"].items()},
        },
    },
}
# Keys the config refuses whatever their value: each must be an error, never silently ignored.
REFUSED = {"monitoring.receivers.rollbackWebhookUrl", "monitoring.receivers.heartbeat"}
# Keys that describe something outside the stack and only check other keys: they deploy
# nothing, so the test checks that they still change nothing (remove one when it does).
CHECKS_ONLY = {
    # The app's histogram buckets: latency thresholds must be bucket bounds.
    "monitoring.triggers.performance.latencyBuckets",
    # Who may publish the monitoring images: the images themselves are checked against it.
    "railway.allowedImagePublishers",
}
# Keys that only tell Pulumi where a resource was before (its aliases): no update of a deployed
# stack, so the diff shows none; the test checks that the plan's aliases change instead
# (tests/plandiff/test_upgrade.py checks that they keep a 1.x stack's resources).
ALIASES_ONLY = {"deployedWith1x"}


def _model_of(annotation: Any) -> type[BaseModel] | None:
    is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
    return annotation if is_model else None


def _map_of(annotation: Any) -> type[BaseModel] | None:
    """M of dict[str, M] (the services map): each entry's keys are keys too."""
    if typing.get_origin(annotation) is dict:
        return _model_of(typing.get_args(annotation)[1])
    return None


def keys(
    model: type[BaseModel] = StackConfig, prefix: str = ""
) -> Iterator[tuple[str, tuple[Any, type[BaseModel]]]]:
    """camelCase key path -> (annotation, the model that holds it) of every leaf; `*` stands
    for a map's key (a service's name)."""
    for field in model.model_fields.values():
        path = f"{prefix}{field.alias}"
        nested = _model_of(field.annotation)
        entries = _map_of(field.annotation)
        optional = [a for a in typing.get_args(field.annotation) if _model_of(a)]
        if nested is not None:
            yield from keys(nested, f"{path}.")
        elif entries is not None:
            yield from keys(entries, f"{path}.*.")
        elif len(optional) == 1 and path.startswith("services."):
            yield from keys(optional[0], f"{path}.")  # a service's vercel or python settings
        else:
            yield path, (field.annotation, model)


KEYS = dict(keys())


def current(config: StackConfig, path: str, exclude_none: bool = False) -> Any:
    node: Any = config.model_dump(mode="json", by_alias=True, exclude_none=exclude_none)
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def resolved(config: StackConfig, path: str) -> str:
    """`path` with `*` as the first entry of the map that has the key set."""
    if "*" not in path:
        return path
    head, _, tail = path.partition(".*.")
    for name in current(config, head) or {}:
        concrete = f"{head}.{name}.{tail}"
        if current(config, concrete) is not None:
            return concrete
    return f"{head}.{next(iter(current(config, head)))}.{tail}"


def _strings(value: str) -> Iterator[str]:
    if value.startswith("#"):
        yield f"#{value[1:]}x"
    yield f"{value}x"
    yield f"x{value}"
    if "://" in value:
        scheme, _, rest = value.partition("://")
        yield f"{scheme}://x{rest}"
    if re.fullmatch(r"[0-9a-f-]+", value[-1]):
        yield value[:-1] + ("0" if value[-1] != "0" else "1")


def candidates(value: Any, annotation: Any) -> Iterator[Any]:
    """Changes of `value` to try, most telling first."""
    choices = [a for a in typing.get_args(annotation) if isinstance(a, str)]
    if typing.get_origin(annotation) is typing.Literal:
        yield from (c for c in choices if c != value)
    if isinstance(value, bool) or value is None:
        yield from ([not value] if isinstance(value, bool) else [True, False])
    elif isinstance(value, int):
        yield from (value + 1, value - 1)
    elif isinstance(value, float):
        yield from (round(value * 0.8, 6), round(value * 1.2, 6))
    elif isinstance(value, str):
        try:
            duration = parse_duration(value)
        except ValueError:
            duration = None
        if isinstance(duration, timedelta):
            yield from (format_duration(duration * 2), format_duration(duration / 2))
            yield format_duration(duration + timedelta(seconds=10))
        yield from _strings(value)
    elif isinstance(value, list):
        if value:
            yield value[:-1]
            yield from ([*value[:-1], changed] for changed in candidates(value[-1], None))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from ({**value, key: changed} for changed in candidates(item, None))


def accepted(config: dict[str, Any]) -> bool:
    """Whether the program takes the stack file: its models and the rules between keys."""
    flat, _ = synth.pulumi_config(config, namespace=stacks.PROJECT)
    try:
        validate(raw_project_config(flat, stacks.PROJECT), STACK, frozenset({"secrets"}))
    except ConfigError:
        return False
    return True


def _in_file(config: dict[str, Any], path: str) -> bool:
    top, *rest = path.split(".")
    node: Any = config.get(f"{stacks.PROJECT}:{top}")
    for part in rest:
        node = node.get(part) if isinstance(node, dict) else None
    return node is not None


def _every_effect(stack: str) -> stacks.Edit | None:
    """What lets every key take effect where the stack lacks it: pulumi up commits the app
    repository's workflows (appCi and the services' CI keys change the committed files), a
    scraped service has an objective (the SLO keys change rules) and one exports the business
    metrics (the business triggers' keys), and a service with a Dockerfile runs its built image,
    pulled with a login (railway.registry); None where it has all."""
    config = validated_stack(stack)
    managed = config.github.workflows == "managed"
    scraped = [n for n, s in config.services.items() if s.metrics_path]
    # A service runs the image CI built, pulled with a login (the railway.registry keys).
    buildable = built_service(stack)
    built = any(s.deploy == "built" for s in config.services.values())
    business = config.monitoring.business
    if managed and config.monitoring.slos and business and (built or not buildable):
        return None

    def edit(file: dict[str, Any]) -> None:
        if not managed:
            stacks.set_key(file, "github.workflows", "managed")
            stacks.set_key(file, "github.committerAppId", 4242)
        if not config.monitoring.slos:
            objective = {"name": "availability", "objective": 95, "window": "30d",
                         "sli": {"kind": "availability"}}  # fmt: skip
            stacks.set_key(file, "monitoring.slos", {scraped[0]: [objective]})
        if not business:  # the business triggers' keys change rules only where it exports them
            metrics = business_metrics(stack)
            stacks.set_key(file, "monitoring.business", {"service": scraped[0], "metrics": metrics})
        if buildable and not built:
            name, entry = buildable
            stacks.set_key(file, f"services.{name}", entry)
            stacks.set_key(file, "railway.registry", {"username": "a-puller"})

    return edit


def edited(stack: str) -> dict[str, Any]:
    """The stack file under test, with what lets every key take effect (_every_effect)."""
    return stacks.edited(stack, _every_effect(stack))


def change_for(stack: str, path: str, base: StackConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (base, head) stack files for a valid change of `path`."""
    annotation, owner = KEYS[path]
    if path in SERVICE_HINTS:
        return _service_change(stack, path)
    if path == "monitoring.business":  # another scraped service exports them
        assert base.monitoring.business is not None
        others = [n for n, s in base.services.items() if s.metrics_path]
        other = next(n for n in others if n != base.monitoring.business.service)
        head = edited(stack)
        stacks.set_key(head, "monitoring.business.service", other)
        return edited(stack), head
    if annotation is SecretStr or path.startswith("secrets."):
        head = edited(stack)
        name = path.removeprefix("secrets.")
        listed = [n for s in base.services.values() for n in s.secret_env]
        secret = {listed[0]: {"secure": "v1:Zm9v"}} if name == "env" else {"secure": "v1:Zm9v"}
        stacks.set_key(head, "secrets", {name: secret})
        return edited(stack), head
    value, context = HINTS.get(path, (None, {}))
    path = resolved(base, path)
    base_file = edited(stack)
    for key, setting in context.items():
        stacks.set_key(base_file, key, setting)
    was = current(base, path)
    tries = [value] if path in HINTS else list(candidates(was, annotation))
    parent, _, leaf = path.rpartition(".")
    # A model with required fields (a strategy) is set whole, unless the file holds it already.
    required = any(f.is_required() for f in owner.model_fields.values())
    whole = bool(parent) and required and not _in_file(base_file, parent)
    for tried in tries:
        if tried == was:
            continue
        head = json.loads(json.dumps(base_file))
        if whole:
            stacks.set_key(head, parent, {**current(base, parent, True), leaf: tried})
        else:
            stacks.set_key(head, path, tried)
        if accepted(head):
            return base_file, head
    raise AssertionError(f"no valid change found for {path} (tried {tries}): add it to HINTS")


def _service_change(stack: str, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    services = edited(stack)[f"{stacks.PROJECT}:services"]
    for name, service in services.items():
        head = edited(stack)
        changed = {k: v for k, v in SERVICE_HINTS[path](service).items() if v is not None}
        head[f"{stacks.PROJECT}:services"][name] = changed
        if changed != service and accepted(head):
            return edited(stack), head
    raise AssertionError(f"no service takes the change of {path}: fix SERVICE_HINTS")


@pytest.fixture(scope="module")
def base_configs() -> dict[str, StackConfig]:
    flat = {
        stack: synth.pulumi_config(edited(stack), namespace=stacks.PROJECT)[0] for stack in STACKS
    }
    return {
        s: StackConfig.model_validate(raw_project_config(f, stacks.PROJECT))
        for s, f in flat.items()
    }


@pytest.fixture(scope="module")
def base_snapshots(committed_plan: CommittedPlan) -> dict[str, Snapshot]:
    return {
        stack: stacks.snapshot_of(committed_plan(stack))
        if _every_effect(stack) is None
        else stacks.snapshot(stack, edited(stack))
        for stack in STACKS
    }


def test_the_key_list_comes_from_the_models() -> None:
    assert len(KEYS) > 100
    assert {"rollback.dryRun", "services.*.healthPath", "featureFlags", "product.name"} <= set(KEYS)
    named = set(HINTS) | set(SERVICE_HINTS) | REFUSED | CHECKS_ONLY | ALIASES_ONLY | set(STACK_OF)
    assert named <= set(KEYS), "a list here names a key the models no longer have"


@pytest.mark.parametrize("path", sorted(set(KEYS) - REFUSED))
def test_a_changed_key_shows_in_the_diff(
    path: str, base_configs: dict[str, StackConfig], base_snapshots: dict[str, Snapshot]
) -> None:
    stack = STACK_OF.get(path, STACK)
    base_file, head_file = change_for(stack, path, base_configs[stack])
    base = base_snapshots[stack] if base_file == edited(stack) else None
    base = base or stacks.snapshot(stack, base_file)
    diff, markdown = stacks.diff(stack, base, lambda c: c.update(head_file), policy=False)
    if path in ALIASES_ONLY:
        assert not diff.changed, f"{path} now changes the stack: remove it from ALIASES_ONLY"
        head = stacks.snapshot(stack, head_file)
        aliases = [{r.urn: r.aliases for r in s.plan.resources} for s in (base, head)]
        assert aliases[0] != aliases[1], f"{path}: the plan's aliases do not change"
        return
    if path in CHECKS_ONLY:
        assert not diff.changed, f"{path} now changes the stack: remove it from CHECKS_ONLY"
        return
    assert diff.changed, f"{path}: the diff shows no change"
    if path.startswith("secrets."):
        assert "[secret] changed" in markdown
        return
    readable = (
        diff.files
        or any(r.options for r in diff.resources)
        or any(p.kind != "secret" for r in diff.resources for p in r.properties)
        or any(p.kind != "secret" for p in diff.outputs)
    )
    assert readable, f"{path}: the change shows only as [secret]"


@pytest.mark.parametrize("path", sorted(REFUSED))
def test_a_derived_key_is_refused_not_ignored(path: str) -> None:
    config = edited(STACK)
    stacks.set_key(config, path, "https://elsewhere.example.net/hook")
    assert not accepted(config)
