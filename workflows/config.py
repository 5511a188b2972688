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
Version = Annotated[str, Field(pattern=r"^[0-9]+(?:\.[0-9]+){1,3}$")]


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
    users: int = Field(5, ge=1, le=50)
    duration_seconds: int = Field(30, ge=5, le=300)
    max_failure_ratio: float = Field(0.0, ge=0, le=0.5)


class SecretNames(ConfigModel):
    railway_token: Name = "RAILWAY_TOKEN"
    vercel_token: Name = "VERCEL_TOKEN"
    freeze_read_token: Name = Field(
        "FREEZE_READ_TOKEN",
        description="reads the environment's variables: the freeze gate re-reads the freeze",
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
    deploy: Literal["workflow", "image"] = Field(
        "workflow", description="image: Railway runs an image; no step deploys it"
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

    def ci_jobs(self) -> tuple[str, ...]:
        """ci.yml's jobs before the gate job, in order."""
        return (*self.checked(), SECURITY_JOB)

    def on(self, platform: Platform) -> dict[str, AppService]:
        return {n: s for n, s in self.services.items() if s.platform == platform}

    def probed(self) -> dict[str, tuple[str, str]]:
        """Service -> (its url variable, its health path), for every service with both."""
        return {
            name: (s.url_variable, s.health_path)
            for name, s in self.services.items()
            if s.url_variable and s.health_path
        }
