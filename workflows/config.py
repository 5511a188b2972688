"""Typed input of the application repository's workflows. Defaults are the spec's values (and
the names the GitHub component declares), so a config needs only its environments, its services
and the pipeline repository."""

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from monitoring.config import ConfigModel, EnvironmentKind, Platform, Role, ServiceName, UrlPath

# GitHub Actions secret and variable names (the component declares them in upper case).
Name = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,254}$")]
# Kept shell-, URL- and YAML-safe on purpose: these are written into workflow files.
EnvironmentName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")]
Branch = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*(?:[./][A-Za-z0-9_-]+)*$")]
Folder = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(?:/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")
]
Repository = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")]
PythonPackage = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
# ci.yml's job beside the one per source folder, before the gate job the rulesets require.
SECURITY_JOB = "security"
# A Python folder's jobs after its own: the integration tests, then one coverage gate over both.
PYTHON_SUFFIXES = ("-integration", "-coverage")
Version = Annotated[str, Field(pattern=r"^[0-9]+(?:\.[0-9]+){1,3}$")]
# A container image by tag and digest: the tag says the version, the digest fixes the bytes
# (zizmor's unpinned-images). Written into workflow files: no shell or YAML specials.
ContainerImage = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9]+(?:[._/-][a-z0-9]+)*:[0-9][A-Za-z0-9._-]{0,127}@sha256:[0-9a-f]{64}$"
    ),
]
# The image the deploy job builds a Vercel service in (node:22-bookworm, by digest as pinned in
# several public Dockerfiles; Dependabot's docker updates do not reach a workflow's run step).
NODE_BUILD_IMAGE = (
    "node:22-bookworm@sha256:cd7bcd2e7a1e6f72052feb023c7f6b722205d3fcab7bbcbd2d1bfdab10b1e935"
)
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def image_job(service: str) -> str:
    return f"image-{service}"


class DeployEnvironment(ConfigModel):
    """One stack: where a push to `branch` deploys."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")] = Field(
        description="the stack, also the Railway environment and the workflow file names"
    )
    kind: EnvironmentKind = Field(description="what the environment is for (smoke test: not prod)")
    github_environment: EnvironmentName = Field(description="the GitHub deployment environment")
    branch: Branch = Field(description="the only branch that deploys here")
    vercel_target: Literal["production", "preview"] = Field(
        "production", description="preview: the `shared` Vercel layout's staging"
    )
    smoke_test: bool = Field(False, description="run the Locust smoke after the health checks")


class HealthCheck(ConfigModel):
    tries: int = Field(10, ge=1, le=30, description="tries per URL, the first one included")
    interval_seconds: int = Field(10, ge=1, le=120, description="pause between two rounds")
    timeout_seconds: int = Field(10, ge=1, le=60, description="limit of one request")


class SmokeTest(ConfigModel):
    """The Locust smoke after a deploy, judged by the bounds the alerts use (the stack passes
    monitoring.triggers.performance's errorRate and responseTimeP95)."""

    users: int = Field(5, ge=1, le=50)
    duration_seconds: int = Field(30, ge=5, le=300)
    max_failure_ratio: float = Field(0.0, ge=0, le=0.5)
    max_p95_seconds: float = Field(2.0, gt=0, le=60, description="p95 of every request")


class Databases(ConfigModel):
    """The service containers of the integration tests: the versions the services run against
    on Railway. None: no container, and no DATABASE_URL / REDIS_URL."""

    postgres: ContainerImage | None = None
    redis: ContainerImage | None = None


class Playwright(ConfigModel):
    """End-to-end tests of the Node web service: against its build served locally in CI, and
    after each deploy against the environment (production: the smoke set only)."""

    enabled: bool = True
    tests: Folder = Field("e2e", description="the specs' folder, in the service's root")
    port: int = Field(3000, ge=1024, le=65535, description="where `npm run start` serves locally")
    workers: int = Field(2, ge=1, le=8)
    retries: int = Field(1, ge=0, le=3, description="in CI; a retried failure keeps its trace")
    test_timeout_seconds: int = Field(30, ge=5, le=600)
    smoke_tag: str = Field(
        "@smoke", pattern=r"^@[A-Za-z0-9_-]{1,40}$", description="production runs only these"
    )
    after_deploy: bool = True
    protection_bypass: bool = Field(
        False,
        description="Vercel deployment protection is on: send the bypass secret "
        "(secrets.vercelBypass) as x-vercel-protection-bypass",
    )


class DependencyUpdates(ConfigModel):
    """Dependabot's schedule, for npm, pip, Docker and GitHub Actions alike."""

    enabled: bool = True
    interval: Literal["daily", "weekly", "monthly"] = "weekly"
    day: Weekday = "monday"
    time: str = Field("06:00", pattern=r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$")
    timezone: str = Field("Etc/UTC", pattern=r"^[A-Za-z_]+(?:/[A-Za-z0-9_+-]+){0,2}$")
    open_pull_requests_limit: int = Field(5, ge=0, le=20)
    cooldown_days: int = Field(
        7,
        ge=1,
        le=90,
        description="a release is proposed only once it is this old: a hijacked release is "
        "usually found and pulled within days",
    )
    target_branch: Branch | None = Field(
        None, description="where its pull requests go (e.g. staging's branch); default: main"
    )


class AppCi(ConfigModel):
    """The stack file's `appCi`: what the application's CI runs besides its linters and unit
    tests."""

    databases: Databases = Databases()
    playwright: Playwright = Playwright()
    dependency_updates: DependencyUpdates = DependencyUpdates()
    build_image: ContainerImage = Field(
        NODE_BUILD_IMAGE,
        description="the container the deploy job builds the Vercel service in (no token, a "
        "copy of the checkout)",
    )


class SecretNames(ConfigModel):
    railway_token: Name = "RAILWAY_TOKEN"
    vercel_token: Name = "VERCEL_TOKEN"
    freeze_read_token: Name = Field(
        "FREEZE_READ_TOKEN",
        description="reads the environment's variables: the freeze gate re-reads the freeze",
    )
    vercel_bypass: Name = Field(
        "VERCEL_AUTOMATION_BYPASS_SECRET",
        description="Vercel's Protection Bypass for Automation: the only secret the deployed "
        "end-to-end tests (the app's code) get",
    )


class VariableNames(ConfigModel):
    """The environment's variables besides each service's url (AppService.url_variable)."""

    vercel_project_id: Name = "VERCEL_PROJECT_ID"
    vercel_org_id: Name = "VERCEL_ORG_ID"
    deploy_freeze: Name = Field("DEPLOY_FREEZE", description="set by the rollback service")
    deploy_freeze_reason: Name = Field(
        "DEPLOY_FREEZE_REASON", description="why it is on (a budget freeze lets fixes by)"
    )


class ToolVersions(ConfigModel):
    """Pinned so that a run today is the run next month. The Railway and Vercel CLIs are pinned
    by the lockfile in workflows/scripts/deploy-tools/ (installed with `npm ci`)."""

    locust: Version = "2.47.0"
    ruff: Version = "0.17.5"
    mypy: Version = "2.4.1"
    pytest: Version = "9.2.0"
    pytest_cov: Version = "7.1.0"
    bandit: Version = "1.9.4"
    pip_audit: Version = "2.10.1"
    build: Version = "1.6.1"
    coverage: Version = "7.17.3"

    def pins(self, *tools: str) -> str:
        """pip requirement specifiers, e.g. `pins("ruff", "pytest_cov")` -> ruff==… pytest-cov==…"""
        return " ".join(f"{tool.replace('_', '-')}=={getattr(self, tool)}" for tool in tools)


class PythonProject(ConfigModel):
    package: PythonPackage = Field(description="what pytest measures the coverage of")
    requirements: tuple[Folder, ...] = Field(("requirements.txt",), min_length=1)


class AppService(ConfigModel):
    """One service of the application, as its CI and deploys see it."""

    platform: Platform
    role: Role
    root: Folder = Field(description="its source folder")
    language: Literal["node", "python"]
    python: PythonProject | None = None
    url_variable: Name | None = Field(None, description="the variable with its url, if it has one")
    health_path: UrlPath | None = None
    deploy: Literal["workflow", "image", "built"] = Field(
        "workflow",
        description="image: Railway runs an image; no step deploys it. built: the deploy job "
        "points Railway at the image the images job pushed (by digest)",
    )
    dockerfile: Folder | None = Field(
        None, description="its Dockerfile in root: CI builds the image, the deploy pushes it"
    )
    rollback: bool = Field(True, description="offered by the rollback workflow")

    @model_validator(mode="after")
    def _python_has_a_package(self) -> Self:
        if (self.language == "python") != (self.python is not None):
            raise ValueError("python: {package} is set exactly for language python")
        return self


class WorkflowsConfig(ConfigModel):
    environments: tuple[DeployEnvironment, ...] = Field(min_length=1)
    pipeline_repository: Repository = Field(
        description="owner/name of this pipeline repository, whose rollback code the "
        "rollback workflow runs"
    )
    pipeline_ref: Branch = "main"
    services: dict[ServiceName, AppService] = Field(min_length=1)
    node_version: Literal["20.x", "22.x"] = "22.x"
    python_version: Literal["3.11", "3.12", "3.13"] = "3.11"
    coverage_gate: int = Field(80, ge=0, le=100, description="backend coverage, percent")
    npm_audit_level: Literal["low", "moderate", "high", "critical"] = "high"
    required_check: str = Field(
        "test-and-quality",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._()-]*$",
        description="name of the CI job that the branch rulesets require",
    )
    health_check: HealthCheck = HealthCheck()
    smoke_test: SmokeTest = SmokeTest()
    secrets: SecretNames = SecretNames()
    variables: VariableNames = VariableNames()
    tools: ToolVersions = ToolVersions()
    app_ci: AppCi = AppCi()
    managed: bool = Field(
        False,
        description="the pipeline commits these files (github.workflows managed): Dependabot "
        "leaves the workflows' actions and the deploy CLIs to the pipeline's repository",
    )
    registry: str | None = Field(
        None,
        pattern=r"^ghcr\.io/[a-z0-9-]{1,39}/[a-z0-9._-]{1,100}$",
        description="where the deploy pushes the services' images (ghcr.io/owner/repository, "
        "lower case); needed when a service has a dockerfile",
    )

    @model_validator(mode="after")
    def _images_have_a_registry(self) -> Self:
        if self.registry is None and self.images():
            raise ValueError(f"registry: needed to push the images of {', '.join(self.images())}")
        return self

    @model_validator(mode="after")
    def _environments_are_distinct(self) -> Self:
        for field in ("name", "github_environment", "branch"):
            values = [getattr(e, field) for e in self.environments]
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise ValueError(f"environments: {field} {repeated} used more than once")
        return self

    @model_validator(mode="after")
    def _required_check_is_its_own_job(self) -> Self:
        jobs = self.ci_jobs()
        if self.required_check in jobs:
            raise ValueError(
                f"requiredCheck {self.required_check!r} is the name of a CI job that it gates: "
                f"choose another name than {', '.join(jobs)}"
            )
        return self

    def checked(self) -> dict[str, list[str]]:
        """CI job -> the services it checks: one job per source folder and language, named
        after its first service."""
        jobs: dict[str, list[str]] = {}
        first: dict[tuple[str, str], str] = {}
        for name, service in self.services.items():
            key = (service.root, service.language)
            jobs.setdefault(first.setdefault(key, name), []).append(name)
        return jobs

    @model_validator(mode="after")
    def _built_services_have_an_image(self) -> Self:
        missing = [n for n, s in self.services.items() if s.deploy == "built" and not s.dockerfile]
        if missing:
            raise ValueError(f"services.{missing[0]}.dockerfile: needed for deploy built")
        return self

    def images(self) -> list[str]:
        """The services built as Docker images."""
        return [name for name, s in self.services.items() if s.dockerfile]

    def python_jobs(self) -> list[str]:
        """The CI jobs of Python folders: each has an integration job and a coverage job."""
        return [n for n, s in self.checked().items() if self.services[s[0]].language == "python"]

    def ci_jobs(self) -> tuple[str, ...]:
        """ci.yml's jobs before the gate job, in order."""
        return (
            *self.checked(),
            *(f"{name}{suffix}" for name in self.python_jobs() for suffix in PYTHON_SUFFIXES),
            *(image_job(n) for n in self.images()),
            SECURITY_JOB,
        )

    def e2e_service(self) -> str | None:
        """The service the end-to-end tests drive: the first Node web service."""
        if not self.app_ci.playwright.enabled:
            return None
        web = (n for n, s in self.services.items() if (s.language, s.role) == ("node", "web"))
        return next(web, None)

    def on(self, platform: Platform) -> dict[str, AppService]:
        return {n: s for n, s in self.services.items() if s.platform == platform}

    def probed(self) -> dict[str, tuple[str, str]]:
        """Service -> (its url variable, its health path), for every service with both."""
        return {
            name: (s.url_variable, s.health_path)
            for name, s in self.services.items()
            if s.url_variable and s.health_path
        }
