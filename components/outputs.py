"""Stack outputs: the versioned contract other tooling reads with `pulumi stack output --json`.

Bump `SCHEMA_VERSION` with every change: the minor number for added fields, the major number for
anything removed or renamed. `python -m tools.schemas --write` regenerates the JSON Schema.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from monitoring.config import EnvironmentKind, Role
from monitoring.images import ServerName

SchemaVersion = Literal["2.0.0"]  # the default of StackOutputs.schema_version too
SCHEMA_VERSION: str = get_args(SchemaVersion)[0]


class Output(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class UrlsOutput(Output):
    """The pipeline's own origins (2.0.0: each service's url is in `services`)."""

    rollback: str = Field(
        description="since 1.4.0: the rollback service's public https origin, where it answers "
        "only when rollback.public is set or monitoring is hosted outside Railway (rollback.url "
        "says where Alertmanager calls it)"
    )
    grafana: str = Field(description="since 1.5.0: public https origin of Grafana")


class EnvironmentOutput(Output):
    name: str = Field(description="the Railway environment (the stack's environment.name)")
    kind: EnvironmentKind = Field(description="production, staging or preview")


class ProductOutput(Output):
    name: str = Field(description="the product's slug")
    title: str = Field(description="the product's name for people")


class ReviewersOutput(Output):
    users: list[int] = Field(description="GitHub user ids required to approve a deployment")
    teams: list[int] = Field(description="GitHub team ids required to approve a deployment")


class GitHubOutput(Output):
    repository: str = Field(description="owner/name of the application repository")
    environment: str = Field(description="name of the GitHub deployment environment")
    branch: str = Field(description="the only branch allowed to deploy to the environment")
    deployment_branch_policy: Literal["custom", "protected"]
    wait_timer: int = Field(description="minutes a deployment waits before it starts")
    reviewers: ReviewersOutput
    required_checks: list[str] = Field(description="status checks the branch requires")


class VercelServiceOutput(Output):
    platform: Literal["vercel"]
    role: Role
    url: str | None = Field(description="public https origin of the service")
    project_id: str = Field(description="Vercel project id (VERCEL_PROJECT_ID)")
    team_id: str = Field(description="Vercel team id (VERCEL_ORG_ID)")
    domains: list[str] = Field(description="domains this stack binds to the project")


class RailwayServiceOutput(Output):
    platform: Literal["railway"]
    role: Role
    url: str | None = Field(description="public https origin of the service, if it has one")
    service_id: str = Field(description="Railway service id")


ServiceOutput = Annotated[
    VercelServiceOutput | RailwayServiceOutput, Field(discriminator="platform")
]


class RailwayOutput(Output):
    project_id: str = Field(description="Railway project id")
    environment: str = Field(description="Railway environment name (the stack's environment)")


class RollbackOutput(Output):
    service_id: str = Field(description="Railway service id")
    url: str = Field(
        description="where Alertmanager calls it: http://rollback.railway.internal:<port> on "
        "Railway's private network by default (since 1.6.0), or its public https origin "
        "(rollback.public, or monitoring hosted outside Railway)"
    )


class MonitoringServiceOutput(Output):
    service_id: str = Field(description="Railway service id")
    url: str = Field(
        description="where it answers: http://<name>.railway.internal:<port> on the private "
        "network, or the public https origin (Grafana)"
    )


class MonitoringOutput(Output):
    files: dict[str, str] = Field(
        description="rendered monitoring file (relative path) -> sha256 of its content"
    )
    secret_files: dict[str, str] = Field(
        description="secret name -> path where Alertmanager reads it (its entrypoint writes each)"
    )
    services: dict[ServerName, MonitoringServiceOutput] = Field(
        description="since 1.5.0: the monitoring servers the stack runs on Railway "
        "(empty with monitoring.servers.hosting external)"
    )


class StackOutputs(Output):
    """Everything a stack exports. Each top-level field is one `pulumi stack output` key.
    2.0.0: the product's services are a map (`services`), replacing `frontend`,
    `railway.services` and `urls.frontend/api/worker`; `environment` is {name, kind}."""

    schema_version: SchemaVersion = Field(
        "2.0.0", description="version of this contract (semantic versioning)"
    )
    product: ProductOutput = Field(description="since 2.0.0")
    environment: EnvironmentOutput = Field(description="2.0.0: a mapping, was the name")
    services: dict[str, ServiceOutput] = Field(
        description="since 2.0.0: the product's services by name, each with its platform's ids"
    )
    urls: UrlsOutput
    github: GitHubOutput
    railway: RailwayOutput = Field(description="since 1.2.0")
    monitoring: MonitoringOutput = Field(description="since 1.3.0")
    rollback: RollbackOutput = Field(
        description="since 1.4.0: the rollback service Alertmanager's rollback receiver calls"
    )
    feature_flags: dict[str, bool] = Field(
        description="since 1.6.0: this environment's feature flags, by their stack-file name "
        "(newDashboard); the frontend reads each as NEXT_PUBLIC_FEATURE_<NAME> ('true'/'false')"
    )
