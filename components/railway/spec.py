"""The JSON spec `apply` reads on stdin and the JSON state it prints (ids, never values)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel, to_snake

VariableName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=256)
]
Hostname = Annotated[
    str,
    StringConstraints(
        pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
        max_length=253,
        to_lower=True,
    ),
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=True)]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]


def _normal_absolute(path: str) -> str:
    parts = PurePosixPath(path).parts
    if path != str(PurePosixPath(path)) or len(parts) < 2 or ".." in parts:
        raise ValueError("must be an absolute, normalised path below / (like /data)")
    return path


MountPath = Annotated[
    str, StringConstraints(pattern=r"^/", max_length=255), AfterValidator(_normal_absolute)
]


class Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class RepoSource(Model):
    repo: Annotated[str, StringConstraints(pattern=r"^[\w.-]+/[\w.-]+$")] = Field(
        description="GitHub repository, owner/name"
    )
    branch: NonEmpty = Field(description="Branch this environment deploys from")
    root_directory: str | None = Field(
        default=None, description="Folder of the service in the repo"
    )


class ImageSource(Model):
    image: NonEmpty = Field(description="Docker image, e.g. ghcr.io/org/app:tag")


class WorkflowSource(Model):
    """Code arrives only from a deploy workflow (`railway up`), behind its gates: the service is
    connected to no repository or image, so no push deploys it around them."""

    deployed_by: NonEmpty = Field(description="the workflow that deploys it, for people")
    root_directory: str | None = Field(
        default=None, description="Folder of the service in what the workflow uploads"
    )
    # The workflow points the instance at an image of this repository, by digest, the one its
    # CI built (`source.image` of the environment config, as Railway's "Change Docker Image"
    # patch: railwayapp/railway-skills skills/reference/environment-config.md): apply leaves
    # such an image alone and removes any other source.
    image_repository: (
        Annotated[str, StringConstraints(pattern=r"^[a-z0-9.-]+(/[a-z0-9._-]+)+$")] | None
    ) = Field(
        default=None, description="ghcr.io/owner/repo/service: the images the workflow deploys"
    )

    def ships(self, image: object) -> bool:
        """Whether `image` is one of `image_repository`'s, as the workflow sets it."""
        repository = self.image_repository
        return (
            repository is not None
            and isinstance(image, str)
            and image.startswith((f"{repository}@sha256:", f"{repository}:"))
        )


ClearableSetting = Literal["healthcheckPath", "healthcheckTimeout", "startCommand", "cronSchedule"]
# Railway runs a cron service on a crontab expression: `deploy.cronSchedule` in config as code
# (railwayapp/docs src/docs/reference/config-as-code.md, "Cron Schedule"), `cronSchedule` of
# ServiceInstance and ServiceInstanceUpdateInput in its schema (schema.graphql lines 4014, 4066).
CronSchedule = Annotated[str, StringConstraints(pattern=r"^[0-9*/,-]+( [0-9*/,-]+){4}$")]


class Settings(Model):
    """Instance settings for the environment. A field left out (null) is left as Railway has it;
    one named in `cleared` is removed (a server that now answers its health path only with a
    login must lose the health check an earlier apply set, or its next deploy never goes live)."""

    healthcheck_path: Annotated[str, StringConstraints(pattern=r"^/")] | None = None
    healthcheck_timeout: Annotated[int, Field(ge=1, le=3600)] | None = None
    start_command: NonEmpty | None = None
    cron_schedule: CronSchedule | None = None
    num_replicas: Annotated[int, Field(ge=1, le=50)] | None = None
    region: NonEmpty | None = None
    restart_policy_type: Literal["ALWAYS", "NEVER", "ON_FAILURE"] | None = None
    cleared: tuple[ClearableSetting, ...] = ()

    @model_validator(mode="after")
    def _cleared_or_set(self) -> Self:
        both = [n for n in self.cleared if getattr(self, to_snake(n)) is not None]
        if both:
            raise ValueError(f"{', '.join(both)}: set and cleared at once")
        return self


class Volume(Model):
    mount_path: MountPath = Field(description="Where the container sees the volume")


def _one_per_path(volumes: tuple[Volume, ...]) -> tuple[Volume, ...]:
    if len({v.mount_path for v in volumes}) != len(volumes):
        raise ValueError("each mount path may appear once")
    return volumes


# The converge tool reads the value of each of `Service.secret_variables` from this variable
# of its own environment (the Command's secret `environment`), never from stdin.
SECRET_ENV_PREFIX = "PIPELINE_SECRET_"
# ... and the password of `Service.registry_credentials` from this one.
REGISTRY_PASSWORD_ENV = "PIPELINE_REGISTRY_PASSWORD"


class RegistryCredentials(Model):
    """The login Railway pulls a private image with (`registryCredentials` of
    ServiceInstanceUpdateInput, schema.graphql:4079; "Private Registries", railwayapp/docs
    content/docs/builds/private-registries.md). Only the username travels on stdin; the password
    comes from REGISTRY_PASSWORD_ENV (`Service.with_secrets`)."""

    username: Name
    password: SecretStr | None = Field(default=None, exclude=True)

    @field_validator("password")
    @classmethod
    def _never_on_stdin(cls, value: SecretStr | None) -> SecretStr | None:
        # with_secrets sets it with model_copy, which validates nothing: only stdin gets here.
        if value is not None:
            raise ValueError(f"the password is read from {REGISTRY_PASSWORD_ENV}, never stdin")
        return value


DEPLOY_TIMEOUT = 900


class Service(Model):
    name: Name
    source: RepoSource | ImageSource | WorkflowSource
    variables: dict[VariableName, str] = Field(default_factory=dict)
    secret_variables: tuple[VariableName, ...] = Field(
        default=(), description=f"Names whose values apply reads from {SECRET_ENV_PREFIX}<NAME>"
    )
    settings: Settings = Field(default_factory=Settings)
    domains: tuple[Hostname, ...] = Field(default=(), description="Custom domains")
    service_domain: bool = Field(default=False, description="Also ensure a *.up.railway.app domain")
    # Railway attaches at most one volume to a service and refuses replicas with a volume.
    volumes: Annotated[tuple[Volume, ...], AfterValidator(_one_per_path)] = Field(
        default=(), max_length=1, description="Persistent volumes of this environment's instance"
    )
    registry_credentials: RegistryCredentials | None = Field(
        default=None, description="The login Railway pulls the service's private image with"
    )
    # None, not a number, by default: left out, the rendered stdin stays as it was.
    deploy_timeout: Annotated[int, Field(ge=1, le=7200)] | None = Field(
        default=None,
        description=f"Seconds apply waits for a deployment to end (default {DEPLOY_TIMEOUT})",
    )

    @model_validator(mode="after")
    def _no_replicas_with_a_volume(self) -> Self:
        if self.volumes and (self.settings.num_replicas or 1) > 1:
            raise ValueError("settings.numReplicas must be 1 for a service with a volume")
        both = sorted(set(self.variables) & set(self.secret_variables))
        if both:
            raise ValueError(f"{', '.join(both)}: a variable is either plain or secret, not both")
        return self

    def with_secrets(self, env: Mapping[str, str]) -> Service:
        """This service with each secret variable's value read from `env`, ready to converge."""
        missing = [n for n in self.secret_variables if f"{SECRET_ENV_PREFIX}{n}" not in env]
        if missing:
            names = ", ".join(f"{SECRET_ENV_PREFIX}{n}" for n in missing)
            raise ValueError(f"secret variables without a value in the environment: {names}")
        login = self.registry_credentials
        if login is not None and not env.get(REGISTRY_PASSWORD_ENV):
            raise ValueError(f"registry credentials without a password in {REGISTRY_PASSWORD_ENV}")
        values = {n: env[f"{SECRET_ENV_PREFIX}{n}"] for n in self.secret_variables}
        update: dict[str, object] = {
            "variables": {**self.variables, **values},
            "secret_variables": (),
        }
        if login is not None:
            password = SecretStr(env[REGISTRY_PASSWORD_ENV])
            update["registry_credentials"] = login.model_copy(update={"password": password})
        return self.model_copy(update=update)


class Spec(Model):
    project_id: NonEmpty
    environment: Name
    # For people: Railway's commit messages name it. None: a spec from before it was sent.
    product: Name | None = None
    service: Service


class DomainRef(Model):
    id: str
    domain: str


class VolumeRef(Model):
    id: str = Field(description="Railway's volume id (the instance in this environment)")
    mount_path: str


class State(Model):
    """Printed by `apply`, stored by Pulumi as the command's stdout, read back by the next run.
    Version 2 adds `applied`; a version 1 state reads with `applied` unknown (None)."""

    schema_version: Literal[1, 2] = 2
    project_id: str
    environment_id: str
    environment: str
    service_id: str
    service: str
    variables: tuple[str, ...] = Field(description="Names of the variables apply manages")
    custom_domains: tuple[DomainRef, ...] = ()
    service_domain: DomainRef | None = None
    volumes: tuple[VolumeRef, ...] = Field(default=(), description="Volumes apply manages")
    deployment_id: str | None = Field(
        default=None, description="The deployment that runs (or that this apply started)"
    )
    applied: str | None = Field(
        default=None,
        description="Digest of the source and deploy settings the last finished apply committed",
    )
    url: str | None = Field(
        default=None, description="https:// + first custom domain, else service domain"
    )
    registry_credentials: str | None = Field(
        default=None,
        description="Fingerprint (scrypt, never reversible to the password) of the registry "
        "login apply last gave Railway, which cannot read it back: the same login is not sent "
        "again",
    )
    caught_up: str | None = Field(
        default=None,
        description="A deployment apply made only because the one before it seemed to predate "
        "the spec (deploymentSnapshot): its own snapshot is never compared, so a snapshot that "
        "never matches what apply sent redeploys once, not on every run",
    )


def public_url(custom_domains: tuple[str, ...], service_domain: str | None) -> str | None:
    host = custom_domains[0] if custom_domains else service_domain
    return f"https://{host}" if host else None
