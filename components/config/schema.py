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
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    SecretStr,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from components import stackfile
from monitoring.config import ConfigModel, MonitoringConfig
from policy.publishers import OFFICIAL_PUBLISHERS, publisher
from policy.secret_values import is_secret_name, secret_kind

PROJECT = "autonomica-pipeline"
ROOT = Path(__file__).resolve().parent.parent  # where Pulumi.yaml and the stack files live


Environment = Literal["staging", "production"]


def _https_url(value: str) -> str:
    origin = re.fullmatch(r"https://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:([0-9]{1,5}))?", value)
    if not origin:
        raise ValueError("must be an https:// origin without a path, e.g. https://autonomica.app")
    if origin[3] is not None and not 0 < int(origin[3]) <= 65535:
        raise ValueError("has a port outside 1..65535")
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
        # git accepts any Unicode, but a look-alike (a Cyrillic a in main) is another branch.
        or not value.isascii()
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
# Printable ASCII: a look-alike letter would name another check than the CI job's.
CheckName = Annotated[str, Field(pattern=r"^[ -~]{1,255}$")]
# A Docker Hub namespace (prom), or a registry and namespace (ghcr.io/acme): policy.publishers.
Publisher = Annotated[
    str, Field(pattern=r"^(?:[a-z0-9.-]+(?::[0-9]{1,5})?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*$")
]

# What the stack sets on the frontend itself (components/pipeline.py), and the names Vercel
# reserves (vercel.com/docs/environment-variables/reserved-environment-variables).
FRONTEND_VARIABLES = frozenset({"NODE_ENV", "NEXT_PUBLIC_ENVIRONMENT", "NEXT_PUBLIC_API_URL"})
VERCEL_RESERVED = frozenset(
    {
        "AWS_SECRET_KEY",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "NOW_REGION",
        "TZ",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
# Next.js inlines every NEXT_PUBLIC_ variable into the JavaScript it sends to browsers.
BROWSER_PREFIX = "NEXT_PUBLIC_"


def _server_only(name: str) -> str:
    if name.startswith(BROWSER_PREFIX):
        raise ValueError(
            f"{BROWSER_PREFIX}* variables are inlined into the browser bundle, where anyone can "
            "read them: a secret needs a name without that prefix"
        )
    if name in FRONTEND_VARIABLES:
        raise ValueError("the stack sets this variable itself")
    if name in VERCEL_RESERVED:
        raise ValueError("Vercel reserves this name")
    return name


SecretEnvName = Annotated[
    str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,254}$"), AfterValidator(_server_only)
]


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
    workflows: Literal["managed", "rendered"] = Field(
        "rendered",
        description="managed: `pulumi up` commits the app repository's workflows to the branch; "
        "rendered: `python -m tools.app_workflows` writes them for a team that commits by hand",
    )
    committer_app_id: int | None = Field(
        None,
        ge=1,
        description="this stack's own GitHub App (its deploy identity): its installation token "
        "commits the managed workflows, and only this stack's branch rulesets let it push; "
        "staging and production each name their own (docs/security.md)",
    )
    merge_bypass: list[Login] = Field(
        default_factory=list,
        max_length=10,
        validate_default=True,
        description="maintainers who may merge their own pull request without an approving "
        "review (the review ruleset's bypass, pull-request mode); the CI checks still bind them",
    )

    @model_validator(mode="after")
    def _managed_workflows_have_a_committer(self) -> Self:
        if self.workflows == "managed" and self.committer_app_id is None:
            raise ValueError(
                "github.workflows managed needs github.committerAppId: the branch rulesets "
                "refuse a direct commit from anyone they do not let bypass them"
            )
        return self

    @field_validator("merge_bypass")
    @classmethod
    def _someone_can_merge(cls, bypass: list[str], info: ValidationInfo) -> list[str]:
        """GitHub never counts the author's own approval: with N approvals required, no bypass
        and no team, a pull request needs N reviewers besides its author."""
        reviewers = info.data.get("reviewers") or []
        users = {r.user for r in reviewers if isinstance(r, UserReviewer)}
        has_team = any(isinstance(r, TeamReviewer) for r in reviewers)
        needed = info.data.get("required_approving_reviews", 0)
        blocked = needed and info.data.get("enforce_admins") and not has_team and not bypass
        if blocked and len(users) <= needed:
            raise ValueError(
                f"no one could merge into {info.data.get('branch')}: {needed} approval(s), no "
                f"bypass, {len(users)} reviewer(s), and GitHub never counts an author's own "
                "approval. Name here who may merge their own pull requests (the checks still "
                "bind them), or add reviewers, or lower requiredApprovingReviews"
            )
        return bypass

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
    allowed_image_publishers: list[Publisher] = Field(
        default_factory=lambda: list(OFFICIAL_PUBLISHERS),
        min_length=1,
        description="who may publish the images the stack runs (a Docker Hub namespace, or "
        "registry/namespace): an image receives the alerting secrets, so a pinned digest from "
        "anyone else is refused. The policy pack keeps its own list (allowedPublishers)",
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
    """The rollback service (this repository's `rollback/`), deployed as a Railway service by
    this repository's own deploy workflow, from the commit it deploys."""

    repository: RepositoryName = Field(description="owner/name of this pipeline repository")
    branch: Branch = Field(
        "main", description="the ref of this repository the app's manual rollback workflow runs"
    )
    dry_run: bool = Field(
        False, description="decide and report, but never call a platform (then it holds no token)"
    )
    public: bool = Field(
        False,
        description="give it the public domain of urls.rollback; by default it answers only on "
        "Railway's private network, where Alertmanager reaches it (with monitoring hosting "
        "external it is public, since an outside Alertmanager calls it)",
    )


class Secrets(ConfigModel):
    """Values that only ever travel as `pulumi.Output.secret` (README lists how to set each;
    docs/security.md says where each one goes and how to rotate it)."""

    railway_token: SecretStr | None = Field(
        None,
        min_length=1,
        description="project token of this stack's Railway environment: the rollback service's "
        "(RAILWAY_TOKEN); required unless rollback.dryRun",
    )
    railway_deploy_token: SecretStr = Field(
        min_length=1,
        description="project token of this stack's Railway environment: `railway up` in the "
        "deploy workflow (GitHub secret RAILWAY_TOKEN)",
    )
    vercel_token: SecretStr = Field(min_length=1)
    database_url: SecretStr = Field(min_length=1)
    redis_url: SecretStr = Field(min_length=1)
    slack_api_url: SecretStr = Field(min_length=1, description="Slack incoming webhook URL")
    pagerduty_routing_key: SecretStr = Field(min_length=1)
    smtp_password: SecretStr = Field(min_length=1)
    rollback_webhook_token: SecretStr = Field(
        min_length=16, description="bearer token Alertmanager sends to the rollback service"
    )
    rollback_github_token: SecretStr | None = Field(
        None,
        min_length=1,
        description="fine-grained GitHub token of the rollback service, limited to the app "
        "repository with Environments read and write (the freeze); required unless "
        "rollback.dryRun",
    )
    freeze_read_token: SecretStr = Field(
        min_length=1,
        description="fine-grained GitHub token limited to the app repository with Environments "
        "read: the deploy job re-reads the freeze before each platform step (FREEZE_READ_TOKEN)",
    )
    grafana_admin_password: SecretStr = Field(
        min_length=12, description="Grafana's `admin` password (set when its database is created)"
    )
    prometheus_password: SecretStr = Field(
        min_length=16,
        max_length=72,
        description="Prometheus' login (user `prometheus`): Grafana's datasource and its own "
        "scrape use it (monitoring.webauth)",
    )
    alertmanager_password: SecretStr = Field(
        min_length=16,
        max_length=72,
        description="Alertmanager's login (user `alertmanager`): Prometheus, amtool and people "
        "use it",
    )
    frontend_env: dict[SecretEnvName, SecretStr] = Field(
        default_factory=dict, description="extra sensitive variables of the Vercel frontend"
    )

    @field_validator("*")
    @classmethod
    def _no_surrounding_whitespace(cls, value: Any) -> Any:
        """The servers trim a secret they read from a file (Alertmanager's token, a
        password_file) while the other side holds it exactly: a stray newline would make the
        two differ. Refused, never trimmed, so every side holds the same bytes."""
        secrets = value.values() if isinstance(value, dict) else [value]
        for secret in secrets:
            if isinstance(secret, SecretStr) and secret.get_secret_value() != (
                secret.get_secret_value().strip()
            ):
                raise ValueError(
                    "starts or ends with whitespace (a newline from a file or an echo?); set it "
                    "again without"
                )
        return value


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

    @field_validator("monitoring")
    @classmethod
    def _images_from_allowed_publishers(
        cls, monitoring: MonitoringConfig, info: ValidationInfo
    ) -> MonitoringConfig:
        railway = info.data.get("railway")
        if railway is None or monitoring.servers.hosting != "railway":
            return monitoring
        images = monitoring.servers.images
        foreign = [
            f"monitoring.servers.images.{to_camel(name)} is published by "
            f"{publisher(image)!r}, not one of railway.allowedImagePublishers "
            f"({', '.join(railway.allowed_image_publishers)})"
            for name, image in images.model_dump().items()
            if publisher(image) not in railway.allowed_image_publishers
        ]
        if foreign:
            raise ValueError(
                "; ".join(foreign) + ": the image would receive the alerting secrets; use the "
                "official image, or add its publisher once you trust it"
            )
        return monitoring

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def rollback_is_public(self) -> bool:
        """The rollback service answers at urls.rollback: the stack asks for it, or its
        Alertmanager runs outside Railway's private network (hosting external)."""
        return self.rollback.public or self.monitoring.servers.hosting == "external"


SECRET_KEYS = ("secrets",)
# The rollback service's platform tokens: it acts with them, and holds none in dry run.
ACTING_SECRETS = ("railwayToken", "rollbackGithubToken")
MAX_SHOWN = 60  # characters of a value an error message shows
MAX_PROBLEMS = 30  # problems listed; the count says how many more


def required_secrets() -> list[str]:
    """The camelCase names of the secrets a stack must set: every one, but the rollback
    service's tokens (ACTING_SECRETS) only while it acts (rollback.dryRun false)."""
    required = [str(f.alias) for f in Secrets.model_fields.values() if f.is_required()]
    return [*required, *ACTING_SECRETS]


def _acting_problems(raw: Mapping[str, Any], stack: str) -> list[tuple[str, str, str]]:
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
            _fix(f"secrets.{name}", "missing", stack),
        )
        for name in ACTING_SECRETS
        if secrets.get(name) in (None, "")
    ]


def secret_paths() -> list[str]:
    """The `--path` of every required secret, as `pulumi config set` spells it."""
    return [f"secrets.{name}" for name in required_secrets()]


class ConfigError(pulumi.RunError):
    """A stack file that cannot be deployed. Pulumi prints a RunError without a traceback."""


def _clip(text: str, width: int = MAX_SHOWN) -> str:
    return text if len(text) <= width else f"{text[: width - 1]}…"


def _path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as `pulumi config --path` spells it: github.reviewers[0].user."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{_clip(str(part))}"
    return path.lstrip(".")


def _fix(path: str, error_type: str, stack: str) -> str:
    if error_type == "extra_forbidden" or path.endswith("[key]"):
        return f"pulumi config rm --path '{path.removesuffix('.[key]')}' --stack {stack}"
    if path.startswith("secrets"):
        return (
            f"pulumi config set --secret --path '{path}' --stack {stack}  (value read from stdin)"
        )
    return f"pulumi config set --path '{path}' VALUE --stack {stack}"


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
        return f" (got {_clip(json.dumps(value[: MAX_SHOWN + 1]))})"
    return f" (got {_clip(json.dumps(value, default=str))})"


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the model at `loc`'s parent knows, for "did you mean" (none inside a list)."""
    model: type[BaseModel] = StackConfig
    for part in loc[:-1]:
        fields = {f.alias: f for f in model.model_fields.values()}
        annotation = fields[part].annotation if part in fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [str(f.alias) for f in model.model_fields.values()]


def _hint(loc: tuple[int | str, ...], error_type: str) -> str:
    if error_type != "extra_forbidden":
        return ""
    close = difflib.get_close_matches(str(loc[-1]), _known_keys(loc), n=1)
    return f" (did you mean {'.'.join(map(str, (*loc[:-1], close[0])))}?)" if close else ""


def _is_model_name(part: str) -> bool:
    return part[:1].isupper() and any(c.islower() for c in part)


def _validation_problems(error: ValidationError, stack: str) -> list[tuple[str, str, str]]:
    problems = []
    for item in error.errors(include_url=False):
        # Union members show up as extra loc parts (e.g. "UserReviewer"); drop them from the path.
        # (Keys are camelCase, and variable names have no lowercase letter.)
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and _is_model_name(p)))
        # A default that fails validation is located by its field name: say it as the file does.
        loc = tuple(
            to_camel(p) if isinstance(p, str) and re.fullmatch(r"[a-z]+(_[a-z0-9]+)+", p) else p
            for p in loc
        )
        path = _path(loc)
        message = _clip(item["msg"], 300) + _hint(loc, item["type"]) + _got(item, path)
        problems.append((path, message, _fix(path, item["type"], stack)))
    return problems


def _plain_problem(path: str, stack: str) -> tuple[str, str, str]:
    path = _clip(path, 200)
    return (
        path,
        "stored in plain text; every value under secrets must be encrypted "
        "(rotate it if the file was ever committed)",
        f"pulumi config set --secret --path '{path}' --stack {stack}  (value read from stdin)",
    )


def format_problems(problems: Collection[tuple[str, str, str]], stack: str) -> str:
    """One message: every (key path, problem, fix), the same line once, at most MAX_PROBLEMS."""
    unique = list(dict.fromkeys(problems))
    lines = [f"Stack '{stack}' has {len(unique)} configuration problem(s):"]
    for path, message, fix in unique[:MAX_PROBLEMS]:
        lines += [f"  - {PROJECT}:{path}: {message}", f"      fix: {fix}"]
    if len(unique) > MAX_PROBLEMS:
        lines.append(f"  ... and {len(unique) - MAX_PROBLEMS} more")
    return "\n".join(lines)


def validate(
    raw: Mapping[str, Any],
    stack: str,
    secret_keys: Collection[str],
    stored_in_plain: Collection[str] = (),
) -> StackConfig:
    """Validate the project's raw config values (keys without the namespace).

    `secret_keys`: the keys the engine marks secret; `stored_in_plain`: `--path`s of secrets the
    stack file stores in plain text (the engine marks `secrets` secret when any value in it is).
    """
    plain = list(stored_in_plain)
    if "secrets" in raw and "secrets" not in secret_keys:
        plain += stackfile.unencrypted(raw["secrets"], "secrets")  # the engine decrypted them
    problems = [_plain_problem(path, stack) for path in plain] + _acting_problems(raw, stack)
    try:
        # Strict, as JSON: `waitTimer: true` or `dryRun: "yes"` is a mistake, not a 1 or a True.
        config = StackConfig.model_validate_json(json.dumps(raw), strict=True)
    except ValidationError as error:
        problems = _validation_problems(error, stack) + problems
    if problems:
        raise ConfigError(format_problems(problems, stack))
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
        except (TypeError, ValueError, RecursionError):
            raw[key] = value
    return raw


def validate_values(
    values: Mapping[str, str],
    secret_keys: Collection[str],
    stack: str,
    stack_file: Mapping[str, Any] | None = None,
) -> StackConfig:
    """Validate the flat config map the engine hands a program (`namespace:key` -> string,
    objects as JSON; `secret_keys` namespaced too).

    The engine tells the program only whether a key holds *some* encrypted value (Pulumi marks
    an object secure when any value in it is), so one encrypted secret would vouch for plain
    ones beside it; `stack_file`, the stack file's `config` mapping, tells which are which.
    """
    secret = {k.partition(":")[2] for k in secret_keys if k.startswith(f"{PROJECT}:")}
    plain = [] if stack_file is None else stored_in_plain(stack_file)
    return validate(raw_project_config(values), stack, secret, plain)


def stored_in_plain(stack_file: Mapping[str, Any]) -> list[str]:
    """The `--path`s of the values under `secrets` that a stack file's config stores unencrypted."""
    return stackfile.unencrypted(stack_file.get(f"{PROJECT}:secrets"), "secrets")


def _deployed_stack_file(stack: str) -> dict[str, Any] | None:
    """Under `pulumi up`, the stack file beside Pulumi.yaml, read as strictly as the synth reads
    it. Under the mock runtime there is none: its caller (tools.synth) checks its own."""
    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.settings import get_monitor

    path = ROOT / f"Pulumi.{stack}.yaml"
    if isinstance(get_monitor(), MockMonitor) or not path.is_file():
        return None
    try:
        return stackfile.read(path)
    except stackfile.StackFileError as error:
        raise ConfigError(f"Stack '{stack}': {error}") from None


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
    stack = pulumi.get_stack()
    check_namespaces(values, stack)
    secret_keys = [key for key in values if runtime_config.is_config_secret(key)]
    return validate_values(values, secret_keys, stack, _deployed_stack_file(stack))
