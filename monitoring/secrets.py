"""Which secret Alertmanager reads from which file: the deploying component writes the values."""

import re
from typing import Literal, get_args

from pydantic import TypeAdapter, ValidationError

from monitoring.config import MonitoringConfig, SecureUrl

SecretName = Literal[
    "slack_api_url", "pagerduty_routing_key", "smtp_password", "rollback_webhook_token"
]
SECRET_FILES: tuple[SecretName, ...] = get_args(SecretName)


def secret_files(config: MonitoringConfig) -> dict[SecretName, str]:
    """Secret name -> absolute path inside the Alertmanager container."""
    paths = config.secret_files
    return {name: getattr(paths, name) for name in SECRET_FILES}


# A secret that Alertmanager 0.25 cannot read from a file (`webhook_configs.url_file` came in
# 0.26): the rendered config holds its placeholder, a valid URL that reaches nobody, and the
# entrypoint writes the config with the secret in its place (mode 0600), or refuses to start.
FilledSecret = Literal["watchdog_url"]
FILLED: tuple[FilledSecret, ...] = get_args(FilledSecret)
# What the entrypoint accepts in place of a placeholder, and the stack's config too: a URL of
# RFC 3986's characters without quotes, so it stands as a plain YAML scalar byte for byte.
FILLED_CHARACTERS = r"A-Za-z0-9._~:/?#@!$&()*+,;=%-"


def placeholder(secret: FilledSecret) -> str:
    """The stand-in for `secret` in a rendered file (`.invalid` never resolves: RFC 2606)."""
    return f"https://pipeline-secret.invalid/{secret}"


def checked_url(url: str) -> str:
    """`url` if the entrypoint will write it as it is and it is https (http only on loopback);
    ValueError, which never repeats the value, otherwise."""
    if not re.fullmatch(f"[{FILLED_CHARACTERS}]+", url):
        raise ValueError("may hold only a URL's characters, without whitespace or quotes")
    try:
        _ = TypeAdapter(SecureUrl).validate_python(url)
    except ValidationError as error:  # its text would repeat the value
        raise ValueError(error.errors()[0]["msg"].removeprefix("Value error, ")) from None
    return url
