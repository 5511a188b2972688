"""Who publishes a container image: the stack config and the policy pack judge images by it.

A pinned digest says the image will not change; it does not say who built it. A monitoring
server's image receives the Slack URL, the PagerDuty key, the SMTP password and the webhook token,
so only images from a short list of publishers may run.
"""

from __future__ import annotations

# The Docker Hub organisations of the Prometheus project and of Grafana Labs, which publish the
# images monitoring/images.py pins (hub.docker.com/u/prom, hub.docker.com/u/grafana).
OFFICIAL_PUBLISHERS = ("prom", "grafana")
DOCKER_HUB = "docker.io"


def publisher(image: str) -> str:
    """The publisher of an image reference: its Docker Hub namespace (`library` for an official
    image), or `registry/namespace` elsewhere. The registry is split off as Docker does
    (`splitDockerDomain` in github.com/distribution/reference, normalize.go): the first part of
    a name with a `/` is a registry when it is `localhost`, holds a `.` or `:`, or is not lower
    case; `index.docker.io` is Docker Hub.

    `prom/prometheus:v2.53.0@sha256:...` -> `prom`; `docker.io/prom/x` -> `prom`;
    `busybox` -> `library`; `ghcr.io/acme/app:1.0.0` -> `ghcr.io/acme`."""
    name = image.split("@", 1)[0]
    first, slash, rest = name.partition("/")
    registry, path = DOCKER_HUB, name
    if slash and (first == "localhost" or ":" in first or "." in first or first != first.lower()):
        registry, path = first, rest
    path = path.rsplit(":", 1)[0] if ":" in path.rsplit("/", 1)[-1] else path  # the tag
    owner = path.split("/")[0]
    if registry in (DOCKER_HUB, "index.docker.io"):
        return owner if "/" in path else "library"
    return f"{registry}/{owner}"


def allowed(image: str, publishers: tuple[str, ...] | list[str]) -> bool:
    return publisher(image) in publishers
