"""Credentials go only to trusted hosts: the platforms' and the stack's own."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

import yaml
from pydantic import Field

from policy.resources import (
    ROLLBACK_SERVICE,
    STASH,
    Resource,
    is_known,
    parsed_yaml,
    railway_service,
)
from policy.rule import Settings


class HostSettings(Settings):
    trusted_hosts: tuple[str, ...] = Field(
        (
            "railway.internal",  # Railway's private network, within the stack's environment
            "events.pagerduty.com",
            "hooks.slack.com",
            "api.github.com",
            "api.vercel.com",
            "backboard.railway.com",
        ),
        description="hosts, and the hosts below them, that may receive a credential: the "
        "platforms' by default; policy.settings adds the settings file's",
    )
    own_hosts: tuple[str, ...] = Field(
        (),
        description="the hosts the stack names as its own (its urls, the SMTP smarthost), "
        "trusted exactly: a host below one (evil.shop.example under shop.example) is not the "
        "stack's; policy.settings derives them from the stack file",
    )


ALERTMANAGER_FILE = "alertmanager/alertmanager.yml"
# Alertmanager receiver configs: the field that names where it connects, what it sends there,
# and the stack key that sets it.
_RECEIVER_DESTINATIONS = (
    ("webhook_configs", "url", "the rollback webhook token", "urls.rollback"),
    ("pagerduty_configs", "url", "the PagerDuty routing key", "monitoring.receivers.pagerdutyUrl"),
    ("email_configs", "smarthost", "the SMTP login", "monitoring.receivers.smtpSmarthost"),
)
# The rollback service's variables that name where it sends a credential.
_ROLLBACK_DESTINATIONS = {
    "SMTP_HOST": ("the SMTP login", "monitoring.receivers.smtpSmarthost"),
    "PAGERDUTY_URL": ("the PagerDuty routing key", "monitoring.receivers.pagerdutyUrl"),
    "RAILWAY_API_URL": ("the Railway token", "RAILWAY_API_URL (set by the program)"),
    "VERCEL_API_URL": ("the Vercel token", "VERCEL_API_URL (set by the program)"),
    "GITHUB_API_URL": ("the GitHub token", "GITHUB_API_URL (set by the program)"),
}


def _host(address: str) -> str:
    """The host of a URL, a host:port or a bare host."""
    try:
        host = urlsplit(address if "://" in address else f"//{address}").hostname
    except ValueError:
        return address
    return (host or address).rstrip(".").lower()


def _trusted(host: str, settings: HostSettings) -> bool:
    return host in settings.own_hosts or any(
        host == h or host.endswith(f".{h}") for h in settings.trusted_hosts
    )


def _alertmanager_destinations(text: str) -> Iterator[tuple[str, str, str]]:
    """(address, what goes there, stack key) for every credential alertmanager.yml sends."""
    try:
        document = parsed_yaml(text)
    except yaml.YAMLError:
        return
    receivers = document.get("receivers") if isinstance(document, dict) else None
    for receiver in receivers if isinstance(receivers, list) else []:
        for configs, field, what, key in _RECEIVER_DESTINATIONS:
            for config in (receiver or {}).get(configs) or []:
                if configs == "webhook_configs" and not config.get("http_config"):
                    continue  # a webhook that sends no credential (the Watchdog's heartbeat)
                if isinstance(config.get(field), str):
                    yield config[field], what, key
                proxy = (config.get("http_config") or {}).get("proxy_url")
                if isinstance(proxy, str):
                    yield proxy, f"{what} (through a proxy)", "the program"


def _files_of(resource: Resource) -> Iterator[tuple[str, str]]:
    """(path, content) of the monitoring files a Stash or a monitoring server's spec holds."""
    stash = resource.inputs.get("input")
    if resource.type == STASH and isinstance(stash, Mapping):
        if isinstance(stash.get("content"), str):
            yield str(stash.get("path")), stash["content"]
        return
    variables = (railway_service(resource) or {}).get("variables") or {}
    for line in str(variables.get("PIPELINE_FILES") or "").splitlines():
        kind, variable, path, *_ = [*line.split(), "", "", ""]
        # a `fill` file holds a placeholder where the entrypoint writes a secret at start-up
        if kind in ("file", "fill") and isinstance(variables.get(variable), str):
            yield path.lstrip("/"), variables[variable]


def credentials_to_trusted_hosts(resource: Resource, settings: HostSettings) -> Iterator[str]:
    found: list[tuple[str, str, str]] = []
    for path, content in _files_of(resource):
        if path.endswith(ALERTMANAGER_FILE):
            found += _alertmanager_destinations(content)
    service = railway_service(resource) or {}
    if service.get("name") == ROLLBACK_SERVICE:
        variables = service.get("variables") or {}
        found += [
            (variables[name], what, key)
            for name, (what, key) in _ROLLBACK_DESTINATIONS.items()
            if isinstance(variables.get(name), str)
        ]
    for address, what, key in found:
        host = _host(address)
        if is_known(address) and not _trusted(host, settings):
            yield (
                f"{what} would go to {host}, which is not a trusted host: set {key} to the "
                "stack's own or the provider's host, or add the host to trustedHosts"
            )
