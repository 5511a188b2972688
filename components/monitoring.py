"""The stack's monitoring files (Prometheus, Alertmanager, Grafana, rollback policy) in its state.

The files are rendered by the pure `monitoring` package. Each one is a `pulumi.Stash`, so a change
to a threshold shows in `pulumi preview` and the plan diff, and the policy pack can read the rules.
No file holds a secret: Alertmanager reads them from the files `monitoring.secret_files` names.
"""

from __future__ import annotations

import hashlib

import pulumi

import monitoring
from components.config import StackConfig
from rollback.deploy import WEBHOOK_PATH


def render(config: StackConfig) -> dict[str, str]:
    """The stack's monitoring files: relative path -> content."""
    receivers = config.monitoring.receivers.model_copy(
        update={"rollback_webhook_url": f"{config.urls.rollback}{WEBHOOK_PATH}"}
    )
    settings = config.monitoring.model_copy(update={"receivers": receivers})
    target = monitoring.Target(
        environment=config.environment,
        frontend_url=config.urls.frontend,
        backend_url=config.urls.api,
        worker_url=config.urls.worker,
    )
    return monitoring.render(settings, target)


def sha256(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


class MonitoringFiles(pulumi.ComponentResource):
    files: dict[str, str]
    hashes: dict[str, str]
    secret_files: dict[monitoring.SecretName, str]

    def __init__(
        self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("autonomica:monitoring:Files", name, None, opts)
        self.files = render(config)
        self.hashes = {path: sha256(content) for path, content in self.files.items()}
        for path, content in self.files.items():
            pulumi.Stash(
                f"{name}-{path}",
                input={"path": path, "sha256": self.hashes[path], "content": content},
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.secret_files = monitoring.secret_files(config.monitoring)
        self.register_outputs({"hashes": self.hashes})
