"""Recording rules and alerts, derived from the rollback triggers in `MonitoringConfig`."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from monitoring import metrics as m
from monitoring.config import MonitoringConfig, Severity, StrategyName, Target
from monitoring.durations import format_duration

AlertKind = Literal[
    "health",
    "latency_p95",
    "latency_p99",
    "error_rate",
    "throughput_drop",
    "conversion_drop",
    "metrics_absent",
    "probe_absent",
    "scrape_failing",
    "cpu",
    "memory",
    "disk",
    "rollback_down",
    "rollback_absent",
    "rollback_failing",
    "webhooks_refused",
    "watchdog",
    "server_down",
    "notifications_failing",
    "slo",  # monitoring.slo
]
# Alerts are about a service of the stack (its `service` label): one of the product's, the
# rollback service that watches them, or a monitoring server.
AlertService = str

# A service that is down silences these alerts of its own (alertmanager inhibit rule).
INHIBITED_BY_HEALTH = ("HighLatencyP95", "HighLatencyP99", "HighErrorRate", "ThroughputDrop")
HEALTH_ALERT = "HealthCheckFailed"
WATCHDOG_ALERT = "Watchdog"  # always firing while the pipeline works: the dead man's switch


@dataclass(frozen=True)
class AlertRule:
    name: str
    kind: AlertKind
    group: str
    service: AlertService
    expr: str
    for_: timedelta
    severity: Severity
    strategy: StrategyName | None
    summary: str
    description: str
    # The limit the alert compares, as its dashboard panel shows it (a threshold line there).
    threshold: float | None = None


@dataclass(frozen=True)
class RecordingNames:
    """Recorded series, named level:metric:operations."""

    requests: str
    errors: str
    error_ratio: str
    latency_buckets: str
    sessions: str | None  # None: the stack names no business metrics
    conversion_ratio: str | None

    def latency_quantile(self, quantile: float) -> str:
        return f"service:{m.LATENCY}:p{round(quantile * 100)}_{self._window_suffix()}"

    def _window_suffix(self) -> str:
        return self.requests.rsplit(":", 1)[1]


QUANTILES = (0.5, 0.95, 0.99)


def _base(metric: str) -> str:
    """A counter's name without its `_total`, as recorded series name it."""
    return metric.removesuffix("_total")


def recording_names(config: MonitoringConfig) -> RecordingNames:
    window = format_duration(config.triggers.performance.evaluation_window)
    business = format_duration(config.triggers.business.window)
    metrics = config.business.metrics if config.business else None
    return RecordingNames(
        requests=f"service:http_requests:rate{window}",
        errors=f"service:http_request_errors:rate{window}",
        error_ratio=f"service:http_request_errors:ratio_rate{window}",
        latency_buckets=f"service_le:{m.LATENCY}_bucket:rate{window}",
        sessions=f"service:{_base(metrics.sessions)}:rate{business}" if metrics else None,
        conversion_ratio=(
            f"service:{_base(metrics.conversions)}:ratio_rate{business}" if metrics else None
        ),
    )


def recording_rules(config: MonitoringConfig) -> list[dict[str, str]]:
    names = recording_names(config)
    window = format_duration(config.triggers.performance.evaluation_window)
    business = format_duration(config.triggers.business.window)
    rules = [
        {"record": names.requests, "expr": f"sum by (service) (rate({m.REQUESTS}[{window}]))"},
        {
            "record": names.errors,
            "expr": f'sum by (service) (rate({m.REQUESTS}{{status="{m.SERVER_ERROR_STATUS}"}}'
            f"[{window}]))",
        },
        {"record": names.error_ratio, "expr": f"{names.errors} / {names.requests}"},
        {
            "record": names.latency_buckets,
            "expr": f"sum by (service, le) (rate({m.LATENCY}_bucket[{window}]))",
        },
    ]
    rules += [
        {
            "record": names.latency_quantile(q),
            "expr": f"histogram_quantile({q}, {names.latency_buckets})",
        }
        for q in QUANTILES
    ]
    if config.business and names.sessions and names.conversion_ratio:
        metrics = config.business.metrics
        rules += [
            {
                "record": names.sessions,
                "expr": f"sum by (service) (rate({metrics.sessions}[{business}]))",
            },
            {
                "record": names.conversion_ratio,
                "expr": f"sum by (service) (rate({metrics.conversions}[{business}])) / "
                f"{names.sessions}",
            },
        ]
    return rules


def _num(value: float) -> str:
    return repr(float(value))


def _health_alerts(config: MonitoringConfig, target: Target) -> list[AlertRule]:
    health = config.triggers.health_check
    if not health.enabled:
        return []
    rules = []
    for service, url in target.probed().items():
        strategy: StrategyName = "immediate" if target.services[service].critical else "fast"
        rules.append(
            AlertRule(
                name=HEALTH_ALERT,
                kind="health",
                group="health",
                service=service,
                expr=f'probe_success{{job="{m.PROBE_JOB}", service="{service}"}} == 0',
                for_=config.health_for,
                severity=config.strategies.of(strategy).severity,
                strategy=strategy,
                summary=f"{service} health check failing",
                description=f"{health.consecutive_failures} consecutive probes of {url} "
                f"failed (one probe every {format_duration(config.probe_interval)}).",
            )
        )
    return rules


def _serving(target: Target) -> list[str]:
    """The services whose requests and latency are judged: web services that are scraped."""
    return [s for s in target.scraped() if target.services[s].role == "web"]


def _performance_alerts(config: MonitoringConfig, target: Target) -> list[AlertRule]:
    perf = config.triggers.performance
    if not perf.enabled:
        return []
    names = recording_names(config)
    window = format_duration(perf.evaluation_window)
    offset = format_duration(perf.comparison_offset)
    severity = config.strategies.fast.severity
    rules = []
    for service in _serving(target):
        sel = f'{{service="{service}"}}'
        traffic = f"{names.requests}{sel} >= {_num(perf.min_request_rate)}"
        latency: tuple[tuple[AlertKind, float, timedelta], ...] = (
            ("latency_p95", 0.95, perf.response_time_p95),
            ("latency_p99", 0.99, perf.response_time_p99),
        )
        for kind, quantile, threshold in latency:
            limit = threshold.total_seconds()
            rules.append(
                AlertRule(
                    name=f"HighLatencyP{round(quantile * 100)}",
                    kind=kind,
                    group="performance",
                    service=service,
                    expr=f"{names.latency_quantile(quantile)}{sel} > {_num(limit)} "
                    f"and on (service) {traffic}",
                    for_=config.performance_for,
                    severity=severity,
                    strategy="fast",
                    summary=f"{service} p{round(quantile * 100)} latency above {limit:g}s",
                    threshold=limit,
                    description=f"p{round(quantile * 100)} response time of {service} over "
                    f"{window} has been above {limit:g}s for {perf.consecutive_violations} "
                    "consecutive evaluation windows.",
                )
            )
        rules.append(
            AlertRule(
                name="HighErrorRate",
                kind="error_rate",
                group="performance",
                service=service,
                expr=f"{names.error_ratio}{sel} > {_num(perf.error_rate)} "
                f"and on (service) {traffic}",
                for_=config.performance_for,
                severity=severity,
                strategy="fast",
                summary=f"{service} 5xx error rate above {perf.error_rate:.0%}",
                threshold=perf.error_rate,
                description=f"More than {perf.error_rate:.0%} of {service} requests over "
                f"{window} answered 5xx.",
            )
        )
        previous = f"({names.requests}{sel} offset {offset})"
        rules.append(
            AlertRule(
                name="ThroughputDrop",
                kind="throughput_drop",
                group="performance",
                service=service,
                expr=f"(1 - {names.requests}{sel} / {previous}) > {_num(perf.throughput_drop)} "
                f"and on (service) {previous} >= {_num(perf.min_request_rate)}",
                for_=config.performance_for,
                severity=severity,
                strategy="fast",
                summary=f"{service} throughput dropped more than {perf.throughput_drop:.0%}",
                threshold=perf.throughput_drop,
                description=f"{service} serves over {perf.throughput_drop:.0%} fewer requests "
                f"per second than {offset} earlier.",
            )
        )
    return rules


def _business_alerts(config: MonitoringConfig) -> list[AlertRule]:
    business = config.triggers.business
    names = recording_names(config)
    if not (business.enabled and config.business and names.sessions and names.conversion_ratio):
        return []
    service = config.business.service
    sel = f'{{service="{service}"}}'
    offset = format_duration(business.comparison_offset)
    previous = f"({names.conversion_ratio}{sel} offset {offset})"
    min_rate = _num(business.min_session_rate)
    return [
        AlertRule(
            name="ConversionRateDrop",
            kind="conversion_drop",
            group="business",
            service=service,
            expr=f"(1 - {names.conversion_ratio}{sel} / {previous}) "
            f"> {_num(business.conversion_drop)} "
            f"and on (service) {names.sessions}{sel} >= {min_rate} "
            f"and on (service) ({names.sessions}{sel} offset {offset}) >= {min_rate}",
            for_=business.sustained_for,
            severity=config.strategies.gradual.severity,
            strategy="gradual",
            summary=f"conversion rate dropped more than {business.conversion_drop:.0%}",
            threshold=business.conversion_drop,
            description=f"The share of sessions that convert over "
            f"{format_duration(business.window)} is more than "
            f"{business.conversion_drop:.0%} below the same window {offset} earlier.",
        )
    ]


def _availability_alerts(config: MonitoringConfig, target: Target) -> list[AlertRule]:
    rules = []
    probed = target.probed()
    for service in target.services:
        job = m.job_of(service)
        if service not in target.scraped():
            rules += _probe_absent(config, service, probed)
            continue
        rules += [
            AlertRule(
                name="MetricsTargetAbsent",
                kind="metrics_absent",
                group="availability",
                service=service,
                expr=f'absent(up{{job="{job}"}})',
                for_=config.absent_for,
                severity="warning",
                strategy=None,
                summary=f"{service} scrape job has vanished",
                description=f"Prometheus has no target for job {job}: {service} alerts "
                "cannot fire.",
            ),
            AlertRule(
                name="MetricsScrapeFailing",
                kind="scrape_failing",
                group="availability",
                service=service,
                expr=f'up{{job="{job}"}} == 0',
                for_=config.absent_for,
                severity="warning",
                strategy=None,
                summary=f"{service} metrics cannot be scraped",
                description=f"Scrapes of {service} metrics fail: its latency, error and "
                "throughput alerts are blind.",
            ),
        ]
        rules += _probe_absent(config, service, probed)
    return rules


def _probe_absent(
    config: MonitoringConfig, service: str, probed: dict[str, str]
) -> list[AlertRule]:
    if not config.triggers.health_check.enabled or service not in probed:
        return []
    return [
        AlertRule(
            name="HealthProbeAbsent",
            kind="probe_absent",
            group="availability",
            service=service,
            expr=f'absent(probe_success{{job="{m.PROBE_JOB}", service="{service}"}})',
            for_=config.absent_for,
            severity="warning",
            strategy=None,
            summary=f"{service} health probe has vanished",
            description=f"No health probe result for {service}: a failing health "
            "check would go unnoticed.",
        )
    ]


def _infrastructure_alerts(config: MonitoringConfig, target: Target) -> list[AlertRule]:
    infra = config.infrastructure
    window = format_duration(config.triggers.performance.evaluation_window)
    rules = []
    for service in target.scraped():
        sel = f'{{job="{m.job_of(service)}"}}'
        common: dict[str, Any] = {
            "group": "infrastructure",
            "service": service,
            "for_": infra.sustained_for,
            "severity": "warning",
            "strategy": None,
        }
        rules += [
            AlertRule(
                name="HighCpuUsage",
                kind="cpu",
                expr=f"max by (service) (rate({m.CPU_SECONDS}{sel}[{window}])) "
                f"> {_num(infra.cpu_usage * infra.cpu_limit_cores)}",
                summary=f"{service} CPU above {infra.cpu_usage:.0%}",
                threshold=infra.cpu_usage,
                description=f"{service} uses more than {infra.cpu_usage:.0%} of its "
                f"{infra.cpu_limit_cores:g} CPU core(s).",
                **common,
            ),
            AlertRule(
                name="HighMemoryUsage",
                kind="memory",
                expr=f"max by (service) ({m.RESIDENT_MEMORY}{sel}) "
                f"> {_num(infra.memory_usage * infra.memory_limit_bytes)}",
                summary=f"{service} memory above {infra.memory_usage:.0%}",
                threshold=infra.memory_usage * infra.memory_limit_bytes,
                description=f"{service} resident memory is above {infra.memory_usage:.0%} of "
                f"its {infra.memory_limit_bytes} byte limit.",
                **common,
            ),
            AlertRule(
                name="HighDiskUsage",
                kind="disk",
                expr=f"max by (service) (1 - {m.FS_AVAILABLE}{sel} / {m.FS_SIZE}{sel}) "
                f"> {_num(infra.disk_usage)}",
                summary=f"{service} disk above {infra.disk_usage:.0%}",
                threshold=infra.disk_usage,
                description=f"A filesystem of {service} is more than {infra.disk_usage:.0%} full.",
                **common,
            ),
        ]
    return rules


def _rollback_service_alerts(config: MonitoringConfig, target: Target) -> list[AlertRule]:
    """Who watches the watcher. None of these carries `rollback_strategy`, so none is routed to
    the rollback service: they page people (critical) or tell them (warning) directly."""
    origin = target.rollback_origin()
    if origin is None:
        return []
    common: dict[str, Any] = {"group": "rollback-service", "service": m.ROLLBACK, "strategy": None}
    window = format_duration(config.absent_for)
    return [
        AlertRule(
            name="RollbackServiceDown",
            kind="rollback_down",
            expr=f'probe_success{{job="{m.ROLLBACK_PROBE_JOB}"}} == 0',
            for_=config.health_for,
            severity="critical",
            summary="rollback service down: no automated rollback",
            description=f"{config.triggers.health_check.consecutive_failures} consecutive "
            f"probes of {origin}/health failed: a failing deployment would not be rolled back "
            "automatically. Roll back by hand until it is back.",
            **common,
        ),
        AlertRule(
            name="RollbackServiceAbsent",
            kind="rollback_absent",
            expr=f'absent(up{{job="{m.ROLLBACK}"}})',
            for_=config.absent_for,
            severity="warning",
            summary="rollback service is not watched",
            description="Prometheus has no target for the rollback service: its failures "
            "would go unnoticed.",
            **common,
        ),
        AlertRule(
            name="RollbackWebhooksRefused",
            kind="webhooks_refused",
            expr=f'sum(increase({m.ROLLBACK_WEBHOOKS}{{job="{m.ROLLBACK}", '
            f'outcome="unauthorized"}}[{window}])) > 0',
            for_=timedelta(0),
            severity="critical",
            summary="rollback service refuses webhooks: no automated rollback",
            description=f"The rollback service answered 401 to a webhook within {window}: "
            "Alertmanager's token and the service's differ (a rotated secret, a stray newline), "
            "or something else on the network posts to it. Alerts do not reach it meanwhile.",
            **common,
        ),
        AlertRule(
            name="RollbackActionsFailing",
            kind="rollback_failing",
            expr=f'sum(increase({m.ROLLBACK_ACTIONS}{{outcome="failed"}}[{window}])) > 0',
            for_=timedelta(0),
            severity="critical",
            summary="rollback service failed to act",
            description=f"A rollback or freeze action failed within {window} after its "
            "retries: the service it was for may still run the bad deployment. Roll it back "
            "by hand.",
            **common,
        ),
    ]


def _watcher_alerts(config: MonitoringConfig) -> list[AlertRule]:
    """The monitoring servers the stack runs, watched by Prometheus; and the Watchdog, which
    fires all the time so that its absence at a heartbeat receiver outside says that Prometheus,
    Alertmanager or the way out is down (nothing inside can say so then)."""
    if config.servers.hosting != "railway":
        return []
    window = format_duration(config.absent_for)
    servers: tuple[tuple[AlertService, str], ...] = (
        ("alertmanager", m.ALERTMANAGER_JOB),
        ("blackbox-exporter", m.BLACKBOX_JOB),
    )
    return [
        AlertRule(
            name=WATCHDOG_ALERT,
            kind="watchdog",
            group="watchdog",
            service="prometheus",
            expr=f'up{{job="{m.PROMETHEUS_JOB}"}} == 1',
            for_=timedelta(0),
            severity="info",
            strategy=None,
            summary="the alerting pipeline works (this alert always fires)",
            description="Prometheus evaluates its rules and scrapes itself with its login; "
            "Alertmanager sends this to the heartbeat receiver every watchdogInterval. When "
            "it stops arriving there, the heartbeat service alerts: monitoring is down.",
        ),
        *(
            AlertRule(
                name="MonitoringServerDown",
                kind="server_down",
                group="monitoring",
                service=service,
                expr=f'up{{job="{job}"}} == 0',
                for_=config.health_for,
                severity="critical",
                strategy=None,
                summary=f"{service} cannot be scraped: it is down or refuses Prometheus' login",
                description=f"Prometheus' scrapes of {service} failed for "
                f"{format_duration(config.health_for)}.",
            )
            for service, job in servers
        ),
        AlertRule(
            name="AlertmanagerNotificationsFailing",
            kind="notifications_failing",
            group="monitoring",
            service="alertmanager",
            expr=f"sum by (integration) (increase({m.NOTIFICATIONS_FAILED}"
            f'{{job="{m.ALERTMANAGER_JOB}"}}[{window}])) > 0',
            for_=timedelta(0),
            severity="critical",
            strategy=None,
            summary="Alertmanager fails to send notifications (see the integration label)",
            description=f"Notifications through the integration this alert names failed within "
            f"{window} (a wrong key or URL, a refused token, the receiver down): alerts do not "
            "reach people or the rollback service that way.",
        ),
    ]


def alert_rules(config: MonitoringConfig, target: Target) -> list[AlertRule]:
    return [
        *_health_alerts(config, target),
        *_performance_alerts(config, target),
        *_business_alerts(config),
        *_availability_alerts(config, target),
        *_infrastructure_alerts(config, target),
        *_rollback_service_alerts(config, target),
        *_watcher_alerts(config),
    ]


def runbook_url(config: MonitoringConfig, alert: str) -> str:
    if config.runbook_base_url is None:
        raise ValueError("monitoring.runbookBaseUrl is not set (the stack derives it)")
    return f"{config.runbook_base_url}#runbook-{alert.lower()}"


def alert_labels(rule: AlertRule, target: Target) -> dict[str, str]:
    labels: dict[str, str] = {
        "service": rule.service,
        "environment": target.environment,
        "severity": rule.severity,
    }
    if rule.strategy is not None:
        labels["rollback_strategy"] = rule.strategy
    return labels


def alert_annotations(rule: AlertRule, config: MonitoringConfig) -> dict[str, str]:
    return {
        "summary": rule.summary,
        "description": rule.description,
        "runbook_url": runbook_url(config, rule.name),
    }


def _rule_dict(rule: AlertRule, config: MonitoringConfig, target: Target) -> dict[str, Any]:
    return {
        "alert": rule.name,
        "expr": rule.expr,
        "for": format_duration(rule.for_),
        "labels": alert_labels(rule, target),
        "annotations": alert_annotations(rule, config),
    }


def recording_file(config: MonitoringConfig, target: Target) -> dict[str, Any]:
    group = f"{target.product.name}-recording"
    return {"groups": [{"name": group, "rules": recording_rules(config)}]}


def alerts_file(config: MonitoringConfig, target: Target) -> dict[str, Any]:
    rules = alert_rules(config, target)
    groups: dict[str, list[dict[str, Any]]] = {}
    for rule in rules:
        groups.setdefault(rule.group, []).append(_rule_dict(rule, config, target))
    return {
        "groups": [
            {"name": f"{target.product.name}-{name}", "rules": group_rules}
            for name, group_rules in groups.items()
        ]
    }
