"""Wires the components of one stack together and defines its outputs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pulumi
from pydantic import SecretStr

from components import app_repository
from components.config import ConfigError, StackConfig
from components.github import GitHubEnvironment
from components.monitoring import MonitoringFiles
from components.outputs import StackOutputs
from components.railway.component import RailwayService
from components.railway.stack import monitoring_services, rollback_service, stack_services
from components.vercel import VercelFrontend
from monitoring.config import private_address
from monitoring.servers import PUBLIC, ServerSecret, password_secret, servers, web_config_secret
from monitoring.webauth import AUTHENTICATED, web_config
from rollback.deploy import PORT as ROLLBACK_PORT


def secret(value: SecretStr) -> pulumi.Output[str]:
    """A config secret as a Pulumi secret, without ever formatting it."""
    return pulumi.Output.secret(value.get_secret_value())


def server_logins(config: StackConfig) -> dict[ServerSecret, pulumi.Output[str]]:
    """Each authenticated server's password, and its web config (a hash derived from it, the
    same at every run: monitoring.webauth), as Pulumi secrets."""
    found: dict[ServerSecret, pulumi.Output[str]] = {}
    for server in AUTHENTICATED:
        password = secret(getattr(config.secrets, f"{server}_password"))
        found[password_secret(server)] = password
        found[web_config_secret(server)] = password.apply(functools.partial(web_config, server))
    return found


def _rollback_tokens(config: StackConfig) -> dict[str, pulumi.Input[str]]:
    """What the rollback service acts with, each scoped as far as its platform allows: a project
    token of this Railway environment, the team's Vercel token, a GitHub token limited to the app
    repository's environments (config validation made sure each is set)."""
    tokens = config.secrets
    assert tokens.railway_token is not None and tokens.rollback_github_token is not None
    return {
        "RAILWAY_TOKEN": secret(tokens.railway_token),
        "VERCEL_TOKEN": secret(tokens.vercel_token),
        "GITHUB_TOKEN": secret(tokens.rollback_github_token),
    }


def _pick(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda outputs: outputs[key]


class Pipeline(pulumi.ComponentResource):
    outputs: pulumi.Output[dict[str, Any]]

    def __init__(
        self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        workflows = app_repository.files(config)
        inconsistent = app_repository.problems(config, workflows)
        if inconsistent:  # before any resource, the Pipeline itself included
            count = len(inconsistent) // 2
            raise ConfigError(
                f"Stack '{config.environment}' has {count} configuration problem(s):\n"
                + "\n".join(inconsistent)
            )
        super().__init__("autonomica:index:Pipeline", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        gh = config.github
        railway = config.railway
        retain = railway.retain_on_delete
        services = stack_services(
            project_id=railway.project_id,
            environment=config.environment,
            repository=gh.repository,
            api_url=config.urls.api,
            worker_url=config.urls.worker,
            database_url=secret(config.secrets.database_url),
            redis_url=secret(config.secrets.redis_url),
            retain_on_delete=config.is_production if retain is None else retain,
            protect=config.is_production,
            port=railway.app_port,
            root_directories=(railway.backend_root_directory, railway.worker_root_directory),
        )
        self.railway = {name: RailwayService(name, args, child) for name, args in services.items()}
        api_url = self.railway["backend"].public_url

        self.monitoring = MonitoringFiles("monitoring", config, child)
        self.servers: dict[str, RailwayService] = {}
        server_urls: dict[str, str] = {}
        if config.monitoring.servers.hosting == "railway":
            secrets = config.secrets
            grafana = config.urls.grafana
            running = servers(self.monitoring.settings, self.monitoring.files, grafana_url=grafana)
            server_urls = {
                name: grafana if name in PUBLIC else f"http://{private_address(name, server.port)}"
                for name, server in running.items()
            }
            self.servers = {
                name: RailwayService(name, args, child)
                for name, args in monitoring_services(
                    project_id=railway.project_id,
                    environment=config.environment,
                    servers=running,
                    secrets={
                        "slack_api_url": secret(secrets.slack_api_url),
                        "pagerduty_routing_key": secret(secrets.pagerduty_routing_key),
                        "smtp_password": secret(secrets.smtp_password),
                        "rollback_webhook_token": secret(secrets.rollback_webhook_token),
                        "grafana_admin_password": secret(secrets.grafana_admin_password),
                        **server_logins(config),
                    },
                    public={name: str(urlsplit(grafana).hostname) for name in PUBLIC},
                    protect=config.is_production,
                ).items()
            }

        self.frontend = VercelFrontend(
            "frontend",
            config.vercel,
            repository=gh.repository,
            branch=gh.branch,
            domain=str(urlsplit(config.urls.frontend).hostname),
            is_production=config.is_production,
            variables={
                "NODE_ENV": "production",
                "NEXT_PUBLIC_ENVIRONMENT": config.environment,
                "NEXT_PUBLIC_API_URL": api_url,
                **config.feature_flags.as_env(),
            },
            secrets={k: secret(v) for k, v in config.secrets.frontend_env.items()},
            opts=child,
        )

        receivers = config.monitoring.receivers
        smtp_host, _, smtp_port = receivers.smtp_smarthost.rpartition(":")
        dry_run = config.rollback.dry_run
        self.rollback = RailwayService(
            "rollback",
            rollback_service(
                project_id=railway.project_id,
                environment=config.environment,
                repository=config.rollback.repository,
                public_url=config.urls.rollback if config.rollback_is_public else None,
                dry_run=dry_run,
                protect=config.is_production,
                variables={
                    "ROLLBACK_CONFIG": self.monitoring.files["rollback-config.yml"],
                    "ROLLBACK_DRY_RUN": str(dry_run).lower(),
                    "ROLLBACK_WEBHOOK_TOKEN": secret(config.secrets.rollback_webhook_token),
                    "RAILWAY_PROJECT_ID": railway.project_id,
                    "VERCEL_PROJECT_ID": self.frontend.project_id,
                    "VERCEL_TEAM_ID": self.frontend.team_id,
                    "GITHUB_REPOSITORY": gh.repository,
                    "GITHUB_ENVIRONMENT": gh.environment,
                    "SLACK_WEBHOOK_URL": secret(config.secrets.slack_api_url),
                    "PAGERDUTY_ROUTING_KEY": secret(config.secrets.pagerduty_routing_key),
                    "PAGERDUTY_URL": receivers.pagerduty_url,
                    "SMTP_HOST": smtp_host,
                    "SMTP_PORT": smtp_port,
                    "SMTP_USERNAME": receivers.smtp_username,
                    "SMTP_PASSWORD": secret(config.secrets.smtp_password),
                    "SMTP_FROM": receivers.email_from,
                    "SMTP_TO": ",".join(receivers.email_to),
                    **({} if dry_run else _rollback_tokens(config)),
                },
            ),
            child,
        )

        # Where Alertmanager calls it: its private address unless the stack makes it public.
        rollback_url = (
            config.urls.rollback
            if config.rollback_is_public
            else f"http://{private_address('rollback', ROLLBACK_PORT)}"
        )

        # The names the workflows read (components.app_repository; a test holds them together).
        environment_secrets: dict[str, pulumi.Input[str]] = {
            "RAILWAY_TOKEN": secret(config.secrets.railway_deploy_token),
            "VERCEL_TOKEN": secret(config.secrets.vercel_token),
            app_repository.FREEZE_READER: secret(config.secrets.freeze_read_token),
        }
        environment_variables: dict[str, pulumi.Input[str]] = {
            "ENVIRONMENT": config.environment,
            "FRONTEND_URL": config.urls.frontend,
            "API_URL": api_url,
            "WORKER_URL": config.urls.worker,
            "VERCEL_PROJECT_ID": self.frontend.project_id,
            "VERCEL_ORG_ID": self.frontend.team_id,
        }
        self.github = GitHubEnvironment(
            "github",
            gh,
            secrets=environment_secrets,
            variables=environment_variables,
            files=workflows if gh.workflows == "managed" else {},
            protect=config.is_production,
            opts=child,
        )

        self.outputs = pulumi.Output.all(
            environment=self.github.environment,
            reviewers=self.github.reviewer_ids,
            project_id=self.frontend.project_id,
            team_id=self.frontend.team_id,
            api_url=api_url,
            backend_id=self.railway["backend"].service_id,
            worker_id=self.railway["worker"].service_id,
            rollback_id=self.rollback.service_id,
            server_ids=pulumi.Output.from_input(
                {name: server.service_id for name, server in self.servers.items()}
            ),
        ).apply(
            lambda resolved: StackOutputs(
                environment=config.environment,
                urls={**config.urls.model_dump(), "api": resolved["api_url"]},
                github={
                    "repository": gh.repository,
                    "environment": resolved["environment"],
                    "branch": gh.branch,
                    "deployment_branch_policy": gh.deployment_branch_policy,
                    "wait_timer": gh.wait_timer,
                    "reviewers": resolved["reviewers"],
                    "required_checks": gh.required_checks,
                },
                railway={
                    "project_id": railway.project_id,
                    "environment": config.environment,
                    "services": {
                        "backend": {
                            "service_id": resolved["backend_id"],
                            "url": resolved["api_url"],
                        },
                        "worker": {"service_id": resolved["worker_id"], "url": config.urls.worker},
                    },
                },
                rollback={"service_id": resolved["rollback_id"], "url": rollback_url},
                feature_flags=config.feature_flags.model_dump(by_alias=True),
                monitoring={
                    "files": self.monitoring.hashes,
                    "secret_files": self.monitoring.secret_files,
                    "services": {
                        name: {"service_id": service_id, "url": server_urls[name]}
                        for name, service_id in resolved["server_ids"].items()
                    },
                },
                frontend={
                    "url": config.urls.frontend,
                    "project_id": resolved["project_id"],
                    "team_id": resolved["team_id"],
                    "domains": [self.frontend.domain],
                },
            ).model_dump(mode="json", by_alias=True)
        )
        self.register_outputs({"outputs": self.outputs})

    def export(self) -> None:
        """Export each top-level field of `StackOutputs` as one stack output."""
        for field in StackOutputs.model_fields.values():
            key = field.alias
            assert key is not None
            pulumi.export(key, self.outputs.apply(_pick(key)))
