"""Reading the stack config: the project namespace from `Pulumi.yaml`, the raw values the engine
hands the program, strict validation of them all at once (`validate`), and `load` for the
running program."""

from __future__ import annotations

import difflib
import functools
import json
import re
import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pydantic import ValidationError

from components import stackfile
from components.config.errors import (
    ConfigError,
    Problem,
    fix,
    format_problems,
    plain_problem,
    validation_problems,
)
from components.config.schema import StackConfig, problems
from monitoring import yamlfile
from monitoring.config import pages

ROOT = Path(__file__).resolve().parents[2]  # the repository: its Pulumi.yaml and stack files
SECRET_KEYS = ("secrets",)
# The secrets every stack sets (camelCase, under `secrets`).
ALWAYS = (
    "slackApiUrl",
    "smtpPassword",
    "rollbackWebhookToken",
    "freezeReadToken",
    "grafanaAdminPassword",
    "prometheusPassword",
    "alertmanagerPassword",
)
# The dead man's switch: a production stack never deploys without one (optional elsewhere).
HEARTBEAT = "watchdogUrl"
# PagerDuty's routing key: only a stack whose critical alerts page holds one.
PAGING = "pagerdutyRoutingKey"
# The rollback service's platform tokens: it acts with them, and holds none in dry run.
ACTING_SECRETS = ("railwayToken", "rollbackGithubToken")


@functools.cache
def project_name(project_dir: Path = ROOT) -> str:
    """The project's name in its `Pulumi.yaml`: the namespace of every key of its stack files."""
    path = project_dir / "Pulumi.yaml"
    try:
        name = yamlfile.load(path.read_text()).get("name")
    except (OSError, yaml.YAMLError, AttributeError) as error:
        raise ConfigError(f"{path}: cannot read the project's name ({error})") from None
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{path}: no `name`: the project's name is every key's namespace")
    return name


def _services(raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    services = raw.get("services")
    if not isinstance(services, dict):
        return {}
    return {name: s for name, s in services.items() if isinstance(s, dict)}


def required_secrets(raw: Mapping[str, Any]) -> list[str]:
    """The paths under `secrets` (`vercelToken`, `env.DATABASE_URL`) a stack of this shape sets:
    every common one; each platform's deploy token where a service deploys through it; each name
    a service lists in secretEnv; the heartbeat URL in production; PagerDuty's routing key where
    critical alerts page; the rollback service's tokens
    (ACTING_SECRETS) only while it acts (rollback.dryRun false; as the offline synth cannot tell,
    it always lists them)."""
    services = _services(raw).values()
    platforms = {s.get("platform") for s in services}
    railway = [s for s in services if s.get("platform") == "railway"]
    # `railway up` and railway-deploy-image.sh both deploy with the GitHub secret RAILWAY_TOKEN.
    by_workflow = any(s.get("deploy", "workflow") in ("workflow", "built") for s in railway)
    pulled = any(s.get("deploy") == "built" for s in railway) and _private_images(raw)
    env = dict.fromkeys(name for s in services for name in s.get("secretEnv") or ())
    environment = raw.get("environment")
    kind = environment.get("kind") if isinstance(environment, dict) else None
    production = kind == "production"
    return [
        *ALWAYS,
        *([PAGING] if _pages(raw, kind) else []),
        *(["vercelToken"] if "vercel" in platforms else []),
        *(["railwayDeployToken"] if by_workflow else []),
        *(["registryToken"] if pulled else []),
        *(["vercelBypassSecret"] if "vercel" in platforms and _bypass(raw) else []),
        *ACTING_SECRETS,
        *([HEARTBEAT] if production else []),
        *(f"env.{name}" for name in env if isinstance(name, str)),
    ]


def _pages(raw: Mapping[str, Any], kind: Any) -> bool:
    """StackConfig.pages, of a stack file not yet validated."""
    monitoring = raw.get("monitoring")
    receivers = monitoring.get("receivers") if isinstance(monitoring, dict) else None
    paging = receivers.get("pagerduty") if isinstance(receivers, dict) else None
    return pages(str(kind), paging if isinstance(paging, bool) else None)


def _private_images(raw: Mapping[str, Any]) -> bool:
    """railway.registry.private (default true): Railway pulls the built images with a login."""
    railway = raw.get("railway")
    registry = railway.get("registry") if isinstance(railway, dict) else None
    return not (isinstance(registry, dict) and registry.get("private") is False)


def _bypass(raw: Mapping[str, Any]) -> bool:
    """appCi.playwright.protectionBypass: the deployed end-to-end tests pass Vercel's
    deployment protection with its bypass secret."""
    app_ci = raw.get("appCi")
    playwright = app_ci.get("playwright") if isinstance(app_ci, dict) else None
    return isinstance(playwright, dict) and playwright.get("protectionBypass") is True


def _missing_problems(raw: Mapping[str, Any], stack: str) -> list[Problem]:
    """Each secret this shape needs that the model cannot require itself (a platform's deploy
    token, a service's secretEnv), missing: listed with the rest, whatever else is wrong."""
    secrets = raw.get("secrets")
    if not isinstance(secrets, dict):
        return []  # the model reports a missing or malformed `secrets` itself
    found = []
    for path in required_secrets(raw):
        top, _, name = path.partition(".")
        if path in ALWAYS or path in ACTING_SECRETS:
            continue  # the model, or _acting_problems, says it
        here = secrets.get(top) if name else secrets
        if not isinstance(here, dict) or here.get(name or top) in (None, ""):
            why = (
                "a service lists it in secretEnv"
                if name
                else "a production stack's dead man's switch: without it nobody learns that "
                "Alertmanager or Prometheus died (docs/monitoring.md)"
                if path == HEARTBEAT
                else "critical alerts page PagerDuty here (kind production, or "
                "monitoring.receivers.pagerduty)"
                if path == PAGING
                else "appCi.playwright.protectionBypass sends it"
                if path == "vercelBypassSecret"
                else "a service deploys built and its image is private (railway.registry.private): "
                "Railway pulls it with this token"
                if path == "registryToken"
                else "a service deploys with it"
            )
            found.append(
                (f"secrets.{path}", f"missing: {why}", fix(f"secrets.{path}", "missing", stack))
            )
    return found


def _acting_problems(raw: Mapping[str, Any], stack: str) -> list[Problem]:
    """A rollback service that acts needs its tokens; in dry run it is given none."""
    rollback, secrets = raw.get("rollback"), raw.get("secrets")
    if not isinstance(rollback, dict) or rollback.get("dryRun") is True:
        return []
    if not isinstance(secrets, dict):
        return []  # the model reports a missing or malformed `secrets` itself
    return [
        (
            f"secrets.{name}",
            "required while rollback.dryRun is false: the rollback service acts with it",
            fix(f"secrets.{name}", "missing", stack),
        )
        for name in ACTING_SECRETS
        if secrets.get(name) in (None, "")
    ]


def validate(
    raw: Mapping[str, Any],
    stack: str,
    secret_keys: Collection[str],
    stored_in_plain: Collection[str] = (),
    namespace: str | None = None,
) -> StackConfig:
    """Validate the project's raw config values (keys without the namespace).

    `secret_keys`: the keys the engine marks secret; `stored_in_plain`: `--path`s of secrets the
    stack file stores in plain text (the engine marks `secrets` secret when any value in it is).
    """
    plain = list(stored_in_plain)
    if "secrets" in raw and "secrets" not in secret_keys:
        plain += stackfile.unencrypted(raw["secrets"], "secrets")  # the engine decrypted them
    found = [plain_problem(path, stack) for path in plain]
    found += _acting_problems(raw, stack) + _missing_problems(raw, stack)
    try:
        # Strict, as JSON: `waitTimer: true` or `dryRun: "yes"` is a mistake, not a 1 or a True.
        config = StackConfig.model_validate_json(json.dumps(raw), strict=True)
    except ValidationError as error:
        found = validation_problems(error, stack) + found
    else:
        found += [
            (path, message, fix(path, kind, stack)) for path, message, kind in problems(config)
        ]
    if found:
        raise ConfigError(format_problems(found, stack, namespace or project_name()), found)
    return config


def raw_project_config(values: Mapping[str, str], namespace: str | None = None) -> dict[str, Any]:
    """Project keys of a flat Pulumi config map, with JSON objects decoded."""
    project = namespace or project_name()
    raw: dict[str, Any] = {}
    for full_key, value in values.items():
        key_namespace, _, key = full_key.partition(":")
        if key_namespace != project:
            continue
        try:
            raw[key] = json.loads(value)
        except (TypeError, ValueError, RecursionError):
            raw[key] = value
    return raw


def validate_values(
    values: Mapping[str, str],
    secret_keys: Collection[str],
    stack: str,
    stack_file: Mapping[str, Any] | None = None,
    namespace: str | None = None,
) -> StackConfig:
    """Validate the flat config map the engine hands a program (`namespace:key` -> string,
    objects as JSON; `secret_keys` namespaced too).

    The engine tells the program only whether a key holds *some* encrypted value (Pulumi marks
    an object secure when any value in it is), so one encrypted secret would vouch for plain
    ones beside it; `stack_file`, the stack file's `config` mapping, tells which are which.
    """
    project = namespace or project_name()
    secret = {k.partition(":")[2] for k in secret_keys if k.startswith(f"{project}:")}
    plain = [] if stack_file is None else stored_in_plain(stack_file, project)
    return validate(raw_project_config(values, project), stack, secret, plain, project)


def stored_in_plain(stack_file: Mapping[str, Any], namespace: str | None = None) -> list[str]:
    """The `--path`s of the values under `secrets` that a stack file's config stores unencrypted."""
    project = namespace or project_name()
    return stackfile.unencrypted(stack_file.get(f"{project}:secrets"), "secrets")


def _deployed_stack_file(stack: str) -> dict[str, Any] | None:
    """Under `pulumi up`, the stack file beside Pulumi.yaml, read as strictly as the synth reads
    it. Under the mock runtime there is none: its caller (tools.synth) checks its own."""
    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.settings import get_monitor

    if isinstance(get_monitor(), MockMonitor):
        return None
    path = Path(pulumi.get_root_directory() or ".") / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        return None
    try:
        return stackfile.read(path)
    except stackfile.StackFileError as error:
        raise ConfigError(f"Stack '{stack}': {error}") from None


@functools.cache
def _provider_keys() -> dict[str, frozenset[str] | None]:
    """Namespace -> config keys of each installed provider SDK (its `pulumi-plugin.json` names
    the namespace, its generated `config/vars.py` reads the keys); None: any key."""
    found: dict[str, frozenset[str] | None] = {"pulumi": None}
    for entry in sys.path:
        for plugin in Path(entry or ".").glob("*/pulumi-plugin.json"):
            meta = json.loads(plugin.read_text())
            if not (meta.get("resource") and meta.get("name")):
                continue
            variables = plugin.parent / "config" / "vars.py"
            keys = re.findall(r"__config__\.get\w*\('([^']+)'", variables.read_text()) \
                if variables.is_file() else None  # fmt: skip
            found.setdefault(meta["name"], None if keys is None else frozenset(keys))
    return found


def check_namespaces(
    keys: Iterable[str],
    stack: str,
    namespace: str | None = None,
    file: str | None = None,
    also: Callable[[], object] | None = None,
) -> None:
    """Refuse config keys that nothing reads, before any resource is registered: a namespace
    typo (`my-pipline:monitoring`), a key without a namespace, or a key its provider does not
    have. Such a key would otherwise pass and change nothing. `file`: where the keys were read
    (default: the stack's own file, Pulumi.STACK.yaml). `also`: the validation to run when one
    is refused, whose problems the same message lists (every problem at once)."""
    project = namespace or project_name()
    providers = _provider_keys()
    found: list[tuple[str, str, str]] = []  # key, what is wrong, the key it probably means
    for full_key in sorted(keys):
        key_namespace, colon, key = full_key.partition(":")
        known = providers.get(key_namespace)
        if key_namespace == project or (key_namespace in providers and known is None):
            continue
        if not colon:
            found.append((full_key, "has no namespace", f"{project}:{full_key}"))
        elif known is None:
            close = difflib.get_close_matches(key_namespace, [project, *providers], n=1)
            guess = f"{(close or [project])[0]}:{key}"
            found.append((full_key, f"unknown namespace '{key_namespace}'", guess))
        elif key.split(".")[0] not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            guess = f"{key_namespace}:{close[0]}" if close else ""
            keys_read = ", ".join(sorted(known))
            found.append((full_key, f"the {key_namespace} provider reads only {keys_read}", guess))
    if not found:
        return
    others: tuple[Problem, ...] = ()
    if also is not None:
        try:
            also()
        except ConfigError as error:
            others = error.problems
    lines = [f"Stack '{stack}' has {len(found) + len(others)} configuration problem(s):"]
    for full_key, problem, guess in found:
        lines.append(f"  - {full_key}: {problem}, so nothing reads this key")
        rename = f"rename it to {guess} in {file or f'Pulumi.{stack}.yaml'}, or " if guess else ""
        lines.append(f"      fix: {rename}pulumi config rm '{full_key}' --stack {stack}")
    if others:
        lines += format_problems(others, stack, project).splitlines()[1:]
    raise ConfigError("\n".join(lines), others)


def load() -> StackConfig:
    """Read and validate the running stack's config (under `pulumi up` or the mock runtime). The
    namespace is the running project's name (Pulumi.yaml's)."""
    from pulumi.runtime import config as runtime_config

    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    stack = pulumi.get_stack()
    project = pulumi.get_project()
    secret_keys = [key for key in values if runtime_config.is_config_secret(key)]

    def validated() -> StackConfig:
        return validate_values(values, secret_keys, stack, _deployed_stack_file(stack), project)

    check_namespaces(values, stack, project, also=validated)
    return validated()
