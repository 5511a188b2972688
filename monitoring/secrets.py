"""Which secret Alertmanager reads from which file: the deploying component writes the values."""

from typing import Literal, get_args

from monitoring.config import MonitoringConfig

SecretName = Literal[
    "slack_api_url", "pagerduty_routing_key", "smtp_password", "rollback_webhook_token"
]
SECRET_FILES: tuple[SecretName, ...] = get_args(SecretName)


def secret_files(config: MonitoringConfig) -> dict[SecretName, str]:
    """Secret name -> absolute path inside the Alertmanager container."""
    paths = config.secret_files
    return {name: getattr(paths, name) for name in SECRET_FILES}
