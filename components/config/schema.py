"""The models of the stack file (`Pulumi.<stack>.yaml`): what each key may hold, and the rules
between keys (`problems`). The product's shape is data here: its services, environment, flags
and names; no product value is a default.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from monitoring.config import (
    DASHBOARDS,
    ConfigModel,
    EnvironmentKind,
    ImageRef,
    MonitoringConfig,
    Platform,
    Product,
    Role,
    ServiceName,
    UrlPath,
    pages,
)
from monitoring.secrets import checked_url
from policy.publishers import OFFICIAL_PUBLISHERS, publisher
from workflows.config import AppCi

__all__ = ["MonitoringConfig", "Product", "StackConfig"]


def _https_url(value: str) -> str:
    origin = re.fullmatch(r"https://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:([0-9]{1,5}))?", value)
    if not origin:
        raise ValueError("must be an https:// origin without a path, e.g. https://example.com")
    if origin[3] is not None and not 0 < int(origin[3]) <= 65535:
        raise ValueError("has a port outside 1..65535")
    return value


def _branch(value: str) -> str:
    # The subset of git-check-ref-format that matters for a branch we deploy from.
    bad = (
        not value
        or value.startswith(("-", "/", "."))
        or value.endswith(("/", ".", ".lock"))
        or ".." in value
        or "//" in value
        or "@{" in value
        or re.search(r"[\s~^:?*\[\\\x00-\x1f\x7f]", value)
        # git accepts any Unicode, but a look-alike (a Cyrillic a in main) is another branch.
        or not value.isascii()
    )
    if bad:
        raise ValueError("must be a valid git branch name, e.g. main or develop")
    return value


HttpsUrl = Annotated[str, AfterValidator(_https_url)]
Branch = Annotated[str, AfterValidator(_branch)]
# GitHub logins: alphanumerics and single hyphens, at most 39 characters.
Login = Annotated[str, Field(max_length=39, pattern=r"^[A-Za-z0-9](?:-?[A-Za-z0-9])*$")]
TeamSlug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")]
# GitHub environment names: at most 255 characters; we also keep them shell- and URL-safe.
EnvironmentName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")]
RepositoryName = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
]
# Printable ASCII: a look-alike letter would name another check than the CI job's.
CheckName = Annotated[str, Field(pattern=r"^[ -~]{1,255}$")]
# A Docker Hub namespace (prom), or a registry and namespace (ghcr.io/acme): policy.publishers.
Publisher = Annotated[
    str, Field(pattern=r"^(?:[a-z0-9.-]+(?::[0-9]{1,5})?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*$")
]

# The names Vercel reserves (vercel.com/docs/environment-variables/reserved-environment-variables).
VERCEL_RESERVED = frozenset(
    {
        "AWS_SECRET_KEY",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "NOW_REGION",
        "TZ",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
# Next.js inlines every NEXT_PUBLIC_ variable into the JavaScript it sends to browsers.
BROWSER_PREFIX = "NEXT_PUBLIC_"
FLAG_PREFIX = f"{BROWSER_PREFIX}FEATURE_"
# What the stack sets on every Vercel service itself (components/pipeline.py), and on every
# Railway service; Railway provides RAILWAY_* itself (docs.railway.com/reference/variables).
VERCEL_SET = frozenset({"NODE_ENV", "NEXT_PUBLIC_ENVIRONMENT"})
RAILWAY_SET = frozenset({"ENVIRONMENT", "PORT"})
# The pipeline's own Railway services and scrape jobs, in the same environment and Prometheus:
# a product service may not take their names.
RESERVED_SERVICES = frozenset(
    {"rollback", "prometheus", "alertmanager", "grafana", "blackbox-exporter"}
    | {"health-probe", "rollback-health"}
)
# The GitHub environment variables the stack sets besides each service's url (app_repository).
RESERVED_VARIABLES = frozenset(
    {"ENVIRONMENT", "VERCEL_PROJECT_ID", "VERCEL_ORG_ID", "DEPLOY_FREEZE"}
)
GRAFANA_UID_LENGTH = 40  # Grafana refuses longer uids

VariableName = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,254}$")]
SecretEnvName = VariableName
Folder = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(?:/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")
]
PythonPackage = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
# camelCase, so that NEXT_PUBLIC_FEATURE_<UPPER_SNAKE> names one flag only.
FlagName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)*$", max_length=60)]
# Railway runs a cron service on a crontab expression (docs.railway.com/reference/cron-jobs).
CronSchedule = Annotated[str, Field(pattern=r"^[0-9*/,-]+( [0-9*/,-]+){4}$")]
Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")]


def flag_variable(flag: str) -> str:
    """newDashboard -> NEXT_PUBLIC_FEATURE_NEW_DASHBOARD (a word starts at each capital)."""
    return FLAG_PREFIX + re.sub(r"(?<!^)(?=[A-Z])", "_", flag).upper()


def url_variable_of(name: str) -> str:
    """The GitHub variable holding a service's url by default: api -> API_URL."""
    return f"{name.upper().replace('-', '_')}_URL"


class Environment(ConfigModel):
    name: Slug = Field(
        description="the Railway environment; names deploy-<name>.yml and rollback-<name>.yml"
    )
    kind: EnvironmentKind = Field(
        description="what protection and defaults key on: production protects, retains and "
        "pages; staging and preview run the smoke test"
    )


class UserReviewer(ConfigModel):
    user: Login


class TeamReviewer(ConfigModel):
    team: TeamSlug


class GitHubConfig(ConfigModel):
    repository: RepositoryName = Field(description="owner/name of the application repository")
    environment: EnvironmentName = Field(description="the GitHub deployment environment")
    branch: Branch = Field(description="the only branch that deploys to this environment")
    # GitHub allows at most six reviewers (users and teams together) per environment.
    reviewers: list[UserReviewer | TeamReviewer] = Field(default_factory=list, max_length=6)
    wait_timer: int = Field(0, ge=0, le=43200, description="minutes to wait before a deploy")
    prevent_self_review: bool = False
    can_admins_bypass: bool = False
    deployment_branch_policy: Literal["custom", "protected"] = "custom"
    required_checks: list[CheckName] = Field(min_length=1)
    required_approving_reviews: int = Field(1, ge=0, le=10)
    enforce_admins: bool = True
    workflows: Literal["managed", "rendered"] = Field(
        "rendered",
        description="managed: `pulumi up` commits the app repository's workflows to the branch; "
        "rendered: `python -m tools.app_workflows` writes them for a team that commits by hand",
    )
    committer_app_id: int | None = Field(
        None,
        ge=1,
        description="this stack's own GitHub App (its deploy identity): its installation token "
        "commits the managed workflows, and only this stack's branch rulesets let it push; "
        "staging and production each name their own (docs/security.md)",
    )
    code_owners: list[UserReviewer | TeamReviewer] = Field(
        default_factory=list,
        max_length=10,
        description="who must approve a pull request that changes `.github/` (the workflows, "
        "the CI, the scripts): the stack commits a CODEOWNERS file naming them to its branch "
        "and its review ruleset requires a code owner's approval. Each needs write access to "
        "the repository (GitHub ignores other owners). Without it, a pull request that adds a "
        "job named like the required check brings its own passing check (docs/security.md)",
    )
    merge_bypass: list[Login] = Field(
        default_factory=list,
        max_length=10,
        validate_default=True,
        description="maintainers who may merge their own pull request without an approving "
        "review (the review ruleset's bypass, pull-request mode); the CI checks still bind them",
    )

    @model_validator(mode="after")
    def _managed_workflows_have_a_committer(self) -> Self:
        if self.workflows == "managed" and self.committer_app_id is None:
            raise ValueError(
                "github.workflows managed needs github.committerAppId: the branch rulesets "
                "refuse a direct commit from anyone they do not let bypass them"
            )
        return self

    @field_validator("merge_bypass")
    @classmethod
    def _someone_can_merge(cls, bypass: list[str], info: ValidationInfo) -> list[str]:
        """GitHub never counts the author's own approval: with N approvals required, no bypass
        and no team, a pull request needs N reviewers besides its author."""
        reviewers = info.data.get("reviewers") or []
        users = {r.user for r in reviewers if isinstance(r, UserReviewer)}
        has_team = any(isinstance(r, TeamReviewer) for r in reviewers)
        needed = info.data.get("required_approving_reviews", 0)
        blocked = needed and info.data.get("enforce_admins") and not has_team and not bypass
        if blocked and len(users) <= needed:
            raise ValueError(
                f"no one could merge into {info.data.get('branch')}: {needed} approval(s), no "
                f"bypass, {len(users)} reviewer(s), and GitHub never counts an author's own "
                "approval. Name here who may merge their own pull requests (the checks still "
                "bind them), or add reviewers, or lower requiredApprovingReviews"
            )
        return bypass

    @property
    def owner(self) -> str:
        return self.repository.split("/")[0]

    @property
    def name(self) -> str:
        return self.repository.split("/")[1]


class VercelConfig(ConfigModel):
    team: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,47}$", description="Vercel team slug")
    layout: Literal["project-per-stack", "shared"] = Field(
        "project-per-stack",
        description="shared: staging deploys as previews of its branch in production's project",
    )
    node_version: Literal["20.x", "22.x"] = "22.x"


class Registry(ConfigModel):
    """How Railway pulls the images the deploy workflow pushes to GHCR (services with deploy
    built): a private repository's packages are private, and Railway pulls them with a login
    (docs/app-workflows.md, "A private repository's images")."""

    private: bool = Field(
        True,
        description="the images are private (GHCR's default for a private repository's "
        "packages): Railway pulls them as username with secrets.registryToken; false only for "
        "packages made public",
    )
    username: Login | None = Field(
        None,
        description="the GitHub account that owns secrets.registryToken (a machine user with "
        "read access to the repository); required while private and a service deploys built",
    )


class RailwayConfig(ConfigModel):
    project_id: str = Field(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        description="the Railway project (a UUID) that holds one environment per stack",
    )
    retain_on_delete: bool | None = Field(
        None, description="keep the services when the stack drops them; default: production only"
    )
    registry: Registry = Field(
        default_factory=Registry, description="how Railway pulls the images CI built"
    )
    allowed_image_publishers: list[Publisher] = Field(
        default_factory=lambda: list(OFFICIAL_PUBLISHERS),
        min_length=1,
        description="who may publish the images the stack runs (a Docker Hub namespace, or "
        "registry/namespace): an image receives the alerting secrets, so a pinned digest from "
        "anyone else is refused. The policy pack keeps its own list (allowedPublishers)",
    )


class VercelService(ConfigModel):
    # Vercel project names: lowercase, up to 100 characters, letters, digits and ._-
    project: str = Field(pattern=r"^[a-z0-9._-]{1,100}$")
    public_urls: dict[VariableName, ServiceName] = Field(
        default_factory=dict,
        description="build-time variable -> the service whose url it holds (public: in the "
        "browser bundle)",
    )


class PythonProject(ConfigModel):
    package: PythonPackage = Field(description="what CI measures the test coverage of")
    requirements: tuple[Folder, ...] = Field(("requirements.txt",), min_length=1)


class Service(ConfigModel):
    """One service of the product. Its name (the key) names it everywhere: the Railway service,
    the Vercel component, the alert label `service`, the scrape job."""

    platform: Platform
    role: Role
    root: Folder = Field(description="its source folder in the application repository")
    url: HttpsUrl | None = None
    health_path: UrlPath | None = None
    metrics_path: UrlPath | None = None
    critical: bool = Field(
        False,
        description="a failed health check rolls back every service at once (true) or this "
        "one, fast (false)",
    )
    rollback: bool | None = Field(
        None, description="whether the rollback service may act on it (default: not for cron)"
    )
    language: Literal["node", "python"]
    url_variable: VariableName | None = Field(
        None, description="the GitHub variable with its url (default <NAME>_URL)"
    )
    vercel: VercelService | None = None
    python: PythonProject | None = None
    port: int | None = Field(None, ge=1, le=65535, description="PORT (Railway)")
    deploy: Literal["workflow", "image", "built"] = Field(
        "workflow",
        description="workflow: `railway up` from the app's deploy workflow; image: Railway "
        "runs `image`; built: Railway runs the image the deploy workflow pushed for the commit "
        "it deploys (by digest), the one CI built and tested (needs dockerfile)",
    )
    image: ImageRef | None = None
    dockerfile: Folder | None = Field(
        None,
        description="its Dockerfile, in root: the app's CI builds the image (Buildx, cached) and "
        "the deploy workflow pushes it to ghcr.io/<github.repository>/<service>:<commit>",
    )
    schedule: CronSchedule | None = Field(None, description="cron: Railway's cronSchedule")
    secret_env: tuple[SecretEnvName, ...] = Field(
        (), description="names of its secret variables; their values live under secrets.env"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = _service_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def does_rollback(self) -> bool:
        return self.rollback if self.rollback is not None else self.role != "cron"


def _service_problems(s: Service) -> list[str]:
    """The rules between a service's keys: (broken, what the rule says)."""
    vercel, cron = s.platform == "vercel", s.role == "cron"
    unset = " and ".join(k for k, v in (("url", s.url), ("healthPath", s.health_path)) if not v)
    rules = [
        (vercel and s.vercel is None, "a vercel service needs vercel.project"),
        (vercel and (s.role, s.language) != ("web", "node"), "a vercel service is web and node"),
        (
            vercel
            and bool(s.port or s.image or s.schedule or s.dockerfile or s.deploy != "workflow"),
            "port, image, dockerfile, schedule and deploy are Railway settings",
        ),
        (not vercel and s.vercel is not None, "vercel: only for platform vercel"),
        (
            s.role == "web" and bool(unset),
            f"a web service needs url and healthPath (its probe, its health check): set {unset}",
        ),
        (
            cron and bool(s.url or s.health_path or s.metrics_path),
            "a cron service runs and exits: no url, healthPath or metricsPath",
        ),
        (cron and s.schedule is None, "a cron service needs schedule (a crontab expression)"),
        (not cron and s.schedule is not None, "schedule: only for role cron"),
        (
            s.role != "web" and (s.url is None) != (s.health_path is None),
            "url and healthPath go together",
        ),
        (
            not vercel and not cron and s.port is None,
            "a Railway web or worker service needs port (PORT, where Prometheus scrapes it)",
        ),
        (
            (s.language == "python") != (s.python is not None),
            "python: {package} is set exactly for language python",
        ),
        ((s.deploy == "image") != (s.image is not None), "image is set exactly for deploy image"),
        (
            s.deploy == "built" and s.dockerfile is None,
            "deploy built runs the image built from dockerfile: set dockerfile",
        ),
    ]
    return [message for broken, message in rules if broken]


class Urls(ConfigModel):
    """The pipeline's own public origins (the product's are its services' url)."""

    rollback: HttpsUrl = Field(description="the rollback service's public origin")
    grafana: HttpsUrl = Field(description="Grafana's public origin, the only public monitoring")


class RollbackConfig(ConfigModel):
    """The rollback service (this repository's `rollback/`), deployed as a Railway service by
    this repository's own deploy workflow, from the commit it deploys."""

    repository: RepositoryName = Field(description="owner/name of this pipeline repository")
    branch: Branch = Field(
        "main", description="the ref of this repository the app's manual rollback workflow runs"
    )
    dry_run: bool = Field(
        False, description="decide and report, but never call a platform (then it holds no token)"
    )
    public: bool = Field(
        False,
        description="give it the public domain of urls.rollback; by default it answers only on "
        "Railway's private network, where Alertmanager reaches it (with monitoring hosting "
        "external it is public, since an outside Alertmanager calls it)",
    )


class Secrets(ConfigModel):
    """Values that only ever travel as `pulumi.Output.secret` (README lists how to set each;
    docs/security.md says where each one goes and how to rotate it)."""

    railway_token: SecretStr | None = Field(
        None,
        min_length=1,
        description="project token of this stack's Railway environment: the rollback service's "
        "(RAILWAY_TOKEN); required unless rollback.dryRun",
    )
    railway_deploy_token: SecretStr | None = Field(
        None,
        min_length=1,
        description="project token of this stack's Railway environment: `railway up` in the "
        "deploy workflow (GitHub secret RAILWAY_TOKEN); required when a Railway service deploys "
        "from it",
    )
    registry_token: SecretStr | None = Field(
        None,
        min_length=1,
        description="GitHub personal access token (classic) of railway.registry.username with "
        "only the read:packages scope: Railway pulls the images of the services with deploy "
        "built with it; required while railway.registry.private",
    )
    vercel_token: SecretStr | None = Field(
        None,
        min_length=1,
        description="Vercel token of the team: the deploy workflow's and the rollback "
        "service's (VERCEL_TOKEN); required when a service runs on Vercel",
    )
    vercel_bypass_secret: SecretStr | None = Field(
        None,
        min_length=1,
        description="Vercel's Protection Bypass for Automation secret of the stack's project: "
        "the deployed end-to-end tests send it (GitHub secret VERCEL_AUTOMATION_BYPASS_SECRET); "
        "required when appCi.playwright.protectionBypass",
    )
    slack_api_url: SecretStr = Field(min_length=1, description="Slack incoming webhook URL")
    pagerduty_routing_key: SecretStr | None = Field(
        None,
        min_length=1,
        description="PagerDuty Events API v2 routing key: critical alerts page with it; required "
        "where they page (kind production, unless monitoring.receivers.pagerduty says otherwise)",
    )
    smtp_password: SecretStr = Field(
        min_length=1, description="the SMTP login's password (monitoring.receivers.smtpUsername)"
    )
    rollback_webhook_token: SecretStr = Field(
        min_length=16, description="bearer token Alertmanager sends to the rollback service"
    )
    rollback_github_token: SecretStr | None = Field(
        None,
        min_length=1,
        description="fine-grained GitHub token of the rollback service, limited to the app "
        "repository with Environments read and write (the freeze); required unless "
        "rollback.dryRun",
    )
    freeze_read_token: SecretStr = Field(
        min_length=1,
        description="fine-grained GitHub token limited to the app repository with Environments "
        "read: the deploy job re-reads the freeze before each platform step (FREEZE_READ_TOKEN)",
    )
    grafana_admin_password: SecretStr = Field(
        min_length=12, description="Grafana's `admin` password (set when its database is created)"
    )
    prometheus_password: SecretStr = Field(
        min_length=16,
        max_length=72,
        description="Prometheus' login (user `prometheus`): Grafana's datasource and its own "
        "scrape use it (monitoring.webauth)",
    )
    alertmanager_password: SecretStr = Field(
        min_length=16,
        max_length=72,
        description="Alertmanager's login (user `alertmanager`): Prometheus, amtool and people "
        "use it",
    )
    watchdog_url: SecretStr | None = Field(
        None,
        description="the dead man's switch: the ping URL of a heartbeat check outside Railway "
        "(healthchecks.io's https://hc-ping.com/<uuid>), which Alertmanager posts the "
        "always-firing Watchdog to; it alerts you when the posts stop. A credential: whoever "
        "holds it can keep a dead pipeline looking alive. Required in production",
    )
    env: dict[SecretEnvName, SecretStr] = Field(
        default_factory=dict,
        description="the value of every name a service lists in its secretEnv (sensitive "
        "variables on Vercel, secret variables on Railway)",
    )

    @field_validator("watchdog_url")
    @classmethod
    def _a_url_alertmanager_gets_byte_exact(cls, value: SecretStr | None) -> SecretStr | None:
        """The entrypoint writes it into Alertmanager's config as it is (monitoring.secrets)."""
        if value is not None:
            checked_url(value.get_secret_value())
        return value

    @field_validator("*")
    @classmethod
    def _no_surrounding_whitespace(cls, value: Any) -> Any:
        """The servers trim a secret they read from a file (Alertmanager's token, a
        password_file) while the other side holds it exactly: a stray newline would make the
        two differ. Refused, never trimmed, so every side holds the same bytes."""
        secrets = value.values() if isinstance(value, dict) else [value]
        for secret in secrets:
            if isinstance(secret, SecretStr) and secret.get_secret_value() != (
                secret.get_secret_value().strip()
            ):
                raise ValueError(
                    "starts or ends with whitespace (a newline from a file or an echo?); set it "
                    "again without"
                )
        return value


class StackConfig(ConfigModel):
    product: Product
    environment: Environment
    services: dict[ServiceName, Service] = Field(min_length=1)
    feature_flags: dict[FlagName, StrictBool] = Field(
        default_factory=dict,
        description=f"flag -> on; each becomes {FLAG_PREFIX}<UPPER_SNAKE> on every Vercel service",
    )
    urls: Urls
    github: GitHubConfig
    vercel: VercelConfig | None = None
    railway: RailwayConfig
    secrets: Secrets
    rollback: RollbackConfig
    monitoring: MonitoringConfig
    app_ci: AppCi = Field(
        AppCi(),
        description="what the application's CI runs besides linters and unit tests: database "
        "containers, Playwright, dependency updates (docs/app-workflows.md)",
    )
    deployed_with_1x: StrictBool = Field(
        False,
        alias="deployedWith1x",
        description="the stack was deployed by the 1.x program, which named its component types "
        "after the product (<product.name>:github:Environment): each component keeps that type "
        "as an alias, so the upgrade replaces nothing (docs/migration-2.0.md); a new stack "
        "leaves it out",
    )

    @field_validator("monitoring")
    @classmethod
    def _addresses_are_typed_once(cls, monitoring: MonitoringConfig) -> MonitoringConfig:
        problems = []
        if "rollback_webhook_url" in monitoring.receivers.model_fields_set:
            problems.append(
                "monitoring.receivers.rollbackWebhookUrl is derived (the rollback service's "
                "private address, or urls.rollback with hosting external); remove it"
            )
        if "heartbeat" in monitoring.receivers.model_fields_set:
            problems.append(
                "monitoring.receivers.heartbeat is derived (whether secrets.watchdogUrl is set); "
                "remove it"
            )
        if monitoring.servers.hosting == "railway" and "addresses" in monitoring.model_fields_set:
            problems.append(
                "monitoring.addresses is derived from the Railway services' private names; "
                "remove it, or set monitoring.servers.hosting to external"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return monitoring

    @field_validator("monitoring")
    @classmethod
    def _images_from_allowed_publishers(
        cls, monitoring: MonitoringConfig, info: ValidationInfo
    ) -> MonitoringConfig:
        railway = info.data.get("railway")
        if railway is None or monitoring.servers.hosting != "railway":
            return monitoring
        images = monitoring.servers.images
        foreign = [
            f"monitoring.servers.images.{to_camel(name)} is published by "
            f"{publisher(image)!r}, not one of railway.allowedImagePublishers "
            f"({', '.join(railway.allowed_image_publishers)})"
            for name, image in images.model_dump().items()
            if publisher(image) not in railway.allowed_image_publishers
        ]
        if foreign:
            raise ValueError(
                "; ".join(foreign) + ": the image would receive the alerting secrets; use the "
                "official image, or add its publisher once you trust it"
            )
        return monitoring

    @property
    def is_production(self) -> bool:
        return self.environment.kind == "production"

    @property
    def pages(self) -> bool:
        return pages(self.environment.kind, self.monitoring.receivers.pagerduty)

    @property
    def rollback_is_public(self) -> bool:
        """The rollback service answers at urls.rollback: the stack asks for it, or its
        Alertmanager runs outside Railway's private network (hosting external)."""
        return self.rollback.public or self.monitoring.servers.hosting == "external"

    def of(self, platform: Platform) -> dict[str, Service]:
        return {name: s for name, s in self.services.items() if s.platform == platform}

    def url_variable(self, name: str) -> str:
        return self.services[name].url_variable or url_variable_of(name)

    def flag_variables(self) -> dict[str, str]:
        return {flag_variable(f): str(on).lower() for f, on in self.feature_flags.items()}


# (key path, what is wrong, its kind: "extra" for a value to remove)
Problem = tuple[str, str, Literal["invalid", "missing", "extra"]]


def problems(config: StackConfig) -> list[Problem]:
    """The rules between keys, each problem with its key path."""
    return [
        *_secret_env_problems(config),
        *_reference_problems(config),
        *_name_problems(config),
        *_registry_problems(config),
        *_pagerduty_problems(config),
    ]


def _pagerduty_problems(config: StackConfig) -> Iterator[Problem]:
    """A routing key where nothing pages would be handed to Alertmanager and the rollback service
    for nothing. (Missing where it pages: components.config.loading.required_secrets says so.)"""
    if not config.pages and config.secrets.pagerduty_routing_key is not None:
        yield (
            "secrets.pagerdutyRoutingKey",
            "nothing pages PagerDuty here (a stack not of kind production, or "
            "monitoring.receivers.pagerduty false)",
            "extra",
        )


def _registry_problems(config: StackConfig) -> Iterator[Problem]:
    """A private image needs the login Railway pulls it with; a token nothing pulls with goes.
    (secrets.registryToken missing: components.config.loading.required_secrets says so.)"""
    built = sorted(n for n, s in config.of("railway").items() if s.deploy == "built")
    private = bool(built) and config.railway.registry.private
    if private and config.railway.registry.username is None:
        yield (
            "railway.registry.username",
            f"missing: {', '.join(built)} deploy built and the images are private "
            "(railway.registry.private): the GitHub account of secrets.registryToken",
            "missing",
        )
    if not private and config.secrets.registry_token is not None:
        yield (
            "secrets.registryToken",
            "nothing pulls with it (no service deploys built, or railway.registry.private is "
            "false)",
            "extra",
        )


def _secret_env_problems(config: StackConfig) -> Iterator[Problem]:
    used: dict[str, list[str]] = {}
    for name, service in config.services.items():
        for variable in service.secret_env:
            used.setdefault(variable, []).append(name)
            clash = _set_by_stack(config, name, service, variable)
            if clash:
                yield (f"services.{name}.secretEnv", f"{variable}: {clash}", "invalid")
    # A name listed but not set is missing (components.config.loading says so, with the rest).
    for variable in config.secrets.env:
        if variable not in used:
            yield (f"secrets.env.{variable}", "no service lists it in secretEnv", "extra")


def _set_by_stack(config: StackConfig, name: str, service: Service, variable: str) -> str | None:
    if service.platform == "railway":
        if variable in RAILWAY_SET or variable.startswith("RAILWAY_"):
            return "the stack or Railway sets this variable itself"
        return None
    public = service.vercel.public_urls if service.vercel else {}
    if variable.startswith(BROWSER_PREFIX):
        return (
            f"{BROWSER_PREFIX}* variables are inlined into the browser bundle, where anyone can "
            "read them: a secret needs a name without that prefix"
        )
    if variable in VERCEL_SET or variable in public:
        return "the stack sets this variable itself"
    if variable in VERCEL_RESERVED:
        return "Vercel reserves this name"
    return None


def _reference_problems(config: StackConfig) -> Iterator[Problem]:
    for name, service in config.services.items():
        public = service.vercel.public_urls if service.vercel else {}
        for variable, other in public.items():
            path = f"services.{name}.vercel.publicUrls.{variable}"
            if other not in config.services:
                yield (path, f"names {other!r}, which is not a service", "invalid")
            elif config.services[other].url is None:
                yield (path, f"names {other!r}, which has no url", "invalid")
            elif variable in VERCEL_SET or variable.startswith(FLAG_PREFIX):
                yield (path, "the stack sets this variable itself", "invalid")
    business = config.monitoring.business
    if business is not None:
        target = config.services.get(business.service)
        if target is None:
            message = f"names {business.service!r}, which is not a service"
            yield ("monitoring.business.service", message, "invalid")
        elif target.metrics_path is None:
            message = f"names {business.service!r}, which has no metricsPath to scrape"
            yield ("monitoring.business.service", message, "invalid")
    scraped = [name for name, s in config.services.items() if s.metrics_path is not None]
    for path, message in config.monitoring.slo_problems(config.services, scraped):
        yield (f"monitoring.{path}", message, "invalid")
    vercel = config.of("vercel")
    if len(vercel) > 1:
        yield (
            "services",
            f"{', '.join(vercel)} run on Vercel: one Vercel service per stack (the deploy "
            "workflow and the rollback service know one project)",
            "invalid",
        )
    if vercel and config.vercel is None:
        yield ("vercel", "missing: the team of the Vercel services (vercel.team)", "missing")


def _name_problems(config: StackConfig) -> Iterator[Problem]:
    for name in sorted(RESERVED_SERVICES & set(config.services)):
        yield (
            f"services.{name}",
            "the pipeline's own service or scrape job has this name",
            "invalid",
        )
    variables: dict[str, str] = {}
    for name, service in config.services.items():
        if service.url is None:
            continue
        variable = config.url_variable(name)
        path = f"services.{name}.urlVariable"
        if variable in RESERVED_VARIABLES:
            yield (path, f"{variable} is set by the stack itself", "invalid")
        elif variable in variables:
            yield (path, f"{variable} is {variables[variable]}'s too", "invalid")
        variables[variable] = name
    longest = max(DASHBOARDS, key=len)
    uid = f"{config.product.name}-{longest}-{config.environment.name}"
    if len(uid) > GRAFANA_UID_LENGTH:
        yield (
            "product.name",
            f"with environment.name, makes the Grafana uid {uid!r}, over "
            f"{GRAFANA_UID_LENGTH} characters: shorten one of the two",
            "invalid",
        )
