"""The monitoring servers' images, pinned by version and digest: here, and nowhere else.

The rendered files are checked and run here by Debian bookworm's Prometheus 2.42, Alertmanager
0.25 and blackbox exporter 0.23 (promtool, amtool, the end-to-end test). Each image below is a
later release of the same major line, whose config format accepts everything those versions
accept; newer majors change what a config means (Prometheus 3 normalises `le` label values and
allows UTF-8 names), so a move to one is a change to review, not a bump. Grafana is not run here:
its provisioning format (apiVersion 1) is the same from Grafana 8 to 12.

Digests are the multi-platform index digests `docker pull` prints. A stack may pin others under
`monitoring.servers.images` in the same form.
"""

from typing import Literal

ServerName = Literal["prometheus", "blackbox-exporter", "alertmanager", "grafana"]

IMAGES: dict[ServerName, str] = {
    # 2.53 is the last 2.x long-term-support line.
    "prometheus": (
        "prom/prometheus:v2.53.0"
        "@sha256:075b1ba2c4ebb04bc3a6ab86c06ec8d8099f8fda1c96ef6d104d9bb1def1d8bc"
    ),
    "blackbox-exporter": (
        "prom/blackbox-exporter:v0.25.0"
        "@sha256:b04a9fef4fa086a02fc7fcd8dcdbc4b7b35cc30cdee860fdc6a19dd8b208d63e"
    ),
    "alertmanager": (
        "prom/alertmanager:v0.27.0"
        "@sha256:e13b6ed5cb929eeaee733479dce55e10eb3bc2e9c4586c705a4e8da41e5eacf5"
    ),
    "grafana": (
        "grafana/grafana-oss:12.1.1"
        "@sha256:a1701c2180249361737a99a01bc770db39381640e4d631825d38ff4535efa47d"
    ),
}
