"""Railway services: images pinned and from allowed publishers, the monitoring servers
private, authenticated and protected, production's services retained."""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import Field

from monitoring.config import IMAGE_REF
from monitoring.servers import PUBLIC, SERVERS
from monitoring.webauth import AUTHENTICATED
from policy.publishers import OFFICIAL_PUBLISHERS, publisher
from policy.resources import Resource, is_known, railway_service
from policy.rule import NoSettings, Settings

PRIVATE_SERVERS = frozenset(SERVERS) - PUBLIC


class PublisherSettings(Settings):
    allowed_publishers: tuple[str, ...] = Field(
        OFFICIAL_PUBLISHERS,
        description="who may publish an image a Railway service runs (Docker Hub namespace, or "
        "registry/namespace); a stack's railway.allowedImagePublishers cannot vouch for itself",
    )


def _is_public(service: Mapping[str, Any]) -> bool:
    return bool(service.get("domains")) or service.get("serviceDomain") is True


def images_pinned(resource: Resource, _: NoSettings) -> Iterator[str]:
    service = railway_service(resource) or {}
    image = (service.get("source") or {}).get("image")
    if isinstance(image, str) and not IMAGE_REF.fullmatch(image):
        yield (
            f"Railway service {service.get('name')} runs image {image}, not pinned by digest: "
            "a tag can move under the same name; pin repository:version@sha256:<digest>"
        )


def monitoring_private(resource: Resource, _: NoSettings) -> Iterator[str]:
    service = railway_service(resource) or {}
    name = service.get("name")
    start = str((service.get("settings") or {}).get("startCommand") or "")
    if name in PRIVATE_SERVERS and _is_public(service) and "--web.config.file=" not in start:
        yield (
            f"{name} has a public domain and no authentication (--web.config.file with basic "
            "auth): anyone could read the metrics or silence alerts; keep it on the private "
            "network, where Grafana and Prometheus reach it"
        )


def monitoring_authenticated(resource: Resource, _: NoSettings) -> Iterator[str]:
    """Prometheus and Alertmanager start with `--web.config.file` (basic auth), written from a
    secret: Railway's private network reaches them from every service of the environment, the
    public backend and worker included (monitoring.webauth)."""
    service = railway_service(resource) or {}
    name = service.get("name")
    if name not in AUTHENTICATED:
        return
    start = str((service.get("settings") or {}).get("startCommand") or "")
    try:
        words = shlex.split(start)
    except ValueError:
        words = start.split()
    given = [w.partition("=")[2] for w in words if w.startswith("--web.config.file=")]
    manifest = str((service.get("variables") or {}).get("PIPELINE_FILES") or "")
    secret_paths = {p[2] for p in (line.split() for line in manifest.splitlines())
                    if len(p) == 3 and p[0] == "secret"}  # fmt: skip
    if not given or given[-1] not in secret_paths:
        what = "silence alerts or post fake ones" if name == "alertmanager" else "read every metric"
        yield (
            f"{name} starts without authentication (--web.config.file written from a secret): "
            f"any service on Railway's private network could {what}; deploy it with the stack's "
            f"start command and set secrets.{name}Password"
        )


def monitoring_protected(resource: Resource, _: NoSettings) -> Iterator[str]:
    service = railway_service(resource) or {}
    name = service.get("name")
    if name in SERVERS and resource.in_production and resource.protect is False:
        yield (
            f"production's monitoring server {name} is not protected: `pulumi destroy` or a "
            "dropped line would take away the alerting that guards production; keep "
            "protect=True (the stack sets it for production)"
        )


def images_from_allowed_publishers(
    resource: Resource, settings: PublisherSettings
) -> Iterator[str]:
    service = railway_service(resource) or {}
    image = (service.get("source") or {}).get("image")
    if (
        isinstance(image, str)
        and is_known(image)
        and publisher(image) not in settings.allowed_publishers
    ):
        yield (
            f"Railway service {service.get('name')} runs {image}, published by "
            f"{publisher(image)!r}, not one of {', '.join(settings.allowed_publishers)}: it would "
            "receive the stack's alerting secrets; use the official image, or add the publisher "
            "to allowedPublishers once you trust it"
        )


def production_retain_on_delete(resource: Resource, _: NoSettings) -> Iterator[str]:
    service = railway_service(resource) or {}
    if service.get("name") and resource.in_production and resource.retain_on_delete is False:
        yield (
            f"production's Railway service {service.get('name')} is deleted with the stack "
            "(retainOnDelete off): a dropped line or `pulumi destroy` takes it and its data "
            "away; set railway.retainOnDelete to true (the default in production)"
        )
