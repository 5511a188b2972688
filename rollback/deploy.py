"""How the stack deploys the service (for the Pulumi program; this module never imports pulumi).

The Pulumi program creates a Railway service with the Railway component using `start_command`
and `health_path`, sets `variables` (secrets as Pulumi secrets), points Alertmanager's rollback
receiver at `https://<service domain>` + `webhook_path`, and writes the same token to the file
Alertmanager reads (`monitoring.secret_files(config)["rollback_webhook_token"]`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from rollback.settings import ACTING_ON, ENV, SECRETS, VOLUME


class ServiceSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    start_command: str
    health_path: str
    webhook_path: str
    required_variables: tuple[str, ...]
    secret_variables: tuple[str, ...]
    optional_variables: tuple[str, ...]
    volume_mount: str  # the audit log (and the ledger rebuilt from it) must survive redeploys


# Where the service answers; rollback.app routes them, the stack points Alertmanager at them.
WEBHOOK_PATH = "/v1/alertmanager"
HEALTH_PATH = "/health"
# Fixed, so Alertmanager can reach it at rollback.railway.internal:PORT on the private network.
PORT = 8080

REQUIRED = (
    "ROLLBACK_CONFIG",
    "ROLLBACK_SERVICES",
    "ROLLBACK_WEBHOOK_TOKEN",
    "GITHUB_TOKEN",
    "GITHUB_REPOSITORY",
)
# What acting on each platform needs (rollback.settings.ACTING_ON says it for the service).
PLATFORM_REQUIRED = {
    "railway": ("RAILWAY_PROJECT_ID", "RAILWAY_API_TOKEN"),
    "vercel": ("VERCEL_TOKEN", "VERCEL_PROJECT_ID"),
}
assert PLATFORM_REQUIRED.keys() == ACTING_ON.keys()


def service_spec(
    name: str = "rollback",
    *,
    notifications: tuple[Literal["slack", "pagerduty", "email"], ...] = (),
    platforms: frozenset[str] = frozenset(PLATFORM_REQUIRED),
) -> ServiceSpec:
    """`notifications`: channels whose settings the stack provides (then they are required);
    `platforms`: where the services it rolls back run."""
    channel_vars = {
        "slack": ("SLACK_WEBHOOK_URL",),
        "pagerduty": ("PAGERDUTY_ROUTING_KEY",),
        "email": ("SMTP_HOST", "SMTP_FROM", "SMTP_TO", "SMTP_USERNAME", "SMTP_PASSWORD"),
    }
    on = tuple(v for p in sorted(platforms) for v in PLATFORM_REQUIRED[p])
    required = REQUIRED + on + tuple(v for c in notifications for v in channel_vars[c])
    optional = tuple(
        v
        for v in ENV.values()
        if v not in required and v not in ("ROLLBACK_CONFIG_FILE", "ROLLBACK_SERVICES_FILE")
    )
    return ServiceSpec(
        name=name,
        # `::`: legacy Railway environments reach services over IPv6 only (the stack sets PORT).
        start_command="python -m rollback serve --host ::",
        health_path=HEALTH_PATH,
        webhook_path=WEBHOOK_PATH,
        required_variables=required,
        secret_variables=tuple(v for v in (*required, *optional) if v in SECRETS),
        optional_variables=optional,
        volume_mount=str(VOLUME),
    )
