"""Monitoring as code: typed config in, Prometheus / Alertmanager / Grafana files out.

Pure Python (never imports pulumi). `render` is deterministic: the same input gives
byte-identical files. No rendered file contains a secret value: Alertmanager reads each secret
from the file `secret_files` names, which the deploying component must populate.
"""

from typing import TYPE_CHECKING, Any

from monitoring.config import ConfigModel, MonitoringConfig, Target
from monitoring.secrets import SECRET_FILES, SecretName, secret_files

if TYPE_CHECKING:
    from monitoring.files import render

__all__ = [
    "SECRET_FILES",
    "ConfigModel",
    "MonitoringConfig",
    "SecretName",
    "Target",
    "render",
    "secret_files",
]

PROMETHEUS_CONFIG = "prometheus/prometheus.yml"
ALERTMANAGER_CONFIG = "alertmanager/alertmanager.yml"
BLACKBOX_CONFIG = "blackbox/blackbox.yml"
ROLLBACK_CONFIG = "rollback-config.yml"
ROLLBACK_SERVICES = "rollback-services.yml"


def __getattr__(name: str) -> Any:
    """`render`, imported on first use: the renderers load the Grafana SDK and every rule
    builder, which what reads only the config or a constant (the rollback service, the plan
    diff, tools.adopt) never needs."""
    if name == "render":
        from monitoring.files import render

        return render
    raise AttributeError(f"module 'monitoring' has no attribute {name!r}")
