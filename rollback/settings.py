"""The service's settings, all from its environment (Railway variables; secrets are Pulumi
secrets). `ENV` lists every variable name: `deploy.service_spec` publishes it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import ErrorDetails

from monitoring import yamlfile
from monitoring.durations import Duration
from monitoring.rollback import RollbackServices

Positive = Annotated[Duration, Field(gt=timedelta(0))]

# field name -> environment variable
ENV: dict[str, str] = {
    "config_file": "ROLLBACK_CONFIG_FILE",
    "config_yaml": "ROLLBACK_CONFIG",
    "services_file": "ROLLBACK_SERVICES_FILE",
    "services_yaml": "ROLLBACK_SERVICES",
    "webhook_token": "ROLLBACK_WEBHOOK_TOKEN",
    "dry_run": "ROLLBACK_DRY_RUN",
    "audit_log": "ROLLBACK_AUDIT_LOG",
    "audit_max_bytes": "ROLLBACK_AUDIT_MAX_BYTES",
    "lockout": "ROLLBACK_SERVICE_LOCKOUT",
    "settle": "ROLLBACK_SETTLE",
    "freeze_retry": "ROLLBACK_FREEZE_RETRY",
    "gradual_watch": "ROLLBACK_GRADUAL_WATCH",
    "request_timeout": "ROLLBACK_REQUEST_TIMEOUT",
    "notify_limit": "ROLLBACK_NOTIFY_LIMIT",
    "notify_window": "ROLLBACK_NOTIFY_WINDOW",
    "railway_project_id": "RAILWAY_PROJECT_ID",
    "railway_api_url": "RAILWAY_API_URL",
    "railway_api_token": "RAILWAY_API_TOKEN",
    "railway_token": "RAILWAY_TOKEN",
    "vercel_token": "VERCEL_TOKEN",
    "vercel_project_id": "VERCEL_PROJECT_ID",
    "vercel_team_id": "VERCEL_TEAM_ID",
    "vercel_api_url": "VERCEL_API_URL",
    "github_token": "GITHUB_TOKEN",
    "github_repository": "GITHUB_REPOSITORY",
    "github_environment": "GITHUB_ENVIRONMENT",
    "github_api_url": "GITHUB_API_URL",
    "freeze_variable": "ROLLBACK_FREEZE_VARIABLE",
    "freeze_reason_variable": "ROLLBACK_FREEZE_REASON_VARIABLE",
    "slack_webhook_url": "SLACK_WEBHOOK_URL",
    "pagerduty_routing_key": "PAGERDUTY_ROUTING_KEY",
    "pagerduty_url": "PAGERDUTY_URL",
    "smtp_host": "SMTP_HOST",
    "smtp_port": "SMTP_PORT",
    "smtp_username": "SMTP_USERNAME",
    "smtp_password": "SMTP_PASSWORD",
    "smtp_from": "SMTP_FROM",
    "smtp_to": "SMTP_TO",
    "smtp_starttls": "SMTP_STARTTLS",
}
SECRETS = frozenset(
    {
        "ROLLBACK_WEBHOOK_TOKEN",
        "RAILWAY_API_TOKEN",
        "RAILWAY_TOKEN",
        "VERCEL_TOKEN",
        "GITHUB_TOKEN",
        "SLACK_WEBHOOK_URL",
        "PAGERDUTY_ROUTING_KEY",
        "SMTP_PASSWORD",
    }
)
Optional = Annotated[str | None, Field(min_length=1)]
VOLUME = Path("/data")  # where Railway mounts the service's volume (rollback.deploy)
AUDIT_FILE = "rollback-audit.jsonl"


def _no_surrounding_space(secret: SecretStr) -> SecretStr:
    """Alertmanager trims the token file it reads: a token with a leading or trailing space or
    newline would never match what it sends. Refused rather than trimmed, so the two sides
    always hold the same bytes."""
    value = secret.get_secret_value()
    if value != value.strip():
        raise ValueError(
            "starts or ends with whitespace (a newline from a file?); Alertmanager trims the "
            "token it sends, so it would never match: set it without"
        )
    return secret


class SettingsError(Exception):
    """Bad or missing settings: one message listing each variable, never its value."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The rendered rollback-config.yml: a path, or its content (a Railway variable).
    config_file: Path | None = None
    config_yaml: str | None = None
    # The rendered rollback-services.yml (which services, on which platform): the same way.
    services_file: Path | None = None
    services_yaml: str | None = None
    webhook_token: Annotated[SecretStr, AfterValidator(_no_surrounding_space)] = Field(
        min_length=16
    )
    dry_run: bool = False
    audit_log: Path  # from_env: on the volume unless ROLLBACK_AUDIT_LOG says where
    # Each of the two files (the log and <log>.1) stays below this.
    audit_max_bytes: int = Field(16 * 1024 * 1024, ge=64 * 1024)
    lockout: Positive = timedelta(hours=24)
    # A group still firing this long after its plan finished is escalated to people.
    settle: Positive = timedelta(minutes=10)
    # A failed deploy freeze is tried again after this, then twice as long each time (30m cap).
    freeze_retry: Positive = timedelta(minutes=1)
    gradual_watch: Positive = timedelta(minutes=5)
    request_timeout: Positive = timedelta(seconds=10)
    # At most this many messages per channel in any window; more go out as one digest.
    notify_limit: int = Field(10, ge=1, le=1000)
    notify_window: Positive = timedelta(minutes=1)
    railway_project_id: Optional = None
    railway_api_url: str = "https://backboard.railway.com/graphql/v2"
    railway_api_token: SecretStr | None = None
    railway_token: SecretStr | None = None
    vercel_token: SecretStr | None = None
    vercel_project_id: Optional = None
    vercel_team_id: Optional = None
    vercel_api_url: str = "https://api.vercel.com"
    github_token: SecretStr | None = None
    github_repository: Annotated[str | None, Field(pattern=r"^[\w.-]+/[\w.-]+$")] = None
    github_environment: Optional = None  # default: the policy's environment
    github_api_url: str = "https://api.github.com"
    freeze_variable: str = Field("DEPLOY_FREEZE", pattern=r"^[A-Z_][A-Z0-9_]*$")
    # Why the freeze is on (rollback.budget): the freeze gate lets reliability fixes through an
    # error-budget freeze, never through another.
    freeze_reason_variable: str = Field("DEPLOY_FREEZE_REASON", pattern=r"^[A-Z_][A-Z0-9_]*$")
    slack_webhook_url: SecretStr | None = None
    pagerduty_routing_key: SecretStr | None = None
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    smtp_host: Optional = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: Optional = None
    smtp_password: SecretStr | None = None
    smtp_from: Optional = None
    smtp_to: Optional = None
    smtp_starttls: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, volume: Path = VOLUME) -> Settings:
        """The settings, or one SettingsError listing every problem with its fix. Without
        ROLLBACK_AUDIT_LOG the log goes on `volume` (Railway's), which must then exist."""
        data = {field: env[name] for field, name in ENV.items() if env.get(name)}
        problems: list[tuple[str, str]] = []
        if "audit_log" not in data:
            if volume.is_dir():
                data["audit_log"] = str(volume / AUDIT_FILE)
            else:
                problems.append(("ROLLBACK_AUDIT_LOG", f"not set, and {volume} does not exist"))
        for variable, field in (("ROLLBACK_CONFIG", "config"), ("ROLLBACK_SERVICES", "services")):
            if (f"{field}_file" in data) == (f"{field}_yaml" in data):
                given = "both are set" if f"{field}_file" in data else "neither is set"
                problems.append((variable, f"set exactly one of it and {variable}_FILE: {given}"))
        if not _dry_run(data.get("dry_run")):
            problems += [
                (name, "missing: needed to act (outside dry run)")
                for name, fields in acting(_platforms(data)).items()
                if not any(data.get(f) for f in fields)
            ]
        try:
            settings = cls.model_validate(data)
        except ValidationError as error:
            # include_input=False: a bad token must not end up in the service's logs.
            ours = {name for name, _ in problems}
            fields = [
                (name, _what(e))
                for e in error.errors(include_input=False, include_url=False)
                if (name := ENV.get(str(e["loc"][0]), "(settings)") if e["loc"] else "(settings)")
                not in ours
            ]
            problems = [*fields, *problems]
        if problems:
            raise SettingsError(
                f"{len(problems)} problem(s) with the rollback settings (environment "
                "variables); nothing was started:\n"
                + "\n".join(
                    f"  - {name}: {what}\n      fix: {_fix(name)}" for name, what in problems
                )
            )
        return settings


# Outside dry run every platform it acts on must be reachable: a rollback must not discover at
# 3 a.m. that it has no token. Name (as told) -> the fields any one of which is enough.
Needs = dict[str, tuple[str, ...]]
ACTING_ALWAYS: Needs = {
    "GITHUB_TOKEN": ("github_token",),
    "GITHUB_REPOSITORY": ("github_repository",),
}
ACTING_ON: dict[str, Needs] = {
    "railway": {
        "RAILWAY_PROJECT_ID": ("railway_project_id",),
        "RAILWAY_API_TOKEN or RAILWAY_TOKEN": ("railway_api_token", "railway_token"),
    },
    "vercel": {
        "VERCEL_TOKEN": ("vercel_token",),
        "VERCEL_PROJECT_ID": ("vercel_project_id",),
    },
}
# Every setting that only acting needs, whatever the platforms.
ACTING: Needs = {**ACTING_ALWAYS, **{k: v for on in ACTING_ON.values() for k, v in on.items()}}


def acting(platforms: frozenset[str]) -> Needs:
    """What acting on services of these platforms needs."""
    needed: Needs = {}
    for platform in sorted(platforms):
        needed |= ACTING_ON.get(platform, {})
    return needed | ACTING_ALWAYS


def read_services(text: str) -> RollbackServices:
    return RollbackServices.model_validate(yamlfile.load(text))


def _platforms(data: Mapping[str, str]) -> frozenset[str]:
    """The platforms of the services it may act on: all of them while unreadable (reported as a
    problem of its own when the service loads it)."""
    try:
        text = data.get("services_yaml") or Path(data["services_file"]).read_text()
        services = read_services(text).services.values()
    except (KeyError, OSError, ValueError, yaml.YAMLError):
        return frozenset(ACTING_ON)
    return frozenset(s.platform for s in services)


FIXES = {
    "ROLLBACK_WEBHOOK_TOKEN": "set it to the token in Alertmanager's rollback-webhook-token file "
    "(16 characters or more)",
    "ROLLBACK_CONFIG": "set ROLLBACK_CONFIG_FILE to the stack's rendered rollback-config.yml "
    "(`python -m tools.synth --stack staging` writes build/staging/monitoring/"
    "rollback-config.yml), or ROLLBACK_CONFIG to its content",
    "ROLLBACK_SERVICES": "set ROLLBACK_SERVICES_FILE to the stack's rendered "
    "rollback-services.yml (beside rollback-config.yml), or ROLLBACK_SERVICES to its content",
    "ROLLBACK_AUDIT_LOG": f"set it to a file on a volume that survives restarts ({VOLUME}/"
    f"{AUDIT_FILE} on Railway; on a workstation, e.g. build/{AUDIT_FILE})",
    "GITHUB_REPOSITORY": "set it to owner/name of the app repository, or ROLLBACK_DRY_RUN=true "
    "to only decide",
}


def _fix(name: str) -> str:
    if name in FIXES:
        return FIXES[name]
    if name in ACTING:
        return f"set {name}, or ROLLBACK_DRY_RUN=true to only decide"
    return f"set {name} to a valid value (docs/rollback.md lists the settings)"


def _what(error: ErrorDetails) -> str:
    if error["type"] == "missing":
        return "missing"
    if error["type"] == "too_short":  # pydantic's text would tell a secret's length
        return f"shorter than {error.get('ctx', {}).get('min_length')} characters"
    return error["msg"].removeprefix("Value error, ")


def _dry_run(value: str | None) -> bool:
    try:
        return value is not None and TypeAdapter(bool).validate_python(value)
    except ValidationError:
        return False  # reported as a problem of its own
