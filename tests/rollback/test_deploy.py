"""`rollback.deploy.service_spec`: what the Pulumi program needs to deploy the service."""

from pathlib import Path

from rollback.deploy import service_spec
from rollback.settings import ENV, SECRETS, Settings
from tests.rollback.conftest import TOKEN, rollback_yaml


def test_the_spec_names_only_variables_the_service_reads() -> None:
    spec = service_spec(notifications=("slack",))
    assert set(spec.required_variables) | set(spec.optional_variables) <= set(ENV.values())
    assert "SLACK_WEBHOOK_URL" in spec.required_variables
    assert set(spec.secret_variables) == SECRETS & {
        *spec.required_variables,
        *spec.optional_variables,
    }
    assert spec.start_command.startswith("python -m rollback serve")
    assert spec.health_path == "/health" and spec.webhook_path == "/v1/alertmanager"


def test_the_required_variables_are_enough_to_start(tmp_path: Path) -> None:
    """With the volume the spec mounts (here a folder standing in for it)."""
    values = {
        "ROLLBACK_CONFIG": rollback_yaml(),
        "ROLLBACK_WEBHOOK_TOKEN": TOKEN,
        "GITHUB_REPOSITORY": "fixture-owner/app",
    }
    env = {name: values.get(name, "x") for name in service_spec().required_variables}
    settings = Settings.from_env(env, volume=tmp_path)
    assert not settings.dry_run
    assert settings.audit_log.parent == tmp_path  # the audit log is on the volume
