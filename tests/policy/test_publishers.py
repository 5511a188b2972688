"""Who publishes an image: Docker's name resolution, and the stack refusing a foreign publisher
before any resource (the policy pack's own check is in test_stacks/test_rules)."""

from __future__ import annotations

from typing import Any

import pytest

from monitoring.images import IMAGES
from policy.publishers import OFFICIAL_PUBLISHERS, publisher
from tests.conftest import config_error, key, merged, validated_stack

DIGEST = "@sha256:" + "0" * 64


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (f"prom/prometheus:v2.53.0{DIGEST}", "prom"),
        ("docker.io/prom/alertmanager:v0.27.0", "prom"),
        ("index.docker.io/grafana/grafana-oss:12.1.1", "grafana"),
        ("busybox:1.36.1", "library"),  # an official Docker Hub image
        ("ghcr.io/acme/prometheus:v2.53.0", "ghcr.io/acme"),
        ("localhost:5000/acme/prometheus:v1.0.0", "localhost:5000/acme"),
        ("prom.evil.example/prometheus:v2.53.0", "prom.evil.example/prometheus"),
        ("promm/prometheus:v2.53.0", "promm"),  # a look-alike namespace is another publisher
    ],
)
def test_publisher_follows_docker_name_resolution(image: str, expected: str) -> None:
    assert publisher(image) == expected


def test_every_pinned_default_image_is_from_an_official_publisher() -> None:
    assert {publisher(image) for image in IMAGES.values()} <= set(OFFICIAL_PUBLISHERS)


def _foreign_prometheus(publishers: list[str] | None) -> Any:
    def edit(config: dict[str, Any]) -> None:
        image = IMAGES["prometheus"].replace("prom/", "mallory/", 1)
        config[key("monitoring")] = merged(
            config[key("monitoring")], {"servers": {"images": {"prometheus": image}}}
        )
        if publishers is not None:
            config[key("railway")]["allowedImagePublishers"] = publishers

    return edit


def test_an_image_from_another_publisher_is_refused_before_any_resource() -> None:
    message = config_error("production", _foreign_prometheus(None))
    assert "monitoring.servers.images.prometheus is published by 'mallory'" in message
    allowed = ", ".join(validated_stack("production").railway.allowed_image_publishers)
    assert f"railway.allowedImagePublishers ({allowed})" in message


def test_an_empty_publisher_list_is_refused() -> None:
    message = config_error("staging", _foreign_prometheus([]))
    assert "railway.allowedImagePublishers: List should have at least 1 item" in message
