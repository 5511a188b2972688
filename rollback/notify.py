"""Tell people: each decision and each outcome goes to the strategy's channels.

Slack (incoming webhook), PagerDuty (Events API v2) and email (SMTP). A channel without
settings is reported as `not_configured` in the audit log and metrics, never silently dropped.
"""

from __future__ import annotations

import hashlib
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

import httpx

from components import tls
from rollback.policy import Channel
from rollback.settings import Settings

PAGERDUTY_SEVERITY = {"immediate": "critical", "fast": "warning", "gradual": "info"}


@dataclass(frozen=True)
class Message:
    group_key: str
    strategy: str
    text: str
    resolve: bool = False  # PagerDuty: the incident this group opened can be resolved
    escalation: bool = False  # PagerDuty: an incident of its own, not the group's first one


Sender = Callable[[Message], None]


class Notifier:
    def __init__(self, settings: Settings, environment: str) -> None:
        self._settings = settings
        self._environment = environment
        timeout = settings.request_timeout.total_seconds()
        self._http = httpx.Client(timeout=timeout, verify=tls.context())
        self.senders: dict[Channel, Sender] = {}
        if settings.slack_webhook_url is not None:
            self.senders["slack"] = self._slack
        if settings.pagerduty_routing_key is not None:
            self.senders["pagerduty"] = self._pagerduty
        if settings.smtp_host and settings.smtp_from and settings.smtp_to:
            self.senders["email"] = self._email

    def close(self) -> None:
        self._http.close()

    def _slack(self, message: Message) -> None:
        assert self._settings.slack_webhook_url is not None
        url = self._settings.slack_webhook_url.get_secret_value()
        self._http.post(url, json={"text": message.text}).raise_for_status()

    def _pagerduty(self, message: Message) -> None:
        assert self._settings.pagerduty_routing_key is not None
        key = message.group_key + (" escalated" if message.escalation else "")
        dedup = "rollback-" + hashlib.sha256(key.encode()).hexdigest()[:32]
        body = {
            "routing_key": self._settings.pagerduty_routing_key.get_secret_value(),
            "event_action": "resolve" if message.resolve else "trigger",
            "dedup_key": dedup,
            "payload": {
                "summary": message.text[:1024],
                "source": f"rollback-service ({self._environment})",
                "severity": PAGERDUTY_SEVERITY.get(message.strategy, "warning"),
            },
        }
        self._http.post(self._settings.pagerduty_url, json=body).raise_for_status()

    def _email(self, message: Message) -> None:
        s = self._settings
        assert s.smtp_host and s.smtp_from and s.smtp_to
        mail = EmailMessage()
        mail["Subject"] = f"[rollback] {message.text.splitlines()[0][:150]}"
        mail["From"] = s.smtp_from
        mail["To"] = s.smtp_to
        mail.set_content(message.text)
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=10) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_username and s.smtp_password:
                smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
            smtp.send_message(mail)
