"""The Railway services one stack declares: backend, worker, the rollback service and the
monitoring servers, for Pipeline to wire."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import pulumi

import rollback.deploy
from components.railway.component import RailwayServiceArgs
from components.railway.spec import ImageSource, RepoSource, Settings, WorkflowSource
from monitoring.images import ServerName
from monitoring.servers import Server, ServerSecret

HEALTH = Settings(
    healthcheck_path="/health", healthcheck_timeout=60, restart_policy_type="ON_FAILURE"
)


def stack_services(
    *,
    project_id: str,
    environment: str,
    repository: str,
    api_url: str,
    worker_url: str,
    database_url: pulumi.Input[str],
    redis_url: pulumi.Input[str],
    retain_on_delete: bool,
    protect: bool,
    port: int,
    root_directories: tuple[str, str] = ("backend", "worker"),
) -> dict[str, RailwayServiceArgs]:
    """`api_url`/`worker_url` are the stack's https origins; their hosts become custom domains.
    The Railway environment is named after the stack's environment. Each listens on `port`
    (PORT), where Prometheus scrapes it on the private network. Their code comes only from the
    application repository's deploy workflow (`railway up`), behind its reviewers, wait timer
    and freeze gate: no push deploys them around it."""
    secrets = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
    hosts = {
        "backend": urlsplit(api_url).hostname or "",
        "worker": urlsplit(worker_url).hostname or "",
    }
    roots = dict(zip(("backend", "worker"), root_directories, strict=True))
    return {
        name: RailwayServiceArgs(
            project_id=project_id,
            environment=environment,
            service=name,
            source=WorkflowSource(
                deployed_by=f"{repository}: .github/workflows/deploy-{environment}.yml",
                root_directory=roots[name],
            ),
            settings=HEALTH,
            domains=[hosts[name]] if hosts[name] else [],
            variables={"ENVIRONMENT": environment, "PORT": str(port)},
            secrets=secrets,
            retain_on_delete=retain_on_delete,
            protect=protect,
        )
        for name in ("backend", "worker")
    }


def rollback_service(
    *,
    project_id: str,
    environment: str,
    repository: str,
    branch: str,
    url: str,
    variables: Mapping[str, pulumi.Input[str]],
    protect: bool,
) -> RailwayServiceArgs:
    """The rollback service (this repository's `rollback/`); `variables` are its settings."""
    spec = rollback.deploy.service_spec(notifications=("slack", "pagerduty", "email"))
    missing = sorted(set(spec.required_variables) - set(variables))
    if missing:
        raise ValueError(f"the rollback service needs {', '.join(missing)}")
    host = urlsplit(url).hostname or ""
    return RailwayServiceArgs(
        project_id=project_id,
        environment=environment,
        service=spec.name,
        source=RepoSource(repo=repository, branch=branch),
        settings=Settings(
            healthcheck_path=spec.health_path,
            healthcheck_timeout=60,
            start_command=spec.start_command,
            restart_policy_type="ALWAYS",
        ),
        domains=[host] if host else [],
        volumes=[spec.volume_mount],  # its audit log, its memory of past rollbacks
        variables={
            **{k: v for k, v in variables.items() if k not in spec.secret_variables},
            "PORT": str(rollback.deploy.PORT),
        },
        secrets={k: v for k, v in variables.items() if k in spec.secret_variables},
        retain_on_delete=protect,
        protect=protect,
    )


def monitoring_services(
    *,
    project_id: str,
    environment: str,
    servers: Mapping[ServerName, Server],
    secrets: Mapping[ServerSecret, pulumi.Input[str]],
    public: Mapping[ServerName, str],
    protect: bool,
) -> dict[str, RailwayServiceArgs]:
    """One image service per monitoring server. `public`: server -> the host of its public
    domain (Grafana's); every other server is reachable only on the private network."""
    return {
        name: RailwayServiceArgs(
            project_id=project_id,
            environment=environment,
            service=name,
            source=ImageSource(image=server.image),
            settings=Settings(
                healthcheck_path=server.health_path,
                # Prometheus replays its write-ahead log before it is ready.
                healthcheck_timeout=300,
                start_command=server.start_command,
                restart_policy_type="ALWAYS",
            ),
            domains=[public[name]] if name in public else [],
            volumes=[server.volume] if server.volume else [],
            variables={
                **server.variables,
                "PORT": str(server.port),  # Railway's health check and domain use this port
                # The entrypoint writes its files, and Railway mounts volumes owned by root:
                # Railway's documented switch for images that run as another user.
                "RAILWAY_RUN_UID": "0",
            },
            secrets={variable: secrets[s] for variable, s in server.secret_variables.items()},
            retain_on_delete=protect,
            protect=protect,
        )
        for name, server in servers.items()
    }
