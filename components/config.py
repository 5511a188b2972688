"""The stack configuration: the one place where `Pulumi.<stack>.yaml` is validated.

Every key lives under the project namespace (`autonomica-pipeline:<key>`) and uses camelCase.
`load()` reads the raw values, validates them all at once and raises `ConfigError` with one
message listing every problem, its key path, what is allowed and the command that fixes it.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import pulumi
from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    StrictBool,
    ValidationError,
    field_validator,
)

from monitoring.config import ConfigModel, MonitoringConfig

PROJECT = "autonomica-pipeline"


Environment = Literal["staging", "production"]


def _https_url(value: str) -> str:
    if not re.fullmatch(r"https://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?", value):
        raise ValueError("must be an https:// origin without a path, e.g. https://autonomica.app")
    return value


def _branch(value: str) -> str:
    # The subset of git-check-ref-format that matters for a branch we deploy from.
    bad = (
        not value
        or value.startswith(("-", "/", "."))
        or value.endswith(("/", ".", ".lock"))
        or ".." in value
        or "//" in value
        or "@{" in value
        or re.search(r"[\s~^:?*\[\\\x00-\x1f\x7f]", value)
    )
    if bad:
        raise ValueError("must be a valid git branch name, e.g. main or develop")
    return value


HttpsUrl = Annotated[str, AfterValidator(_https_url)]
Branch = Annotated[str, AfterValidator(_branch)]
# GitHub logins: alphanumerics and single hyphens, at most 39 characters.
Login = Annotated[str, Field(max_length=39, pattern=r"^[A-Za-z0-9](?:-?[A-Za-z0-9])*$")]
TeamSlug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")]
# GitHub environment names: at most 255 characters; we also keep them shell- and URL-safe.
EnvironmentName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")]
RepositoryName = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
]
CheckName = Annotated[str, Field(min_length=1, max_length=255)]
EnvName = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,254}$")]


class UserReviewer(ConfigModel):
    user: Login


class TeamReviewer(ConfigModel):
    team: TeamSlug


class GitHubConfig(ConfigModel):
    repository: RepositoryName = Field(description="owner/name of the application repository")
    environment: EnvironmentName = Field(description="the GitHub deployment environment")
    branch: Branch = Field(description="the only branch that deploys to this environment")
    # GitHub allows at most six reviewers (users and teams together) per environment.
    reviewers: list[UserReviewer | TeamReviewer] = Field(default_factory=list, max_length=6)
    wait_timer: int = Field(0, ge=0, le=43200, description="minutes to wait before a deploy")
    prevent_self_review: bool = False
    can_admins_bypass: bool = False
    deployment_branch_policy: Literal["custom", "protected"] = "custom"
    required_checks: list[CheckName] = Field(min_length=1)
    required_approving_reviews: int = Field(1, ge=0, le=10)
    enforce_admins: bool = True

    @property
    def owner(self) -> str:
        return self.repository.split("/")[0]

    @property
    def name(self) -> str:
        return self.repository.split("/")[1]


class VercelConfig(ConfigModel):
    team: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,47}$", description="Vercel team slug")
    # Vercel project names: lowercase, up to 100 characters, letters, digits and ._-
    project: str = Field(pattern=r"^[a-z0-9._-]{1,100}$")
    layout: Literal["project-per-stack", "shared"] = Field(
        "project-per-stack",
        description="shared: staging deploys as previews of its branch in production's project",
    )
    root_directory: str = Field("autonomica-frontend", pattern=r"^[A-Za-z0-9._/-]+$")
    node_version: Literal["20.x", "22.x"] = "22.x"


class RailwayConfig(ConfigModel):
    project_id: str = Field(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        description="the Railway project (a UUID) that holds one environment per stack",
    )
    backend_root_directory: str = Field("autonomica-api", pattern=r"^[A-Za-z0-9._/-]+$")
    worker_root_directory: str = Field("autonomica-api", pattern=r"^[A-Za-z0-9._/-]+$")
    retain_on_delete: bool | None = Field(
        None, description="keep the services when the stack drops them; default: production only"
    )
    app_port: int = Field(
        8000, ge=1, le=65535, description="PORT the backend and worker listen on (and /metrics)"
    )


class FeatureFlags(ConfigModel):
    """Each flag becomes NEXT_PUBLIC_FEATURE_<NAME>. Every stack file sets every flag."""

    new_dashboard: StrictBool
    advanced_analytics: StrictBool
    ai_assistance: StrictBool

    def as_env(self) -> dict[str, str]:
        return {
            f"NEXT_PUBLIC_FEATURE_{name.upper()}": str(value).lower()
            for name, value in self.model_dump().items()
        }


class Urls(ConfigModel):
    frontend: HttpsUrl
    api: HttpsUrl
    worker: HttpsUrl
    rollback: HttpsUrl = Field(description="the rollback service's public origin")
    grafana: HttpsUrl = Field(description="Grafana's public origin, the only public monitoring")


class RollbackConfig(ConfigModel):
    """The rollback service (this repository's `rollback/`), deployed as a Railway service."""

    repository: RepositoryName = Field(description="owner/name of this pipeline repository")
    branch: Branch = "main"
    dry_run: bool = Field(False, description="decide and report, but never call a platform")


class Secrets(ConfigModel):
    """Values that only ever travel as `pulumi.Output.secret` (README lists how to set each)."""

    railway_token: SecretStr = Field(min_length=1)
    vercel_token: SecretStr = Field(min_length=1)
    database_url: SecretStr = Field(min_length=1)
    redis_url: SecretStr = Field(min_length=1)
    slack_api_url: SecretStr = Field(min_length=1, description="Slack incoming webhook URL")
    pagerduty_routing_key: SecretStr = Field(min_length=1)
    smtp_password: SecretStr = Field(min_length=1)
    rollback_webhook_token: SecretStr = Field(
        min_length=16, description="bearer token Alertmanager sends to the rollback service"
    )
    rollback_github_token: SecretStr = Field(
        min_length=1, description="GitHub token of the rollback service (environment variables)"
    )
    grafana_admin_password: SecretStr = Field(
        min_length=12, description="Grafana's `admin` password (set when its database is created)"
    )
    frontend_env: dict[EnvName, SecretStr] = Field(
        default_factory=dict, description="extra sensitive variables of the Vercel frontend"
    )


class StackConfig(ConfigModel):
    environment: Environment
    urls: Urls
    github: GitHubConfig
    vercel: VercelConfig
    railway: RailwayConfig
    feature_flags: FeatureFlags
    secrets: Secrets
    rollback: RollbackConfig
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)

    @field_validator("monitoring")
    @classmethod
    def _addresses_are_typed_once(cls, monitoring: MonitoringConfig) -> MonitoringConfig:
        problems = []
        if "rollback_webhook_url" in monitoring.receivers.model_fields_set:
            problems.append(
                "monitoring.receivers.rollbackWebhookUrl is derived (the rollback service's "
                "private address, or urls.rollback with hosting external); remove it"
            )
        if monitoring.servers.hosting == "railway" and "addresses" in monitoring.model_fields_set:
            problems.append(
                "monitoring.addresses is derived from the Railway services' private names; "
                "remove it, or set monitoring.servers.hosting to external"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return monitoring

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


SECRET_KEYS = ("secrets",)


def required_secrets() -> list[str]:
    """The camelCase names of the secrets every stack must set."""
    return [str(f.alias) for f in Secrets.model_fields.values() if f.is_required()]


def secret_paths() -> list[str]:
    """The `--path` of every required secret, as `pulumi config set` spells it."""
    return [f"secrets.{name}" for name in required_secrets()]


class ConfigError(pulumi.RunError):
    """A stack file that cannot be deployed. Pulumi prints a RunError without a traceback."""


def _path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as `pulumi config --path` spells it: github.reviewers[0].user."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path.lstrip(".")


def _fix(path: str, error_type: str, stack: str) -> str:
    if path.startswith("secrets"):
        return (
            f"pulumi config set --secret --path '{path}' --stack {stack}  (value read from stdin)"
        )
    if error_type == "extra_forbidden":
        return f"pulumi config rm --path '{path}' --stack {stack}"
    return f"pulumi config set --path '{path}' VALUE --stack {stack}"


def format_errors(error: ValidationError, stack: str) -> str:
    lines = [f"Stack '{stack}' has {error.error_count()} configuration problem(s):"]
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        # Union members show up as extra loc parts (e.g. "UserReviewer"); drop them from the path.
        loc = tuple(part for part in loc if not (isinstance(part, str) and part[:1].isupper()))
        shown = (
            ""
            if loc[:1] == ("secrets",) or item["type"] == "missing"
            else (f" (got {json.dumps(item['input'], default=str)})")
        )
        path = _path(loc)
        lines.append(f"  - {PROJECT}:{path}: {item['msg']}{shown}")
        lines.append(f"      fix: {_fix(path, item['type'], stack)}")
    return "\n".join(lines)


def validate(raw: Mapping[str, Any], stack: str, secret_keys: frozenset[str]) -> StackConfig:
    """Validate the project's raw config values (keys without the namespace)."""
    try:
        config = StackConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(format_errors(error, stack)) from None
    stored_in_plain = [key for key in SECRET_KEYS if key in raw and key not in secret_keys]
    if stored_in_plain:
        fixes = "\n".join(
            f"      fix: pulumi config set --secret --path '{path}' --stack {stack}"
            for path in secret_paths()
        )
        raise ConfigError(
            f"Stack '{stack}' has 1 configuration problem(s):\n"
            f"  - {PROJECT}:secrets: stored in plain text; every value under it must be a secret\n"
            f"{fixes}"
        )
    return config


def raw_project_config(values: Mapping[str, str]) -> dict[str, Any]:
    """Project keys of a flat Pulumi config map, with JSON objects decoded."""
    raw: dict[str, Any] = {}
    for full_key, value in values.items():
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT:
            continue
        try:
            raw[key] = json.loads(value)
        except (TypeError, ValueError):
            raw[key] = value
    return raw


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


def check_namespaces(keys: Iterable[str], stack: str) -> None:
    """Refuse config keys that nothing reads, before any resource is registered: a namespace
    typo (`autonomica-pipline:monitoring`), a key without a namespace, or a key its provider
    does not have. Such a key would otherwise pass and change nothing."""
    providers = _provider_keys()
    problems: list[tuple[str, str, str]] = []  # key, what is wrong, the key it probably means
    for full_key in sorted(keys):
        namespace, colon, key = full_key.partition(":")
        known = providers.get(namespace)
        if namespace == PROJECT or (namespace in providers and known is None):
            continue
        if not colon:
            problems.append((full_key, "has no namespace", f"{PROJECT}:{full_key}"))
        elif known is None:
            close = difflib.get_close_matches(namespace, [PROJECT, *providers], n=1)
            guess = f"{(close or [PROJECT])[0]}:{key}"
            problems.append((full_key, f"unknown namespace '{namespace}'", guess))
        elif key.split(".")[0] not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            guess = f"{namespace}:{close[0]}" if close else ""
            keys_read = ", ".join(sorted(known))
            problems.append((full_key, f"the {namespace} provider reads only {keys_read}", guess))
    if not problems:
        return
    lines = [f"Stack '{stack}' has {len(problems)} configuration problem(s):"]
    for full_key, problem, guess in problems:
        lines.append(f"  - {full_key}: {problem}, so nothing reads this key")
        rename = f"rename it to {guess} in Pulumi.{stack}.yaml, or " if guess else ""
        lines.append(f"      fix: {rename}pulumi config rm '{full_key}' --stack {stack}")
    raise ConfigError("\n".join(lines))


def load() -> StackConfig:
    """Read and validate the running stack's config (under `pulumi up` or the mock runtime)."""
    from pulumi.runtime import config as runtime_config

    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    check_namespaces(values, pulumi.get_stack())
    secret_keys = frozenset(
        key.partition(":")[2]
        for key in values
        if key.startswith(f"{PROJECT}:") and runtime_config.is_config_secret(key)
    )
    return validate(raw_project_config(values), pulumi.get_stack(), secret_keys)
