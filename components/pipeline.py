"""Wires the components of one stack together and defines its outputs.

`Pipeline` reads as a diagram: the monitoring files, a Railway service per Railway service of the
product, the monitoring servers, a Vercel service per Vercel service, the rollback service, the
GitHub environment, the outputs. Each `_builder` below turns the config (and what was built
before it) into one component's args.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import pulumi
from pydantic import SecretStr

from components import app_repository, legacy
from components.config import ConfigError, StackConfig
from components.github import TYPE as GITHUB_ENVIRONMENT
from components.github import GitHubEnvironment, GitHubEnvironmentArgs
from components.monitoring import TYPE as MONITORING_FILES
from components.monitoring import MonitoringFiles
from components.outputs import StackOutputs
from components.railway.component import TYPE as RAILWAY_SERVICE
from components.railway.component import RailwayService, RailwayServiceArgs, RegistryLogin
from components.railway.stack import app_service, monitoring_services, rollback_service
from components.vercel import TYPE as VERCEL_SERVICE
from components.vercel import VercelService, VercelServiceArgs
from monitoring import ROLLBACK_CONFIG, ROLLBACK_SERVICES
from monitoring.config import private_address
from monitoring.images import ServerName
from monitoring.servers import (
    PUBLIC,
    Server,
    ServerSecret,
    password_secret,
    servers,
    web_config_secret,
)
from monitoring.webauth import AUTHENTICATED, stack_of, web_config
from rollback.deploy import PORT as ROLLBACK_PORT

TYPE = "pipeline:index:Pipeline"


def secret(value: SecretStr) -> pulumi.Output[str]:
    """A config secret as a Pulumi secret, without ever formatting it."""
    return pulumi.Output.secret(value.get_secret_value())


def _present(value: SecretStr | None) -> SecretStr:
    assert value is not None, "config validation makes sure it is set"
    return value


def server_logins(config: StackConfig) -> dict[ServerSecret, pulumi.Output[str]]:
    """Each authenticated server's password, and its web config (a hash derived from it, the
    same at every run: monitoring.webauth), as Pulumi secrets."""
    found: dict[ServerSecret, pulumi.Output[str]] = {}
    stack = stack_of(config.product.name, config.environment.name)
    for server in AUTHENTICATED:
        password = secret(getattr(config.secrets, f"{server}_password"))
        found[password_secret(server)] = password
        found[web_config_secret(server)] = password.apply(
            functools.partial(web_config, server, stack=stack)
        )
    return found


def _retain(config: StackConfig) -> bool:
    retain = config.railway.retain_on_delete
    return config.is_production if retain is None else retain


def _registry(config: StackConfig) -> RegistryLogin | None:
    """The login Railway pulls the private images CI built with (railway.registry)."""
    registry, token = config.railway.registry, config.secrets.registry_token
    if not registry.private or registry.username is None or token is None:
        return None
    return RegistryLogin(registry.username, secret(token))


def _railway_services(config: StackConfig) -> dict[str, RailwayServiceArgs]:
    env = {name: secret(value) for name, value in config.secrets.env.items()}
    return {
        name: app_service(
            name,
            service,
            project_id=config.railway.project_id,
            environment=config.environment.name,
            product=config.product.name,
            repository=config.github.repository,
            secrets=env,
            retain_on_delete=_retain(config),
            protect=config.is_production,
            registry=_registry(config),
        )
        for name, service in config.of("railway").items()
    }


def _servers(config: StackConfig, monitoring: MonitoringFiles) -> dict[ServerName, Server]:
    """The monitoring servers the stack runs on Railway (none with hosting external)."""
    if config.monitoring.servers.hosting != "railway":
        return {}
    return servers(monitoring.settings, monitoring.files, grafana_url=config.urls.grafana)


def _server_urls(config: StackConfig, running: Mapping[ServerName, Server]) -> dict[str, str]:
    grafana = config.urls.grafana
    return {
        name: grafana if name in PUBLIC else f"http://{private_address(name, server.port)}"
        for name, server in running.items()
    }


def _monitoring_servers(
    config: StackConfig, running: Mapping[ServerName, Server]
) -> dict[str, RailwayServiceArgs]:
    """One Railway service per monitoring server the stack runs."""
    if not running:
        return {}
    secrets = config.secrets
    grafana = config.urls.grafana
    return monitoring_services(
        project_id=config.railway.project_id,
        environment=config.environment.name,
        product=config.product.name,
        servers=running,
        secrets={
            "slack_api_url": secret(secrets.slack_api_url),
            **(
                {"pagerduty_routing_key": secret(secrets.pagerduty_routing_key)}
                if secrets.pagerduty_routing_key
                else {}
            ),
            "smtp_password": secret(secrets.smtp_password),
            "rollback_webhook_token": secret(secrets.rollback_webhook_token),
            "grafana_admin_password": secret(secrets.grafana_admin_password),
            **({"watchdog_url": secret(secrets.watchdog_url)} if secrets.watchdog_url else {}),
            **server_logins(config),
        },
        public={name: str(urlsplit(grafana).hostname) for name in PUBLIC},
        protect=config.is_production,
    )


def _vercel_services(config: StackConfig) -> dict[str, VercelServiceArgs]:
    """Each Vercel service: its public variables (the environment, the urls it names, the
    feature flags) and its secret ones."""
    if config.vercel is None:
        return {}
    gh = config.github
    found = {}
    for name, service in config.of("vercel").items():
        assert service.vercel is not None and service.url is not None
        public = service.vercel.public_urls
        urls = {variable: config.services[other].url for variable, other in public.items()}
        found[name] = VercelServiceArgs(
            config=config.vercel,
            project=service.vercel.project,
            root_directory=service.root,
            repository=gh.repository,
            branch=gh.branch,
            domain=str(urlsplit(service.url).hostname),
            is_production=config.is_production,
            variables={
                "NODE_ENV": "production",
                "NEXT_PUBLIC_ENVIRONMENT": config.environment.name,
                **{variable: str(url) for variable, url in urls.items()},
                **config.flag_variables(),
            },
            secrets={v: secret(config.secrets.env[v]) for v in service.secret_env},
        )
    return found


def _rollback_tokens(config: StackConfig) -> dict[str, pulumi.Input[str]]:
    """What the rollback service acts with, each scoped as far as its platform allows: a project
    token of this Railway environment, the team's Vercel token, a GitHub token limited to the app
    repository's environments (config validation made sure each is set)."""
    tokens = config.secrets
    return {
        "RAILWAY_TOKEN": secret(_present(tokens.railway_token)),
        **({"VERCEL_TOKEN": secret(_present(tokens.vercel_token))} if config.of("vercel") else {}),
        "GITHUB_TOKEN": secret(_present(tokens.rollback_github_token)),
    }


def _rollback_service(
    config: StackConfig, monitoring: MonitoringFiles, vercel: Mapping[str, VercelService]
) -> RailwayServiceArgs:
    receivers = config.monitoring.receivers
    smtp_host, _, smtp_port = receivers.smtp_smarthost.rpartition(":")
    dry_run = config.rollback.dry_run
    gh = config.github
    project = next(iter(vercel.values()), None)  # one Vercel service at most (config.schema)
    return rollback_service(
        project_id=config.railway.project_id,
        environment=config.environment.name,
        product=config.product.name,
        repository=config.rollback.repository,
        public_url=config.urls.rollback if config.rollback_is_public else None,
        dry_run=dry_run,
        protect=config.is_production,
        platforms=frozenset(s.platform for s in config.services.values() if s.does_rollback),
        pages=config.pages,
        variables={
            "ROLLBACK_CONFIG": monitoring.files[ROLLBACK_CONFIG],
            "ROLLBACK_SERVICES": monitoring.files[ROLLBACK_SERVICES],
            "ROLLBACK_DRY_RUN": str(dry_run).lower(),
            "ROLLBACK_WEBHOOK_TOKEN": secret(config.secrets.rollback_webhook_token),
            "RAILWAY_PROJECT_ID": config.railway.project_id,
            **(
                {"VERCEL_PROJECT_ID": project.project_id, "VERCEL_TEAM_ID": project.team_id}
                if project
                else {}
            ),
            "GITHUB_REPOSITORY": gh.repository,
            "GITHUB_ENVIRONMENT": gh.environment,
            "SLACK_WEBHOOK_URL": secret(config.secrets.slack_api_url),
            **(
                {
                    "PAGERDUTY_ROUTING_KEY": secret(config.secrets.pagerduty_routing_key),
                    "PAGERDUTY_URL": receivers.pagerduty_url,
                }
                if config.secrets.pagerduty_routing_key
                else {}
            ),
            "SMTP_HOST": smtp_host,
            "SMTP_PORT": smtp_port,
            "SMTP_USERNAME": receivers.smtp_username,
            "SMTP_PASSWORD": secret(config.secrets.smtp_password),
            "SMTP_FROM": receivers.email_from,
            "SMTP_TO": ",".join(receivers.email_to),
            **({} if dry_run else _rollback_tokens(config)),
        },
    )


def rollback_url(config: StackConfig) -> str:
    """Where Alertmanager calls it: its private address unless the stack makes it public."""
    if config.rollback_is_public:
        return config.urls.rollback
    return f"http://{private_address('rollback', ROLLBACK_PORT)}"


def _github_environment(
    config: StackConfig, workflows: Mapping[str, str], vercel: Mapping[str, VercelService]
) -> GitHubEnvironmentArgs:
    """The environment's secrets and variables, by the names the workflows read
    (components.app_repository holds them together)."""
    deploy = {
        app_repository.RAILWAY_DEPLOYER: config.secrets.railway_deploy_token,
        app_repository.VERCEL_DEPLOYER: config.secrets.vercel_token,
        app_repository.FREEZE_READER: config.secrets.freeze_read_token,
        app_repository.VERCEL_BYPASS: config.secrets.vercel_bypass_secret,
    }
    project = next(iter(vercel.values()), None)
    values: dict[str, pulumi.Input[str]] = {
        "ENVIRONMENT": config.environment.name,
        **{config.url_variable(n): s.url for n, s in config.services.items() if s.url},
        **(
            {"VERCEL_PROJECT_ID": project.project_id, "VERCEL_ORG_ID": project.team_id}
            if project
            else {}
        ),
    }
    gh = config.github
    return GitHubEnvironmentArgs(
        config=gh,
        secrets={name: secret(_present(deploy[name])) for name in app_repository.secrets(config)},
        variables={name: values[name] for name in app_repository.variables(config)},
        files=workflows if gh.workflows == "managed" else {},
        protect=config.is_production,
    )


def _pick(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda outputs: outputs[key]


class Pipeline(pulumi.ComponentResource):
    outputs: pulumi.Output[dict[str, Any]]

    def __init__(
        self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        workflows = app_repository.files(config)
        inconsistent = app_repository.problems(config, workflows, pulumi.get_project())
        if inconsistent:  # before any resource, the Pipeline itself included
            count = len(inconsistent) // 2
            raise ConfigError(
                f"Stack '{config.environment.name}' has {count} configuration problem(s):\n"
                + "\n".join(inconsistent)
            )
        # Its inputs say which environment, and what kind, every resource below belongs to.
        environment = {"environment": config.environment.name, "kind": config.environment.kind}
        # A stack deployed with 1.x keeps every resource: each component its 1.x type as an
        # alias (a custom resource follows its component).
        own = pulumi.ResourceOptions.merge(opts, legacy.aliases(TYPE, config))
        super().__init__(TYPE, name, environment, own)

        def child(type_: str) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self).merge(legacy.aliases(type_, config))

        self.monitoring = MonitoringFiles("monitoring", config, child(MONITORING_FILES))
        railway_child = child(RAILWAY_SERVICE)
        self.railway = {
            n: RailwayService(n, args, railway_child)
            for n, args in _railway_services(config).items()
        }
        running = _servers(config, self.monitoring)
        self.server_urls = _server_urls(config, running)
        self.servers = {
            n: RailwayService(n, args, railway_child)
            for n, args in _monitoring_servers(config, running).items()
        }
        self.vercel = {
            n: VercelService(n, args, child(VERCEL_SERVICE))
            for n, args in _vercel_services(config).items()
        }
        self.rollback = RailwayService(
            "rollback", _rollback_service(config, self.monitoring, self.vercel), railway_child
        )
        self.github = GitHubEnvironment(
            "github", _github_environment(config, workflows, self.vercel), child(GITHUB_ENVIRONMENT)
        )
        self.outputs = _outputs(config, self)
        self.register_outputs({"outputs": self.outputs})

    def export(self) -> None:
        """Export each top-level field of `StackOutputs` as one stack output."""
        for field in StackOutputs.model_fields.values():
            key = field.alias
            assert key is not None
            pulumi.export(key, self.outputs.apply(_pick(key)))


def _service_outputs(config: StackConfig, pipeline: Pipeline) -> pulumi.Output[dict[str, Any]]:
    """Each service of the product with its platform's ids (StackOutputs.services)."""
    found: dict[str, pulumi.Input[dict[str, Any]]] = {}
    for name, service in config.services.items():
        common = {"platform": service.platform, "role": service.role, "url": service.url}
        if name in pipeline.vercel:
            built = pipeline.vercel[name]
            found[name] = pulumi.Output.all(
                project_id=built.project_id, team_id=built.team_id
            ).apply(functools.partial(_merged, {**common, "domains": [built.domain]}))
        else:
            found[name] = pipeline.railway[name].service_id.apply(
                lambda service_id, c=common: {**c, "service_id": service_id}  # type: ignore[misc]
            )
    return pulumi.Output.from_input(found)


def _merged(common: dict[str, Any], ids: dict[str, Any]) -> dict[str, Any]:
    return {**common, **ids}


def _outputs(config: StackConfig, pipeline: Pipeline) -> pulumi.Output[dict[str, Any]]:
    gh = config.github
    return pulumi.Output.all(
        environment=pipeline.github.environment,
        reviewers=pipeline.github.reviewer_ids,
        services=_service_outputs(config, pipeline),
        rollback_id=pipeline.rollback.service_id,
        server_ids=pulumi.Output.from_input(
            {name: server.service_id for name, server in pipeline.servers.items()}
        ),
    ).apply(
        lambda resolved: StackOutputs(
            product=config.product.model_dump(),
            environment=config.environment.model_dump(),
            services=resolved["services"],
            urls=config.urls.model_dump(),
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
                "project_id": config.railway.project_id,
                "environment": config.environment.name,
            },
            rollback={"service_id": resolved["rollback_id"], "url": rollback_url(config)},
            feature_flags=config.feature_flags,
            monitoring={
                "files": pipeline.monitoring.hashes,
                "secret_files": pipeline.monitoring.secret_files,
                "services": {
                    name: {"service_id": service_id, "url": pipeline.server_urls[name]}
                    for name, service_id in resolved["server_ids"].items()
                },
            },
        ).model_dump(mode="json", by_alias=True)
    )
