"""promtool unit tests generated from the same config the rules come from.

For every alert rule: a firing case and a not-firing case, built from the rule's own thresholds
(twice over / half under), plus the edge cases the rollback policy cares about: the exact
Nth-failure boundary and a reset by one success for health checks, zero and tiny traffic for
ratio alerts. Nothing here restates a threshold: it is always read from the config.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from monitoring import metrics as m
from monitoring.config import MonitoringConfig, Target
from monitoring.durations import format_duration
from monitoring.rollback import rollback_config, rollback_services
from monitoring.rules import AlertRule, alert_annotations, alert_labels
from monitoring.slo_promtool import Check
from rollback.metrics import WEBHOOK_OUTCOMES, acted_on
from rollback.policy import Policy

MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Case:
    rule: AlertRule
    name: str
    interval: timedelta
    series: Mapping[str, Sequence[float]]
    checks: tuple[Check, ...]
    alert_series_labels: dict[str, str] = field(default_factory=dict)
    # promtool's evaluation step: the config's for health checks, coarser for slow signals
    evaluation_interval: timedelta = timedelta(minutes=1)


def _labels(**labels: str) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _counter(steps: int, per_step: Callable[[int], float]) -> list[float]:
    """Cumulative counter of `steps + 1` samples where step i adds per_step(i)."""
    values, total = [0.0], 0.0
    for i in range(steps):
        total += per_step(i)
        values.append(total)
    return values


def _steps(until: timedelta, interval: timedelta) -> int:
    return int(until / interval) + 1


def _fire_and_stay(threshold: float, upper: float = 1.0) -> float:
    """A value clearly over the threshold (double it, or halfway to `upper`)."""
    return min(2 * threshold, (threshold + upper) / 2)


# --- health -----------------------------------------------------------------------------------


def _health(rule: AlertRule, config: MonitoringConfig, target: Target) -> list[Case]:
    n = config.triggers.health_check.consecutive_failures
    p = config.probe_interval
    instance = target.probed()[rule.service]
    labels = {"job": m.PROBE_JOB, "service": rule.service, "instance": instance}
    series = "probe_success" + _labels(**labels)

    def case(name: str, values: list[float], checks: tuple[Check, ...]) -> Case:
        return Case(rule, name, p, {series: values}, checks, labels, config.evaluation_interval)

    boundary = [Check((n - 1) * p, fires=True)]
    if n > 1:
        boundary.insert(0, Check((n - 2) * p, fires=False))
    # n-1 failures, one success, n-1 failures: never n in a row. Then one more failure fires.
    reset = [0.0] * (n - 1) + [1.0] + [0.0] * (n - 1)
    return [
        case("fails on exactly the Nth consecutive failure", [0.0] * (n + 2), tuple(boundary)),
        case("one success resets the count", [*reset, 1.0], (Check((2 * n - 1) * p, False),)),
        case("N failures after a reset fire", [*reset, 0.0], (Check((2 * n - 1) * p, True),)),
        case("healthy never fires", [1.0] * (n + 2), (Check((n + 1) * p, False),)),
    ]


# --- performance ------------------------------------------------------------------------------

REQUESTS_PER_MINUTE = 600.0


def _traffic_per_minute(config: MonitoringConfig) -> float:
    return max(REQUESTS_PER_MINUTE, config.triggers.performance.min_request_rate * 60 * 10)


def _tiny_per_minute(config: MonitoringConfig) -> float:
    return config.triggers.performance.min_request_rate * 60 / 2


def _perf_eval_time(config: MonitoringConfig) -> timedelta:
    return config.triggers.performance.evaluation_window + config.performance_for + 2 * MINUTE


def _latency(rule: AlertRule, config: MonitoringConfig, target: Target) -> list[Case]:
    perf = config.triggers.performance
    quantile = 0.95 if rule.kind == "latency_p95" else 0.99
    threshold = perf.response_time_p95 if quantile == 0.95 else perf.response_time_p99
    buckets = perf.latency_buckets
    above = buckets.index(threshold.total_seconds()) + 1
    upper = buckets[above] if above < len(buckets) else float("inf")
    at = _perf_eval_time(config)
    steps = _steps(at, MINUTE)
    sel = {"job": m.job_of(rule.service), "service": rule.service}

    def case(name: str, per_minute: float, slow_share: float, fires: bool) -> Case:
        slow = per_minute * slow_share
        series: dict[str, Sequence[float]] = {}
        for le in [*buckets, float("inf")]:
            in_bucket = per_minute - slow + (slow if le >= upper else 0.0)
            le_text = "+Inf" if le == float("inf") else repr(le)
            name_ = f"{m.LATENCY}_bucket" + _labels(**sel, le=le_text)
            series[name_] = [in_bucket * i for i in range(steps + 1)]
        series[m.REQUESTS + _labels(**sel, status="2xx")] = _counter(steps, lambda _i: per_minute)
        return Case(rule, name, MINUTE, series, (Check(at, fires),))

    tail = 1 - quantile
    busy = _traffic_per_minute(config)
    return [
        case("slow tail over the threshold fires", busy, 2 * tail, True),
        case("slow tail under the threshold is quiet", busy, tail / 2, False),
        case("zero traffic is quiet", 0.0, 0.0, False),
        case("all slow but tiny traffic is quiet", _tiny_per_minute(config), 1.0, False),
    ]


def _error_rate(rule: AlertRule, config: MonitoringConfig, target: Target) -> list[Case]:
    threshold = config.triggers.performance.error_rate
    at = _perf_eval_time(config)
    steps = _steps(at, MINUTE)
    sel = {"job": m.job_of(rule.service), "service": rule.service}

    def case(name: str, per_minute: float, error_share: float, fires: bool) -> Case:
        series = {
            m.REQUESTS + _labels(**sel, status="2xx"): _counter(
                steps, lambda _i: per_minute * (1 - error_share)
            ),
            m.REQUESTS + _labels(**sel, status="5xx"): _counter(
                steps, lambda _i: per_minute * error_share
            ),
        }
        return Case(rule, name, MINUTE, series, (Check(at, fires),))

    busy = _traffic_per_minute(config)
    return [
        case("error share over the threshold fires", busy, _fire_and_stay(threshold), True),
        case("error share under the threshold is quiet", busy, threshold / 2, False),
        case("zero traffic is quiet", 0.0, 0.0, False),
        case("all errors but tiny traffic is quiet", _tiny_per_minute(config), 1.0, False),
    ]


def _drop_cases(
    rule: AlertRule,
    interval: timedelta,
    offset: timedelta,
    window_and_for: timedelta,
    make_series: Callable[[int, Callable[[int], bool]], dict[str, Sequence[float]]],
) -> Callable[[str, bool], Case]:
    """A change at `offset` + 1 interval, judged once it has lasted window + for."""
    switch = offset + interval
    at = switch + window_and_for + interval
    if at - offset > switch:
        raise ValueError("comparison offset too short for the window: fix the config")
    steps = _steps(at, interval)

    def case(name: str, fires: bool) -> Case:
        series = make_series(steps, lambda i: i * interval >= switch)
        return Case(rule, name, interval, series, (Check(at, fires),), evaluation_interval=interval)

    return case


def _throughput(rule: AlertRule, config: MonitoringConfig, target: Target) -> list[Case]:
    perf = config.triggers.performance
    sel = {"job": m.job_of(rule.service), "service": rule.service}
    busy = _traffic_per_minute(config)
    cases = []
    for name, before, drop, fires in (
        ("drop over the threshold fires", busy, _fire_and_stay(perf.throughput_drop), True),
        ("traffic vanishing fires", busy, 1.0, True),
        ("drop under the threshold is quiet", busy, perf.throughput_drop / 2, False),
        ("zero traffic before and after is quiet", 0.0, 1.0, False),
        ("tiny traffic vanishing is quiet", _tiny_per_minute(config), 1.0, False),
    ):

        def series(
            steps: int, after: Callable[[int], bool], b: float = before, d: float = drop
        ) -> dict[str, Sequence[float]]:
            def per_step(i: int) -> float:
                return b * (1 - d) if after(i) else b

            return {m.REQUESTS + _labels(**sel, status="2xx"): _counter(steps, per_step)}

        make = _drop_cases(
            rule,
            MINUTE,
            perf.comparison_offset,
            perf.evaluation_window + config.performance_for,
            series,
        )
        cases.append(make(name, fires))
    return cases


def _conversion(rule: AlertRule, config: MonitoringConfig, target: Target) -> list[Case]:
    business = config.triggers.business
    assert config.business is not None, "a conversion alert comes from named business metrics"
    metrics = config.business.metrics
    interval = 5 * MINUTE
    sel = {"job": m.job_of(rule.service), "service": rule.service}
    per_step_busy = business.min_session_rate * interval.total_seconds() * 20
    per_step_tiny = business.min_session_rate * interval.total_seconds() / 2
    share = 0.2
    cases = []
    for name, sessions, drop, fires in (
        ("conversion drop over the threshold fires", per_step_busy,
         _fire_and_stay(business.conversion_drop), True),
        ("conversion drop under the threshold is quiet", per_step_busy,
         business.conversion_drop / 2, False),
        ("zero sessions is quiet", 0.0, 1.0, False),
        ("tiny sessions losing every conversion is quiet", per_step_tiny, 1.0, False),
    ):  # fmt: skip

        def series(
            steps: int, after: Callable[[int], bool], s: float = sessions, d: float = drop
        ) -> dict[str, Sequence[float]]:
            return {
                metrics.sessions + _labels(**sel): _counter(steps, lambda _i: s),
                metrics.conversions + _labels(**sel): _counter(
                    steps, lambda i: s * share * ((1 - d) if after(i) else 1)
                ),
            }

        make = _drop_cases(
            rule,
            interval,
            business.comparison_offset,
            business.window + business.sustained_for,
            series,
        )
        cases.append(make(name, fires))
    return cases


# --- availability and infrastructure ------------------------------------------------------------


def _other_jobs_up(service: str, steps: int, target: Target) -> dict[str, Sequence[float]]:
    return {
        "up" + _labels(job=m.job_of(s), service=s): [1.0] * steps
        for s in target.scraped()
        if s != service
    }


def _metrics_absent(rule: AlertRule, config: MonitoringConfig, target: Target) -> list[Case]:
    at = config.absent_for + MINUTE
    steps = _steps(at, MINUTE)
    own = {"up" + _labels(job=m.job_of(rule.service), service=rule.service): [1.0] * steps}
    others = _other_jobs_up(rule.service, steps, target)
    return [
        Case(rule, "vanished job fires", MINUTE, others, (Check(at, True),),
             {"job": m.job_of(rule.service)}),
        Case(rule, "present job is quiet", MINUTE, {**others, **own}, (Check(at, False),)),
    ]  # fmt: skip


def _probe_absent(rule: AlertRule, config: MonitoringConfig, target: Target) -> list[Case]:
    at = config.absent_for + MINUTE
    steps = _steps(at, MINUTE)
    labels = {"job": m.PROBE_JOB, "service": rule.service}
    others = {
        "probe_success" + _labels(job=m.PROBE_JOB, service=s): [1.0] * steps
        for s in target.probed()
        if s != rule.service
    }
    own = {"probe_success" + _labels(**labels): [1.0] * steps}
    return [
        Case(rule, "vanished probe fires", MINUTE, others, (Check(at, True),), labels),
        Case(rule, "present probe is quiet", MINUTE, {**others, **own}, (Check(at, False),)),
    ]


def _scrape_failing(rule: AlertRule, config: MonitoringConfig, target: Target) -> list[Case]:
    at = config.absent_for + MINUTE
    steps = _steps(at, MINUTE)
    labels = {"job": m.job_of(rule.service), "service": rule.service, "instance": "app:443"}
    series = "up" + _labels(**labels)
    return [
        Case(rule, "failing scrapes fire", MINUTE, {series: [0.0] * steps}, (Check(at, True),),
             labels),
        Case(rule, "succeeding scrapes are quiet", MINUTE, {series: [1.0] * steps},
             (Check(at, False),)),
    ]  # fmt: skip


def _infra(rule: AlertRule, config: MonitoringConfig, target: Target) -> list[Case]:
    infra = config.infrastructure
    at = config.triggers.performance.evaluation_window + infra.sustained_for + 2 * MINUTE
    steps = _steps(at, MINUTE)
    sel = {"job": m.job_of(rule.service), "service": rule.service, "instance": "app:443"}

    def series(usage: float) -> dict[str, Sequence[float]]:
        if rule.kind == "cpu":
            cores = usage * infra.cpu_limit_cores
            return {m.CPU_SECONDS + _labels(**sel): _counter(steps, lambda _i: cores * 60)}
        if rule.kind == "memory":
            used = usage * infra.memory_limit_bytes
            return {m.RESIDENT_MEMORY + _labels(**sel): [used] * steps}
        size = 1e11
        return {
            m.FS_SIZE + _labels(**sel, mountpoint="/data"): [size] * steps,
            m.FS_AVAILABLE + _labels(**sel, mountpoint="/data"): [size * (1 - usage)] * steps,
        }

    threshold = {"cpu": infra.cpu_usage, "memory": infra.memory_usage, "disk": infra.disk_usage}[
        rule.kind
    ]
    return [
        Case(rule, "usage over the threshold fires", MINUTE,
             series(_fire_and_stay(threshold)), (Check(at, True),)),
        Case(rule, "usage under the threshold is quiet", MINUTE, series(threshold / 2),
             (Check(at, False),)),
    ]  # fmt: skip


def _rollback_down(rule: AlertRule, config: MonitoringConfig, target: Target) -> list[Case]:
    n = config.triggers.health_check.consecutive_failures
    p = config.probe_interval
    labels = {"job": m.ROLLBACK_PROBE_JOB, "service": m.ROLLBACK, "instance": "rollback/health"}
    series = "probe_success" + _labels(**labels)
    boundary = [Check((n - 1) * p, fires=True)]
    if n > 1:
        boundary.insert(0, Check((n - 2) * p, fires=False))
    return [
        Case(rule, "fails on the Nth consecutive failed probe", p, {series: [0.0] * (n + 2)},
             tuple(boundary), labels, config.evaluation_interval),
        Case(rule, "healthy never fires", p, {series: [1.0] * (n + 2)},
             (Check((n + 1) * p, False),), labels, config.evaluation_interval),
    ]  # fmt: skip


def _rollback_absent(rule: AlertRule, config: MonitoringConfig, target: Target) -> list[Case]:
    at = config.absent_for + MINUTE
    steps = _steps(at, MINUTE)
    apps = _other_jobs_up("", steps, target)
    own = {"up" + _labels(job=m.ROLLBACK, service=m.ROLLBACK): [1.0] * steps}
    return [
        Case(rule, "vanished job fires", MINUTE, apps, (Check(at, True),), {"job": m.ROLLBACK}),
        Case(rule, "present job is quiet", MINUTE, {**apps, **own}, (Check(at, False),)),
    ]


def _acted_on(config: MonitoringConfig, target: Target) -> list[tuple[str, str]]:
    """The (action, service) pairs the rollback service reads from this config's policy."""
    services = rollback_services(target).services
    return acted_on(
        Policy.model_validate({**rollback_config(config, target), "services": services})
    )


def _rollback_failing(rule: AlertRule, config: MonitoringConfig, target: Target) -> list[Case]:
    """As the service emits them: from its start, every action it may take on every service,
    by outcome, at 0 (rollback.metrics.Metrics.zeros); then one of them counts."""
    at = 3 * MINUTE
    steps = _steps(at, MINUTE)
    sel = {"job": m.ROLLBACK, "service": m.ROLLBACK}
    pairs = _acted_on(config, target)
    action, service = pairs[0]

    def counted(outcome: str) -> dict[str, Sequence[float]]:
        series: dict[str, Sequence[float]] = {
            m.ROLLBACK_ACTIONS + _labels(**sel, action=a, exported_service=s, outcome=o): [0.0]
            * steps
            for a, s in pairs
            for o in ("succeeded", "failed")
        }
        key = m.ROLLBACK_ACTIONS + _labels(
            **sel, action=action, exported_service=service, outcome=outcome
        )
        series[key] = [0.0, 0.0, *[1.0] * (steps - 2)]
        return series

    return [
        Case(rule, "the first failed action fires", MINUTE, counted("failed"), (Check(at, True),)),
        Case(rule, "succeeded actions are quiet", MINUTE, counted("succeeded"),
             (Check(at, False),)),
    ]  # fmt: skip


def _webhooks_refused(rule: AlertRule, config: MonitoringConfig, target: Target) -> list[Case]:
    """Every webhook outcome at 0 from the service's start, then one of them counts."""
    at = 3 * MINUTE
    steps = _steps(at, MINUTE)

    def counted(outcome: str) -> dict[str, Sequence[float]]:
        series: dict[str, Sequence[float]] = {}
        for each in WEBHOOK_OUTCOMES:
            values = [0.0, 0.0, *[1.0] * (steps - 2)] if each == outcome else [0.0] * steps
            series[m.ROLLBACK_WEBHOOKS + _labels(job=m.ROLLBACK, service=m.ROLLBACK,
                                                 outcome=each)] = values  # fmt: skip
        return series

    return [
        Case(rule, "the first refused webhook fires", MINUTE, counted("unauthorized"),
             (Check(at, True),)),
        Case(rule, "accepted webhooks are quiet", MINUTE, counted("accepted"), (Check(at, False),)),
    ]  # fmt: skip


def _watchdog(rule: AlertRule, config: MonitoringConfig, target: Target) -> list[Case]:
    labels = {"job": m.PROMETHEUS_JOB, "service": "prometheus", "instance": "prometheus:9090"}
    series = "up" + _labels(**labels)
    interval = config.scrape_interval
    return [
        Case(rule, "fires while Prometheus scrapes itself", interval, {series: [1.0] * 4},
             (Check(2 * interval, True),), labels),
        Case(rule, "quiet when its own scrape fails (the heartbeat stops)", interval,
             {series: [0.0] * 4}, (Check(2 * interval, False),)),
    ]  # fmt: skip


def _server_down(rule: AlertRule, config: MonitoringConfig, target: Target) -> list[Case]:
    labels = {"job": rule.service, "service": rule.service, "instance": f"{rule.service}:9093"}
    series = "up" + _labels(**labels)
    interval = config.scrape_interval
    steps = _steps(config.health_for + 2 * interval, interval)
    at = config.health_for + interval
    return [
        Case(rule, "failed scrapes fire", interval, {series: [0.0] * steps}, (Check(at, True),),
             labels, config.evaluation_interval),
        Case(rule, "scraped is quiet", interval, {series: [1.0] * steps}, (Check(at, False),),
             labels, config.evaluation_interval),
    ]  # fmt: skip


# Alertmanager creates a failure counter at 0 for each integration it knows at its start.
INTEGRATIONS = ("email", "pagerduty", "slack", "webhook")


def _notifications_failing(rule: AlertRule, config: MonitoringConfig, target: Target) -> list[Case]:
    at = 3 * MINUTE
    steps = _steps(at, MINUTE)
    sel = {"job": m.ALERTMANAGER_JOB, "service": "alertmanager", "instance": "alertmanager:9093"}

    def failed(failing: str | None) -> dict[str, Sequence[float]]:
        return {
            m.NOTIFICATIONS_FAILED + _labels(**sel, integration=each): (
                [0.0, 0.0, *[1.0] * (steps - 2)] if each == failing else [0.0] * steps
            )
            for each in INTEGRATIONS
        }

    return [
        Case(rule, "a failed notification fires", MINUTE, failed("webhook"),
             (Check(at, True),), {"integration": "webhook"}),
        Case(rule, "no failure is quiet", MINUTE, failed(None), (Check(at, False),)),
    ]  # fmt: skip


GENERATORS: dict[str, Callable[[AlertRule, MonitoringConfig, Target], list[Case]]] = {
    "health": _health,
    "latency_p95": _latency,
    "latency_p99": _latency,
    "error_rate": _error_rate,
    "throughput_drop": _throughput,
    "conversion_drop": _conversion,
    "metrics_absent": _metrics_absent,
    "probe_absent": _probe_absent,
    "scrape_failing": _scrape_failing,
    "cpu": _infra,
    "memory": _infra,
    "disk": _infra,
    "rollback_down": _rollback_down,
    "rollback_absent": _rollback_absent,
    "rollback_failing": _rollback_failing,
    "webhooks_refused": _webhooks_refused,
    "watchdog": _watchdog,
    "server_down": _server_down,
    "notifications_failing": _notifications_failing,
}


def cases_for(rules: list[AlertRule], config: MonitoringConfig, target: Target) -> list[Case]:
    return [case for rule in rules for case in GENERATORS[rule.kind](rule, config, target)]


def _values(values: Sequence[float]) -> str:
    return " ".join(repr(float(v)) for v in values) if values else "_"


def promtool_tests(
    cases: list[Case], config: MonitoringConfig, target: Target
) -> list[dict[str, Any]]:
    tests = []
    for case in cases:
        expected = {
            **case.alert_series_labels,
            "service": case.rule.service,
            **alert_labels(case.rule, target),
        }
        tests.append(
            {
                "name": f"{case.rule.name}/{case.rule.service}: {case.name}",
                "interval": format_duration(case.interval),
                "input_series": [
                    {"series": series, "values": _values(values)}
                    for series, values in case.series.items()
                ],
                "alert_rule_test": [
                    {
                        "eval_time": format_duration(check.at),
                        "alertname": case.rule.name,
                        "exp_alerts": [
                            {
                                "exp_labels": expected,
                                "exp_annotations": alert_annotations(case.rule, config),
                            }
                        ]
                        if check.fires
                        else [],
                    }
                    for check in case.checks
                ],
            }
        )
    return tests
