"""The service's settings, all from its environment (Railway variables; secrets are Pulumi
secrets). `ENV` lists every variable name: `deploy.service_spec` publishes it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from monitoring.durations import Duration

Positive = Annotated[Duration, Field(gt=timedelta(0))]

# field name -> environment variable
ENV: dict[str, str] = {
    "config_file": "ROLLBACK_CONFIG_FILE",
    "config_yaml": "ROLLBACK_CONFIG",
    "webhook_token": "ROLLBACK_WEBHOOK_TOKEN",
    "dry_run": "ROLLBACK_DRY_RUN",
    "audit_log": "ROLLBACK_AUDIT_LOG",
    "audit_max_bytes": "ROLLBACK_AUDIT_MAX_BYTES",
    "cooldown": "ROLLBACK_COOLDOWN",
    "lockout": "ROLLBACK_SERVICE_LOCKOUT",
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


class SettingsError(Exception):
    """Bad or missing settings: one message listing each variable, never its value."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The rendered rollback-config.yml: a path, or its content (a Railway variable).
    config_file: Path | None = None
    config_yaml: str | None = None
    webhook_token: SecretStr = Field(min_length=16)
    dry_run: bool = False
    audit_log: Path = Path("/data/rollback-audit.jsonl")
    # Each of the two files (the log and <log>.1) stays below this.
    audit_max_bytes: int = Field(16 * 1024 * 1024, ge=64 * 1024)
    cooldown: Positive = timedelta(hours=24)
    lockout: Positive = timedelta(hours=24)
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

    @model_validator(mode="after")
    def _one_config(self) -> Self:
        if (self.config_file is None) == (self.config_yaml is None):
            raise ValueError("set exactly one of ROLLBACK_CONFIG_FILE and ROLLBACK_CONFIG")
        return self

    @model_validator(mode="after")
    def _platforms_when_acting(self) -> Self:
        """Outside dry_run, every platform must be reachable: a rollback must not discover at
        3 a.m. that it has no token."""
        if self.dry_run:
            return self
        needed = {
            "RAILWAY_PROJECT_ID": self.railway_project_id,
            "RAILWAY_API_TOKEN or RAILWAY_TOKEN": self.railway_api_token or self.railway_token,
            "VERCEL_TOKEN": self.vercel_token,
            "VERCEL_PROJECT_ID": self.vercel_project_id,
            "GITHUB_TOKEN": self.github_token,
            "GITHUB_REPOSITORY": self.github_repository,
        }
        missing = [name for name, value in needed.items() if not value]
        if missing:
            raise ValueError(
                f"missing {', '.join(missing)} (or set ROLLBACK_DRY_RUN=true to only decide)"
            )
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        data = {field: env[name] for field, name in ENV.items() if env.get(name)}
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            # include_input=False: a bad token must not end up in the service's logs.
            problems = [
                f"{ENV.get(str(e['loc'][0]), str(e['loc'][0])) if e['loc'] else '(settings)'}: "
                f"{e['msg']}"
                for e in error.errors(include_input=False, include_url=False)
            ]
            raise SettingsError("invalid rollback settings: " + "; ".join(problems)) from None
