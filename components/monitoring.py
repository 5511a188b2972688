"""The stack's monitoring files (Prometheus, Alertmanager, Grafana, rollback policy) in its state.

The files are rendered by the pure `monitoring` package. Each one is a `pulumi.Stash`, so a change
to a threshold shows in `pulumi preview` and the plan diff, and the policy pack can read the rules.
No file holds a secret: Alertmanager reads them from the files `monitoring.secret_files` names.

With `monitoring.servers.hosting: railway` (the default) the servers run as Railway services of
the stack's environment (components.railway.stack.monitoring_services), so every address is a
name on Railway's private network (`<service>.railway.internal`); with `external`,
`monitoring.addresses` says where they are.
"""

from __future__ import annotations

import hashlib

import pulumi

import monitoring
from components.config import StackConfig
from monitoring.config import MonitoredService, private_address
from monitoring.servers import Layout
from rollback.deploy import PORT as ROLLBACK_PORT
from rollback.deploy import WEBHOOK_PATH

RUNBOOKS = "docs/monitoring.md"  # in this repository, where every alert has its section
TYPE = "pipeline:monitoring:Files"


def settings(config: StackConfig) -> monitoring.MonitoringConfig:
    """The stack's MonitoringConfig with what the stack itself decides filled in."""
    given = config.monitoring
    if "runbook_base_url" not in given.model_fields_set:
        pipeline = config.rollback  # this repository, which holds the runbooks
        runbooks = f"https://github.com/{pipeline.repository}/blob/{pipeline.branch}/{RUNBOOKS}"
        given = given.model_copy(update={"runbook_base_url": runbooks})
    heartbeat = config.secrets.watchdog_url is not None
    if given.servers.hosting == "external":
        webhook = f"{config.urls.rollback}{WEBHOOK_PATH}"
        receivers = given.receivers.model_copy(
            update={"rollback_webhook_url": webhook, "heartbeat": heartbeat}
        )
        return given.model_copy(update={"receivers": receivers})
    layout = Layout()
    receivers = given.receivers.model_copy(
        update={
            "rollback_webhook_url": (
                f"http://{private_address('rollback', ROLLBACK_PORT)}{WEBHOOK_PATH}"
            ),
            "heartbeat": heartbeat,
        }
    )
    addresses = given.addresses.model_copy(
        update={
            "alertmanager": private_address("alertmanager", layout.ports["alertmanager"]),
            "blackbox_exporter": private_address(
                "blackbox-exporter", layout.ports["blackbox-exporter"]
            ),
            "prometheus_url": f"http://{private_address('prometheus', layout.ports['prometheus'])}",
        }
    )
    return given.model_copy(update={"receivers": receivers, "addresses": addresses})


def monitored(config: StackConfig) -> dict[str, MonitoredService]:
    """Every service as monitoring sees it. Prometheus on Railway scrapes the product's Railway
    services over the private network, at their port."""
    private = config.monitoring.servers.hosting == "railway"
    return {
        name: MonitoredService(
            platform=s.platform,
            role=s.role,
            url=s.url,
            health_path=s.health_path,
            metrics_path=s.metrics_path,
            metrics_address=(
                private_address(name, s.port)
                if private and s.platform == "railway" and s.port and s.metrics_path
                else None
            ),
            critical=s.critical,
            rollback=s.does_rollback,
        )
        for name, s in config.services.items()
    }


def target(config: StackConfig) -> monitoring.Target:
    private = config.monitoring.servers.hosting == "railway"
    return monitoring.Target(
        environment=config.environment.name,
        kind=config.environment.kind,
        product=config.product,
        services=monitored(config),
        grafana_url=config.urls.grafana,
        rollback_url=config.urls.rollback,
        rollback_address=private_address("rollback", ROLLBACK_PORT) if private else None,
    )


def render(config: StackConfig) -> dict[str, str]:
    """The stack's monitoring files: relative path -> content."""
    return monitoring.render(settings(config), target(config))


def sha256(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


class MonitoringFiles(pulumi.ComponentResource):
    files: dict[str, str]
    hashes: dict[str, str]
    secret_files: dict[monitoring.SecretName, str]

    def __init__(
        self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self.settings = settings(config)
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
