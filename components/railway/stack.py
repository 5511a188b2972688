"""The Railway services one stack declares: each Railway service of the product, the rollback
service and the monitoring servers, for Pipeline to wire."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import pulumi

import rollback.deploy
from components.config import Service
from components.railway.component import RailwayServiceArgs, RegistryLogin
from components.railway.spec import ImageSource, Settings, WorkflowSource
from monitoring.images import ServerName
from monitoring.servers import Server, ServerSecret
from rollback.settings import ACTING, ENV, SECRETS, acting

# This repository's deploy workflow ships the rollback service from the commit it deploys.
PIPELINE_DEPLOY_WORKFLOW = ".github/workflows/deploy.yml"
# The rollback service's settings that only acting needs: its platform tokens, and what else.
ACTING_VARIABLES = frozenset(ENV[field] for fields in ACTING.values() for field in fields)
PLATFORM_TOKENS = ACTING_VARIABLES & SECRETS


def _settings(service: Service) -> Settings:
    """Railway's health check on its health path; a cron service runs on its schedule and is
    not restarted when it exits (a failed run waits for the next one, never runs twice)."""
    if service.role == "cron":
        return Settings(cron_schedule=service.schedule, restart_policy_type="NEVER")
    return Settings(
        healthcheck_path=service.health_path,
        healthcheck_timeout=60 if service.health_path else None,
        restart_policy_type="ON_FAILURE",
    )


def app_service(
    name: str,
    service: Service,
    *,
    project_id: str,
    environment: str,
    product: str,
    repository: str,
    secrets: Mapping[str, pulumi.Input[str]],
    retain_on_delete: bool,
    protect: bool,
    registry: RegistryLogin | None = None,
) -> RailwayServiceArgs:
    """One Railway service of the product. The Railway environment is named after the stack's
    environment; its url's host becomes its custom domain; it listens on its port (PORT), where
    Prometheus scrapes it on the private network. With deploy `workflow` its code comes only
    from the application repository's deploy workflow (`railway up`), behind its reviewers, wait
    timer and freeze gate: no push deploys it around them. `secrets`: its secretEnv's values.
    `registry`: the login Railway pulls a private image with, for a service with deploy built
    (the only one whose image is the repository's)."""
    source: ImageSource | WorkflowSource
    deployed_by = f"{repository}: .github/workflows/deploy-{environment}.yml"
    if service.image is not None:
        source = ImageSource(image=service.image)
    elif service.deploy == "built":
        source = WorkflowSource(
            deployed_by=deployed_by, image_repository=f"ghcr.io/{repository.lower()}/{name}"
        )
    else:
        source = WorkflowSource(deployed_by=deployed_by, root_directory=service.root)
    host = urlsplit(service.url).hostname if service.url else None
    return RailwayServiceArgs(
        project_id=project_id,
        environment=environment,
        service=name,
        product=product,
        source=source,
        settings=_settings(service),
        domains=[host] if host else [],
        variables={
            "ENVIRONMENT": environment,
            **({"PORT": str(service.port)} if service.port else {}),
        },
        secrets={variable: secrets[variable] for variable in service.secret_env},
        registry=registry if service.deploy == "built" else None,
        retain_on_delete=retain_on_delete,
        protect=protect,
    )


def _spec(platforms: frozenset[str], pages: bool) -> rollback.deploy.ServiceSpec:
    return rollback.deploy.service_spec(
        notifications=("slack", "pagerduty", "email") if pages else ("slack", "email"),
        platforms=platforms,
    )


def _rollback_problems(
    variables: Mapping[str, object], *, dry_run: bool, platforms: frozenset[str], pages: bool
) -> list[str]:
    spec = _spec(platforms, pages)
    missing = sorted(set(spec.required_variables) - ACTING_VARIABLES - set(variables))
    if not dry_run:  # acting needs one of each acting entry (a token, a project...)
        missing += [
            n
            for n, fields in acting(platforms).items()
            if not any(ENV[f] in variables for f in fields)
        ]
    problems = [f"needs {', '.join(missing)}"] if missing else []
    held = sorted(PLATFORM_TOKENS & set(variables))
    if dry_run and held:
        problems.append(f"holds {', '.join(held)} in dry run, which never calls a platform")
    return problems


def rollback_service(
    *,
    project_id: str,
    environment: str,
    product: str,
    repository: str,
    public_url: str | None,
    variables: Mapping[str, pulumi.Input[str]],
    dry_run: bool,
    protect: bool,
    platforms: frozenset[str],
    pages: bool,
) -> RailwayServiceArgs:
    """The rollback service (this repository's `rollback/`); `variables` are its settings.

    Its code comes only from `repository`'s own deploy workflow (`railway up` of the commit that
    workflow deploys, behind the stack's reviewers), never from Railway building a branch on
    push. It answers on the private network, where Alertmanager reaches it, and on the host of
    `public_url` only when given. In dry run it holds no platform token. `platforms`: where the
    services it may roll back run (what acting needs); `pages`: whether it pages PagerDuty (then
    its routing key is required)."""
    problems = _rollback_problems(variables, dry_run=dry_run, platforms=platforms, pages=pages)
    if problems:
        raise ValueError(f"the rollback service {'; '.join(problems)}")
    spec = _spec(platforms, pages)
    host = urlsplit(public_url).hostname if public_url else None
    return RailwayServiceArgs(
        project_id=project_id,
        environment=environment,
        service=spec.name,
        product=product,
        source=WorkflowSource(deployed_by=f"{repository}: {PIPELINE_DEPLOY_WORKFLOW}"),
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
    product: str,
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
            product=product,
            source=ImageSource(image=server.image),
            settings=Settings(
                healthcheck_path=server.health_path,
                # Prometheus replays its write-ahead log before it is ready.
                healthcheck_timeout=300 if server.health_path else None,
                # A server behind a login answers its health path 401: no health check, and
                # none left over from before the login either.
                cleared=() if server.health_path else ("healthcheckPath", "healthcheckTimeout"),
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
