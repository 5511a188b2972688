"""alertmanager.yml and its notification templates.

Routing, in order: the always-firing Watchdog -> the heartbeat receiver, and nowhere else; then,
every route with `continue: true` so an alert reaches each channel it needs: rollback-labelled
-> rollback webhook (re-sent every `rollbackRepeatInterval` while it fires, so the rollback
service can escalate); critical -> PagerDuty (where the stack pages: production unless
`receivers.pagerduty` says otherwise); critical or warning -> email; everything -> Slack. A
strategy's notification channels therefore follow from its severity.
"""

from typing import Any

from monitoring.config import MonitoringConfig, Target
from monitoring.durations import format_duration
from monitoring.rules import HEALTH_ALERT, INHIBITED_BY_HEALTH, WATCHDOG_ALERT
from monitoring.secrets import placeholder
from monitoring.slo import inhibit_rules, webhook_routes

SLACK = "slack-critical"
PAGERDUTY = "pagerduty-critical"
EMAIL = "email"
ROLLBACK = "rollback-webhook"
WATCHDOG = "watchdog"  # the dead man's switch's heartbeat receiver
GROUP_BY = ("alertname", "service", "severity")
# Alerts per webhook: far above a real group (one alertname, service and severity); the rollback
# service refuses more (rollback.alerts), Alertmanager sends no more.
MAX_ALERTS = 1000


def _routes(config: MonitoringConfig, pages: bool) -> list[dict[str, Any]]:
    routing = config.routing
    pagerduty = {
        "receiver": PAGERDUTY,
        "matchers": ['severity="critical"'],
        "group_wait": format_duration(routing.critical_group_wait),
        "continue": True,
    }
    heartbeat = format_duration(routing.watchdog_interval)
    return [
        {
            "receiver": WATCHDOG,
            "matchers": [f'alertname="{WATCHDOG_ALERT}"'],
            "group_wait": "0s",
            "group_interval": heartbeat,
            "repeat_interval": heartbeat,
        },
        {
            "receiver": ROLLBACK,
            "matchers": ['rollback_strategy=~"immediate|fast|gradual"'],
            "group_wait": format_duration(routing.rollback_group_wait),
            "repeat_interval": format_duration(routing.rollback_repeat_interval),
            "continue": True,
        },
        *webhook_routes(ROLLBACK, config),
        *([pagerduty] if pages else []),
        {"receiver": EMAIL, "matchers": ['severity=~"critical|warning"'], "continue": True},
        # Catch-all: every alert also reaches Slack (a matching child route disables the
        # parent's receiver, so the default receiver alone would miss routed alerts).
        {"receiver": SLACK},
    ]


def template_file(product: str) -> str:
    """The notification templates, relative to alertmanager.yml."""
    return f"templates/{product}.tmpl"


def _receivers(config: MonitoringConfig, target: Target, pages: bool) -> list[dict[str, Any]]:
    receivers = config.receivers
    secrets = config.secret_files
    product = target.product.name
    if receivers.rollback_webhook_url is None:
        raise ValueError(
            "monitoring.receivers.rollbackWebhookUrl is not set (the stack derives it)"
        )
    found = [
        {
            "name": SLACK,
            "slack_configs": [
                {
                    "api_url_file": secrets.slack_api_url,
                    "channel": receivers.slack_channel,
                    "send_resolved": True,
                    "title": f'{{{{ template "slack.{product}.title" . }}}}',
                    "text": f'{{{{ template "slack.{product}.text" . }}}}',
                }
            ],
        },
        {
            "name": PAGERDUTY,
            "pagerduty_configs": [
                {
                    "routing_key_file": secrets.pagerduty_routing_key,
                    "url": receivers.pagerduty_url,
                    "send_resolved": True,
                    "description": f'{{{{ template "pagerduty.{product}.description" . }}}}',
                }
            ],
        },
        {
            "name": EMAIL,
            "email_configs": [
                {
                    "to": ", ".join(receivers.email_to),
                    "from": receivers.email_from,
                    "smarthost": receivers.smtp_smarthost,
                    "auth_username": receivers.smtp_username,
                    "auth_password_file": secrets.smtp_password,
                    "require_tls": receivers.smtp_require_tls,
                    "send_resolved": True,
                    "headers": {"Subject": f'{{{{ template "email.{product}.subject" . }}}}'},
                }
            ],
        },
        {
            "name": ROLLBACK,
            "webhook_configs": [
                {
                    "url": receivers.rollback_webhook_url,
                    "send_resolved": True,
                    "max_alerts": MAX_ALERTS,
                    "http_config": {
                        "authorization": {
                            "type": "Bearer",
                            "credentials_file": secrets.rollback_webhook_token,
                        }
                    },
                }
            ],
        },
    ]
    # Without a heartbeat URL the Watchdog goes nowhere (a receiver without configs). The URL is
    # a credential: the entrypoint puts it in place of its placeholder (monitoring.secrets).
    watchdog: dict[str, Any] = {"name": WATCHDOG}
    if receivers.heartbeat:
        url = placeholder("watchdog_url")
        watchdog["webhook_configs"] = [{"url": url, "send_resolved": False}]
    found.append(watchdog)
    return [r for r in found if pages or r["name"] != PAGERDUTY]


def alertmanager_config(config: MonitoringConfig, target: Target) -> dict[str, Any]:
    routing = config.routing
    pages = target.pages(config.receivers)
    return {
        "global": {"resolve_timeout": format_duration(routing.resolve_timeout)},
        "templates": [template_file(target.product.name)],
        "route": {
            "receiver": SLACK,
            "group_by": list(GROUP_BY),
            "group_wait": format_duration(routing.group_wait),
            "group_interval": format_duration(routing.group_interval),
            "repeat_interval": format_duration(routing.repeat_interval),
            "routes": _routes(config, pages),
        },
        "inhibit_rules": [
            {
                "source_matchers": [f'alertname="{HEALTH_ALERT}"'],
                "target_matchers": [f'alertname=~"{"|".join(INHIBITED_BY_HEALTH)}"'],
                "equal": ["service", "environment"],
            },
            *inhibit_rules(config),
        ],
        "receivers": _receivers(config, target, pages),
    }


# PRODUCT stands for the product's name (a slug: letters, digits and hyphens).
TEMPLATES = """\
{{/* Generated by monitoring.render(); do not edit. */}}
{{ define "PRODUCT.alert.line" }}[{{ .Labels.severity }}] {{ .Labels.service }} \
({{ .Labels.environment }}): {{ .Annotations.summary }}\
{{ if .Labels.rollback_strategy }} - rollback: {{ .Labels.rollback_strategy }}{{ end }}{{ end }}

{{ define "slack.PRODUCT.title" }}[{{ .Status | toUpper }}\
{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] \
{{ .CommonLabels.alertname }} {{ .CommonLabels.service }} \
({{ .CommonLabels.environment }}){{ end }}

{{ define "slack.PRODUCT.text" }}{{ range .Alerts }}\
{{ template "PRODUCT.alert.line" . }}
{{ .Annotations.description }}
Runbook: {{ .Annotations.runbook_url }}
{{ end }}{{ end }}

{{ define "pagerduty.PRODUCT.description" }}{{ .CommonLabels.alertname }} \
{{ .CommonLabels.service }} ({{ .CommonLabels.environment }}): \
{{ .CommonAnnotations.summary }}{{ end }}

{{ define "email.PRODUCT.subject" }}{{ template "slack.PRODUCT.title" . }}{{ end }}
"""


def templates(product: str) -> str:
    return TEMPLATES.replace("PRODUCT", product)
