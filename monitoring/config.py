"""Typed monitoring config. Defaults are the values of the spec's "Automated Rollback" section,
so `MonitoringConfig()` is the spec. Cross-field rules live in one validator per model."""

import ipaddress
import re
from collections.abc import Collection
from datetime import timedelta
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, model_validator
from pydantic.alias_generators import to_camel

from monitoring.durations import Duration
from monitoring.images import IMAGES, ServerName
from monitoring.model import ConfigModel as ConfigModel  # noqa: PLC0414 (re-exported)
from monitoring.model import Decimal
from monitoring.slo_config import SloAlerting, Slos, slo_problems

# A service of the product (the stack file's `services` map): a name, never a fixed list.
ServiceName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
Platform = Literal["vercel", "railway"]
# web: serves HTTP (probes, request and latency alerts); worker: runs in the background (health
# and metrics if it has a url); cron: runs on a schedule and exits (nothing to probe or scrape).
Role = Literal["web", "worker", "cron"]
EnvironmentKind = Literal["production", "staging", "preview"]
StrategyName = Literal["immediate", "fast", "gradual"]
Severity = Literal["critical", "warning", "info"]
Channel = Literal["pagerduty", "slack", "email"]
Action = Literal[
    "rollback_all_services",
    "freeze_deployments",
    "rollback_affected_service",
    "investigate_cause",
    "reduce_traffic",
    "monitor",
    "rollback_if_needed",
]

# Alertmanager routes on severity: critical -> PagerDuty + email + Slack, warning -> email +
# Slack, info -> Slack. A strategy's channels must be one of these sets to be routable.
SEVERITY_CHANNELS: dict[Severity, frozenset[Channel]] = {
    "critical": frozenset({"pagerduty", "email", "slack"}),
    "warning": frozenset({"email", "slack"}),
    "info": frozenset({"slack"}),
}

# prometheus-fastapi-instrumentator's `http_request_duration_highr_seconds` buckets.
HIGHR_BUCKETS = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0,
    4.5, 5.0, 7.5, 10.0, 30.0, 60.0,
)  # fmt: skip

# Grafana's dashboards, each a file and a uid: the business one only with business metrics.
DASHBOARDS = ("application", "infrastructure", "business", "rollback")


def _https_or_loopback(url: str) -> str:
    """https anywhere; plain http only on a loopback host (the end-to-end test's servers)."""
    if not url.isascii():
        raise ValueError("must be ASCII (an international domain in its xn-- form)")
    parts = urlsplit(url)
    _ = parts.port  # ValueError when outside 0..65535
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url.rstrip("/")
    if parts.scheme == "http" and _is_loopback(host):
        return url.rstrip("/")
    raise ValueError("must be an https URL (http is allowed only for 127.0.0.1/::1)")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Railway's private network: WireGuard-encrypted between the services of one environment.
PRIVATE_DOMAIN = "railway.internal"


def private_address(service: str, port: int) -> str:
    """Where a Railway service of the same environment answers on the private network."""
    return f"{service}.{PRIVATE_DOMAIN}:{port}"


def _https_or_private(url: str) -> str:
    """Also plain http to a service on Railway's private network (`<name>.railway.internal`)."""
    parts = urlsplit(url)
    if parts.scheme == "http" and (parts.hostname or "").endswith(f".{PRIVATE_DOMAIN}"):
        return url.rstrip("/")
    return _https_or_loopback(url)


IMAGE_REF = re.compile(
    r"[a-z0-9]+(?:[._/-][a-z0-9]+)*:v?[0-9]+\.[0-9]+\.[0-9]+@sha256:[0-9a-f]{64}"
)


def _pinned_image(ref: str) -> str:
    if not IMAGE_REF.fullmatch(ref):
        raise ValueError(
            "must be pinned by version and digest, repository:version@sha256:<64 hex digits>, "
            f"e.g. {IMAGES['prometheus']}"
        )
    return ref


def _page_without_credentials(url: str) -> str:
    """A page people open from an alert: never a user, password or query (tokens) in it."""
    parts = urlsplit(url)
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(
            "must be a plain page URL, without user:password@, ?query or #fragment: every "
            "alert carries it to Slack, email and PagerDuty"
        )
    return _https_or_loopback(url)


SecureUrl = Annotated[str, AfterValidator(_https_or_loopback)]
PageUrl = Annotated[str, AfterValidator(_page_without_credentials)]
InternalUrl = Annotated[str, AfterValidator(_https_or_private)]
ImageRef = Annotated[str, AfterValidator(_pinned_image)]
PositiveDuration = Annotated[Duration, Field(gt=timedelta(0))]
NonNegativeDuration = Annotated[Duration, Field(ge=timedelta(0))]
UrlPath = Annotated[str, Field(pattern=r"^/[A-Za-z0-9/_.-]*$")]
AbsolutePath = Annotated[str, Field(pattern=r"^/[A-Za-z0-9/_.-]+$")]


def _port_in_range(address: str) -> str:
    if not 0 < int(address.rpartition(":")[2]) <= 65535:
        raise ValueError("has a port outside 1..65535")
    return address


HostPort = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$"), AfterValidator(_port_in_range)
]
# ASCII only, so that a look-alike letter cannot send the mail to another domain.
Email = Annotated[str, Field(pattern=r"^[!-?A-~]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]{2,63}$")]


Fraction = Annotated[Decimal, Field(gt=0, lt=1)]


class HealthCheckTrigger(ConfigModel):
    enabled: bool = True
    consecutive_failures: int = Field(3, ge=1, le=20)
    failure_window: PositiveDuration = timedelta(minutes=2)
    recovery_threshold: int = Field(2, ge=1, le=20)
    recovery_window: PositiveDuration = timedelta(minutes=5)
    probe_timeout: PositiveDuration = timedelta(seconds=5)


class PerformanceTrigger(ConfigModel):
    enabled: bool = True
    response_time_p95: PositiveDuration = timedelta(seconds=2)
    response_time_p99: PositiveDuration = timedelta(seconds=5)
    error_rate: Fraction = 0.05
    throughput_drop: Fraction = 0.3
    evaluation_window: PositiveDuration = timedelta(minutes=5)
    consecutive_violations: int = Field(2, ge=1, le=10)
    comparison_offset: PositiveDuration = timedelta(hours=1)
    min_request_rate: Decimal = Field(
        0.1, gt=0, description="req/s below which ratios and quantiles are not judged"
    )
    latency_buckets: tuple[Annotated[Decimal, Field(gt=0)], ...] = HIGHR_BUCKETS

    @model_validator(mode="after")
    def _thresholds_are_bucket_bounds(self) -> Self:
        for name in ("response_time_p95", "response_time_p99"):
            threshold = getattr(self, name).total_seconds()
            if threshold not in self.latency_buckets:
                raise ValueError(
                    f"{to_camel(name)}={threshold}s is not a bucket bound of the latency histogram "
                    f"{self.latency_buckets}: histogram_quantile cannot tell it apart"
                )
        return self


class BusinessTrigger(ConfigModel):
    enabled: bool = True
    conversion_drop: Fraction = 0.3
    window: PositiveDuration = timedelta(hours=1)
    comparison_offset: PositiveDuration = timedelta(days=1)
    min_session_rate: Decimal = Field(0.01, gt=0, description="sessions/s below which not judged")
    sustained_for: PositiveDuration = timedelta(minutes=15)


class Triggers(ConfigModel):
    health_check: HealthCheckTrigger = HealthCheckTrigger()
    performance: PerformanceTrigger = PerformanceTrigger()
    business: BusinessTrigger = BusinessTrigger()


class Strategy(ConfigModel):
    timeout: PositiveDuration
    actions: tuple[Action, ...] = Field(min_length=1)
    notifications: tuple[Channel, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _routable(self) -> Self:
        if frozenset(self.notifications) not in SEVERITY_CHANNELS.values():
            raise ValueError(
                f"notifications {sorted(self.notifications)} cannot be routed: use one of "
                f"{[sorted(c) for c in SEVERITY_CHANNELS.values()]}"
            )
        return self

    @property
    def severity(self) -> Severity:
        wanted = frozenset(self.notifications)
        return next(s for s, channels in SEVERITY_CHANNELS.items() if channels == wanted)


class Strategies(ConfigModel):
    immediate: Strategy = Strategy(
        timeout=timedelta(seconds=30),
        actions=("rollback_all_services", "freeze_deployments"),
        notifications=("pagerduty", "slack", "email"),
    )
    fast: Strategy = Strategy(
        timeout=timedelta(minutes=2),
        actions=("rollback_affected_service", "investigate_cause"),
        notifications=("slack", "email"),
    )
    gradual: Strategy = Strategy(
        timeout=timedelta(minutes=10),
        actions=("reduce_traffic", "monitor", "rollback_if_needed"),
        notifications=("slack",),
    )

    def of(self, name: StrategyName) -> Strategy:
        strategy: Strategy = getattr(self, name)
        return strategy


class Routing(ConfigModel):
    group_wait: NonNegativeDuration = timedelta(seconds=30)
    group_interval: PositiveDuration = timedelta(minutes=5)
    repeat_interval: PositiveDuration = timedelta(hours=4)
    critical_group_wait: NonNegativeDuration = timedelta(0)
    rollback_group_wait: NonNegativeDuration = timedelta(0)
    rollback_repeat_interval: PositiveDuration = Field(
        timedelta(minutes=15),
        description="how often the rollback service hears that a group still fires: it "
        "escalates to people at the first re-send after its settle time (ROLLBACK_SETTLE)",
    )
    watchdog_interval: PositiveDuration = Field(
        timedelta(minutes=1),
        description="how often Alertmanager pings the heartbeat receiver (secrets.watchdogUrl)",
    )
    resolve_timeout: PositiveDuration = timedelta(minutes=5)


def pages(kind: str, pagerduty: bool | None) -> bool:
    """Whether critical alerts page PagerDuty: in production, unless receivers.pagerduty says."""
    return kind == "production" if pagerduty is None else pagerduty


class Receivers(ConfigModel):
    pagerduty: bool | None = Field(
        None, description="page PagerDuty for critical alerts; default: production only"
    )
    slack_channel: str = Field("#alerts-critical", pattern=r"^#[a-z0-9_-]{1,80}$")
    # Where alert mail goes and how it leaves: the product's own addresses, never a default
    # (the SMTP password is sent to smtpSmarthost).
    email_to: tuple[Email, ...] = Field(min_length=1)
    email_from: Email
    smtp_smarthost: HostPort
    smtp_username: str = Field(min_length=1)
    smtp_require_tls: bool = True
    pagerduty_url: SecureUrl = "https://events.pagerduty.com/v2/enqueue"
    rollback_webhook_url: InternalUrl | None = Field(
        None, description="derived by the stack: the rollback service's webhook"
    )
    heartbeat: bool = Field(
        False,
        description="derived by the stack: whether it has a dead man's switch URL "
        "(secrets.watchdogUrl), which Alertmanager posts the always-firing Watchdog alert to "
        "every watchdogInterval; without one the Watchdog goes nowhere",
    )


class SecretFiles(ConfigModel):
    """Where Alertmanager reads each secret; the files hold the values, the config only paths."""

    slack_api_url: AbsolutePath = "/etc/alertmanager/secrets/slack-api-url"
    pagerduty_routing_key: AbsolutePath = "/etc/alertmanager/secrets/pagerduty-routing-key"
    smtp_password: AbsolutePath = "/etc/alertmanager/secrets/smtp-password"
    rollback_webhook_token: AbsolutePath = "/etc/alertmanager/secrets/rollback-webhook-token"


class Addresses(ConfigModel):
    alertmanager: HostPort = "alertmanager:9093"
    blackbox_exporter: HostPort = "blackbox-exporter:9115"
    prometheus_url: str = Field("http://prometheus:9090", pattern=r"^https?://[A-Za-z0-9.:-]+$")


class Grafana(ConfigModel):
    """The folder, its uid, the datasource's uid and the dashboards' titles and uids are named
    after the product (Target.product)."""

    # Outside Grafana's data volume, so a dashboard dropped from the stack leaves with the
    # container instead of lingering on the volume.
    dashboards_path: AbsolutePath = "/etc/grafana/dashboards"


class Images(ConfigModel):
    """The monitoring servers' images (monitoring/images.py pins the defaults)."""

    prometheus: ImageRef = IMAGES["prometheus"]
    blackbox_exporter: ImageRef = IMAGES["blackbox-exporter"]
    alertmanager: ImageRef = IMAGES["alertmanager"]
    grafana: ImageRef = IMAGES["grafana"]

    def of(self, server: ServerName) -> str:
        image: str = getattr(self, server.replace("-", "_"))
        return image


class Servers(ConfigModel):
    """Where the monitoring servers run and what they keep."""

    hosting: Literal["railway", "external"] = Field(
        "railway",
        description="railway: the stack runs Prometheus, the blackbox exporter, Alertmanager and "
        "Grafana as Railway services; external: a team's own or hosted ones, at `addresses`",
    )
    # 30 days: the window of the SLOs the stacks declare (monitoring.slos) must stay in the TSDB.
    retention: Annotated[Duration, Field(ge=timedelta(hours=2), le=timedelta(days=3650))] = (
        timedelta(days=30)
    )
    images: Images = Images()


MetricName = Annotated[str, Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]{0,199}$")]


class BusinessMetrics(ConfigModel):
    """What the product exports, by the names it uses (counters unless noted)."""

    sessions: MetricName = Field(description="counter of sessions started")
    conversions: MetricName = Field(description="counter of sessions that converted")
    active_users: MetricName | None = Field(None, description="gauge: distinct users over 24h")
    session_duration: MetricName | None = Field(None, description="histogram of session seconds")
    feature_usage: MetricName | None = Field(None, description="counter with a `feature` label")
    feedback_score: MetricName | None = Field(None, description="histogram of 1-5 ratings")


class Business(ConfigModel):
    service: ServiceName = Field(description="the service that exports them (has a metricsPath)")
    metrics: BusinessMetrics


class Infrastructure(ConfigModel):
    cpu_usage: Fraction = 0.9
    cpu_limit_cores: Decimal = Field(1.0, gt=0, le=64)
    memory_usage: Fraction = 0.9
    memory_limit_bytes: int = Field(512 * 1024 * 1024, gt=0)
    disk_usage: Fraction = 0.9
    sustained_for: PositiveDuration = timedelta(minutes=10)


class MonitoringConfig(ConfigModel):
    scrape_interval: PositiveDuration = timedelta(seconds=15)
    scrape_timeout: PositiveDuration = timedelta(seconds=10)
    evaluation_interval: PositiveDuration = timedelta(seconds=15)
    probe_interval: PositiveDuration = timedelta(seconds=15)
    absent_for: PositiveDuration = Field(
        timedelta(minutes=5), description="how long a job may vanish before it alerts"
    )
    runbook_base_url: PageUrl | None = Field(
        None,
        description="the page with a `Runbook: <alert>` section per alert; the stack derives it "
        "from its own repository (rollback.repository, rollback.branch)",
    )
    business: Business | None = Field(
        None, description="the product's business metrics; without them no business alerts"
    )
    triggers: Triggers = Triggers()
    strategies: Strategies = Strategies()
    routing: Routing = Routing()
    receivers: Receivers
    secret_files: SecretFiles = SecretFiles()
    addresses: Addresses = Addresses()
    grafana: Grafana = Grafana()
    infrastructure: Infrastructure = Infrastructure()
    servers: Servers = Servers()
    slos: Slos = Field(default_factory=dict, description="service -> its objectives")
    slo_alerting: SloAlerting = SloAlerting()

    def slo_problems(
        self, services: Collection[str], scraped: Collection[str]
    ) -> list[tuple[str, str]]:
        """(key path under `monitoring`, what is wrong) for every objective that cannot be
        measured as written; `scraped`: the services whose metrics Prometheus scrapes."""
        return slo_problems(
            self.slos,
            self.slo_alerting,
            buckets=self.triggers.performance.latency_buckets,
            retention=self.servers.retention,
            scrape_interval=self.scrape_interval,
            services=services,
            scraped=scraped,
        )

    @model_validator(mode="after")
    def _consistent_timings(self) -> Self:
        health = self.triggers.health_check
        problems = []
        if self.scrape_timeout > self.scrape_interval:
            problems.append("scrapeTimeout must not exceed scrapeInterval")
        if health.probe_timeout > self.probe_interval:
            problems.append("triggers.healthCheck.probeTimeout must not exceed probeInterval")
        if self.evaluation_interval > self.probe_interval:
            problems.append(
                "evaluationInterval must not exceed probeInterval, or a single successful "
                "probe between two evaluations would go unseen"
            )
        if (health.consecutive_failures - 1) * self.probe_interval > health.failure_window:
            problems.append(
                "triggers.healthCheck: consecutiveFailures probes at probeInterval do not fit "
                "in failureWindow"
            )
        if self.triggers.performance.evaluation_window < 2 * self.scrape_interval:
            problems.append("triggers.performance.evaluationWindow must cover at least two scrapes")
        performance = self.triggers.performance
        if performance.comparison_offset <= self.performance_for + performance.evaluation_window:
            problems.append(
                "triggers.performance.comparisonOffset must exceed evaluationWindow x "
                "consecutiveViolations, or a sustained drop is compared with itself"
            )
        business = self.triggers.business
        if business.comparison_offset <= business.sustained_for + business.window:
            problems.append("triggers.business.comparisonOffset must exceed window + sustainedFor")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def health_for(self) -> timedelta:
        """`for` of the health alert: the Nth consecutive failed probe fires, no earlier."""
        return (self.triggers.health_check.consecutive_failures - 1) * self.probe_interval

    @property
    def performance_for(self) -> timedelta:
        """`for` of performance alerts: violated over `consecutiveViolations` windows in a row."""
        performance = self.triggers.performance
        return (performance.consecutive_violations - 1) * performance.evaluation_window


class Product(ConfigModel):
    name: str = Field(
        pattern=r"^[a-z][a-z0-9-]{0,30}$",
        description="slug: Grafana's folder and dashboard uids, resource and file names",
    )
    title: str = Field(pattern=r"^[ -~]{1,60}$", description="for people: Grafana's titles")


class MonitoredService(ConfigModel):
    """One service of the product as monitoring sees it."""

    platform: Platform
    role: Role
    url: SecureUrl | None = None
    health_path: UrlPath | None = None
    metrics_path: UrlPath | None = None
    metrics_address: HostPort | None = Field(
        None,
        description="host:port on a private network where Prometheus scrapes it over plain "
        "http; without one it is scraped at its url",
    )
    critical: bool = Field(
        False,
        description="a failed health check rolls back immediately (every service); otherwise "
        "fast, this service only",
    )
    rollback: bool = Field(True, description="whether the rollback service may act on it")

    @property
    def health_url(self) -> str | None:
        return f"{self.url}{self.health_path}" if self.url and self.health_path else None

    @property
    def scraped(self) -> bool:
        return self.metrics_path is not None and (self.url or self.metrics_address) is not None


class Target(ConfigModel):
    """What the stack provides: the environment, the product and every service."""

    environment: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    kind: EnvironmentKind
    product: Product
    services: dict[ServiceName, MonitoredService] = Field(min_length=1)
    grafana_url: SecureUrl | None = None
    rollback_url: SecureUrl | None = None
    rollback_address: HostPort | None = Field(
        None, description="host:port of the rollback service on the private network"
    )

    def probed(self) -> dict[str, str]:
        """Service -> the URL of its health check, for every service that has one."""
        return {name: url for name, s in self.services.items() if (url := s.health_url)}

    def scraped(self) -> list[str]:
        """The services whose /metrics Prometheus scrapes."""
        return [name for name, s in self.services.items() if s.scraped]

    def pages(self, receivers: Receivers) -> bool:
        return pages(self.kind, receivers.pagerduty)

    def rollback_origin(self) -> str | None:
        """Where Prometheus reaches the rollback service: privately if it can, else publicly."""
        if self.rollback_address:
            return f"http://{self.rollback_address}"
        return self.rollback_url
