"""Rules of the service level objectives (`monitoring.slos`): `prometheus/rules/slo.yml`, one
group per objective holding its recording rules, then its alerts; Alertmanager's inhibit rules
and webhook route for them; their part of rollback-config.yml.

Every error ratio is a ratio of `increase()` sums over its window (bad requests / all
requests), never an average of shorter ratios, so a quiet hour weighs what it served. Per tier
of `monitoring.sloAlerting` (the workbook's by default): `ErrorBudgetBurn` fires while the long
and the short window both burn the budget more than `factor` times as fast as the window
allows and the short window carries at least the traffic floor
(`triggers.performance.minRequestRate`); page tiers page, ticket tiers reach the rollback
service, which keeps one GitHub issue per objective. Below the floor `ErrorBudgetBurnLowTraffic`
judges the fastest tier's long window alone once it holds enough bad requests;
`SLIMetricsAbsent` says the SLI's series is gone; `ErrorBudgetExhausted`, where the stack
freezes on it, makes the rollback service freeze deploys.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from monitoring import metrics as m
from monitoring.config import MonitoringConfig, ServiceName, Severity, Target
from monitoring.durations import format_duration
from monitoring.rules import AlertRule, alert_annotations, alert_labels
from monitoring.slo_config import BurnRateTier, LatencySli, Objective

RULES_FILE = "prometheus/rules/slo.yml"
BURN = "ErrorBudgetBurn"
LOW_TRAFFIC = "ErrorBudgetBurnLowTraffic"
ABSENT = "SLIMetricsAbsent"
EXHAUSTED = "ErrorBudgetExhausted"
# Labels of the SLO alerts besides the house ones (service, environment, severity).
SLO_LABEL = "slo"
TIER_LABEL = "burnrate_tier"
ACTION_LABEL = "slo_action"  # page | ticket | freeze: what the alert makes happen
Action = Literal["page", "ticket", "freeze"]
WEBHOOK_ACTIONS: tuple[Action, ...] = ("ticket", "freeze")  # what the rollback service does
SEVERITY: dict[Action, Severity] = {"page": "critical", "ticket": "warning", "freeze": "warning"}
REMAINING = "slo:error_budget_remaining:ratio"


def error_ratio(window: timedelta) -> str:
    return f"slo:sli_error:ratio_rate{format_duration(window)}"


def requests(window: timedelta) -> str:
    return f"slo:sli_requests:increase{format_duration(window)}"


def bad_requests(window: timedelta) -> str:
    return f"slo:sli_errors:increase{format_duration(window)}"


def _floor(config: MonitoringConfig, window: timedelta) -> str:
    """The requests a window holds at the traffic floor (triggers.performance.minRequestRate)."""
    return repr(float(config.triggers.performance.min_request_rate) * window.total_seconds())


def le_values(bound: float) -> tuple[str, ...]:
    """How exporters write the `le` of a bucket bound: Python's client "2.0", Go's and Node's
    "2"; Prometheus 3 stores "2.0" whatever was scraped (its migration guide, "le and quantile
    label values"). Both, for a whole number."""
    written = repr(float(bound))
    return (str(int(bound)), written) if float(bound).is_integer() else (written,)


@dataclass(frozen=True)
class Slo:
    """One objective of one service, as its rules query it."""

    service: ServiceName
    objective: Objective

    @property
    def name(self) -> str:
        return self.objective.name

    @property
    def budget(self) -> str:
        return format(self.objective.budget, "f")

    @property
    def key(self) -> str:
        return f"{self.service}/{self.name}"

    @property
    def selector(self) -> str:
        return f'{{service="{self.service}", {SLO_LABEL}="{self.name}"}}'

    @property
    def total_series(self) -> str:
        """The counter of every request the SLI judges."""
        metric = f"{m.LATENCY}_count" if self.latency else m.REQUESTS
        return f'{metric}{{service="{self.service}"}}'

    @property
    def latency(self) -> LatencySli | None:
        sli = self.objective.sli
        return sli if isinstance(sli, LatencySli) else None

    def describe(self) -> str:
        """ "99.9% of requests answered within 2s over 30d"."""
        what = (
            f"answered within {format_duration(self.latency.threshold)}"
            if self.latency
            else "answered without a server error (5xx)"
        )
        window = format_duration(self.objective.window)
        return f"{self.objective.objective:g}% of {self.service} requests {what} over {window}"

    def increases(self, window: timedelta) -> tuple[str, str]:
        """PromQL of (all, bad) requests over `window`, summed per service; the bad ones read
        the recorded count of all (`requests(window)`), so the raw series are read twice."""
        w = format_duration(window)
        total = f"sum by (service) (increase({self.total_series}[{w}]))"
        recorded = f"{requests(window)}{self.selector}"
        if self.latency:
            bound = self.latency.threshold.total_seconds()
            le = "|".join(v.replace(".", "\\.") for v in le_values(bound))
            good = (
                f'sum by (service) (increase({m.LATENCY}_bucket{{service="{self.service}", '
                f"le=~`{le}`}}[{w}]))"
            )
            return total, f"{recorded} - on (service) {good}"
        # The instrumentator creates the 5xx series at the first server error: until then no
        # request was bad (0, not nothing, or the budget would read as unknown).
        errors = (
            f'sum by (service) (increase({m.REQUESTS}{{service="{self.service}", '
            f'status="{m.SERVER_ERROR_STATUS}"}}[{w}]))'
        )
        return total, f"{errors} or on (service) {recorded} * 0"


def slos(config: MonitoringConfig) -> list[Slo]:
    return [
        Slo(service, objective)
        for service, objectives in sorted(config.slos.items())
        for objective in objectives
    ]


def freezes(config: MonitoringConfig, target: Target) -> bool:
    """Whether a spent budget freezes deploys here: a production environment, unless the stack
    says."""
    wanted = config.slo_alerting.freeze
    return target.kind == "production" if wanted is None else wanted


def _windows(config: MonitoringConfig, slo: Slo) -> list[timedelta]:
    tiers = config.slo_alerting.tiers
    return sorted(
        {slo.objective.window, *(t.long_window for t in tiers), *(t.short_window for t in tiers)}
    )


def recording_rules(config: MonitoringConfig, slo: Slo) -> list[dict[str, Any]]:
    """Per window: the requests, the bad ones, their ratio; then the budget left."""
    found = []
    for window in _windows(config, slo):
        total, bad = slo.increases(window)
        ratio = f"{bad_requests(window)}{slo.selector} / {requests(window)}{slo.selector}"
        found += [
            (requests(window), total),
            (bad_requests(window), bad),
            (error_ratio(window), ratio),
        ]
    found.append(
        (REMAINING, f"1 - {error_ratio(slo.objective.window)}{slo.selector} / {slo.budget}")
    )
    return [{"record": name, "expr": expr, "labels": {SLO_LABEL: slo.name}} for name, expr in found]


@dataclass(frozen=True)
class SloAlert:
    """An alert of an objective: the house rule, and the labels that say which SLO and tier."""

    rule: AlertRule
    labels: tuple[tuple[str, str], ...]

    def rendered(self, config: MonitoringConfig, target: Target) -> dict[str, Any]:
        return {
            "alert": self.rule.name,
            "expr": self.rule.expr,
            "for": format_duration(self.rule.for_),
            "labels": {**alert_labels(self.rule, target), **dict(self.labels)},
            "annotations": alert_annotations(self.rule, config),
        }


def _alert(
    slo: Slo,
    name: str,
    expr: str,
    *,
    for_: timedelta,
    severity: Severity,
    summary: str,
    description: str,
    labels: dict[str, str],
    threshold: float | None = None,
) -> SloAlert:
    rule = AlertRule(
        name=name,
        kind="slo",
        group=f"slo-{slo.service}-{slo.name}",
        service=slo.service,
        expr=expr,
        for_=for_,
        severity=severity,
        strategy=None,
        summary=summary,
        description=description,
        threshold=threshold,
    )
    return SloAlert(rule, ((SLO_LABEL, slo.name), *labels.items()))


def _burn(config: MonitoringConfig, slo: Slo, tier: BurnRateTier) -> SloAlert:
    floor = _floor(config, tier.short_window)
    limit = f"({tier.factor!r} * {slo.budget})"
    long, short = format_duration(tier.long_window), format_duration(tier.short_window)
    lasts = format_duration(slo.objective.window / tier.factor)
    return _alert(
        slo,
        BURN,
        f"{error_ratio(tier.long_window)}{slo.selector} > {limit} "
        f"and on (service, {SLO_LABEL}) {error_ratio(tier.short_window)}{slo.selector} > {limit} "
        f"and on (service, {SLO_LABEL}) {requests(tier.short_window)}{slo.selector} >= {floor}",
        for_=timedelta(0),
        severity=SEVERITY[tier.action],
        summary=f"{slo.key}: error budget burning {tier.factor:g}x too fast over {long}",
        description=f"Objective: {slo.describe()}. Over the last {long}, and still over the "
        f"last {short}, bad requests used the error budget more than {tier.factor:g} times as "
        f"fast as the window allows: at that pace it is gone in {lasts}.",
        labels={TIER_LABEL: tier.name, ACTION_LABEL: tier.action},
        threshold=tier.factor,
    )


def alert_rules(config: MonitoringConfig, target: Target, slo: Slo) -> list[SloAlert]:
    alerting = config.slo_alerting
    fastest = alerting.tiers[0]
    rate = repr(float(config.triggers.performance.min_request_rate))
    quiet = _floor(config, fastest.short_window)
    spent: dict[str, str] = {ACTION_LABEL: "freeze"} if freezes(config, target) else {}
    window = format_duration(slo.objective.window)
    return [
        *(_burn(config, slo, tier) for tier in alerting.tiers),
        _alert(
            slo,
            LOW_TRAFFIC,
            f"{error_ratio(fastest.long_window)}{slo.selector} > ({fastest.factor!r} * "
            f"{slo.budget}) and on (service, {SLO_LABEL}) {requests(fastest.short_window)}"
            f"{slo.selector} < {quiet} and on (service, {SLO_LABEL}) "
            f"{bad_requests(fastest.long_window)}{slo.selector} >= "
            f"{alerting.low_traffic_bad_events}",
            for_=timedelta(0),
            severity="warning",
            summary=f"{slo.key}: errors at low traffic",
            description=f"Objective: {slo.describe()}. Fewer than {rate} requests per second "
            f"over {format_duration(fastest.short_window)}, too few for the burn-rate alerts, "
            f"but at least {alerting.low_traffic_bad_events} bad requests over "
            f"{format_duration(fastest.long_window)}, more than {fastest.factor:g}x the "
            "budget's share.",
            labels={},
        ),
        _alert(
            slo,
            ABSENT,
            f"absent({slo.total_series})",
            for_=config.absent_for,
            severity="warning",
            summary=f"{slo.key}: no SLI series ({slo.total_series})",
            description=f"Prometheus has no {slo.total_series}: the objective cannot be "
            "judged and its burn-rate alerts cannot fire.",
            labels={},
        ),
        _alert(
            slo,
            EXHAUSTED,
            f"{REMAINING}{slo.selector} <= 0 and on (service, {SLO_LABEL}) "
            f"{requests(slo.objective.window)}{slo.selector} >= "
            f"{_floor(config, slo.objective.window)}",
            for_=alerting.exhausted_for,
            severity=SEVERITY["freeze"],
            summary=f"{slo.key}: error budget of {window} spent",
            description=f"Objective: {slo.describe()}. The bad requests of the last {window} "
            "exceed its error budget"
            + (
                ": deploys are frozen but for reliability fixes until a person lifts it."
                if spent
                else "."
            ),
            labels=spent,
            threshold=0.0,
        ),
    ]


def all_alerts(config: MonitoringConfig, target: Target) -> list[SloAlert]:
    return [alert for slo in slos(config) for alert in alert_rules(config, target, slo)]


def rules_file(config: MonitoringConfig, target: Target) -> dict[str, Any]:
    """One group per objective: its rules run in order, so its alerts read this evaluation's
    ratios, and `prometheus_rule_group_last_duration_seconds` tells each objective's cost."""
    return {
        "groups": [
            {
                "name": f"{target.product.name}-slo-{slo.service}-{slo.name}",
                "rules": [
                    *recording_rules(config, slo),
                    *(a.rendered(config, target) for a in alert_rules(config, target, slo)),
                ],
            }
            for slo in slos(config)
        ]
    }


def inhibit_rules(config: MonitoringConfig) -> list[dict[str, Any]]:
    """While a tier fires, the slower tiers of the same objective say nothing new."""
    names = [tier.name for tier in config.slo_alerting.tiers]
    if not config.slos:
        return []
    return [
        {
            "source_matchers": [f'alertname="{BURN}"', f'{TIER_LABEL}="{name}"'],
            "target_matchers": [f'alertname="{BURN}"', f'{TIER_LABEL}=~"{"|".join(slower)}"'],
            "equal": ["service", SLO_LABEL, "environment"],
        }
        for n, name in enumerate(names)
        if (slower := names[n + 1 :])
    ]


def webhook_routes(receiver: str, config: MonitoringConfig) -> list[dict[str, Any]]:
    """Tickets and budget freezes go to the rollback service, one group per objective."""
    if not config.slos:
        return []
    routing = config.routing
    return [
        {
            "receiver": receiver,
            "matchers": [f'{ACTION_LABEL}=~"{"|".join(WEBHOOK_ACTIONS)}"'],
            "group_by": ["alertname", "service", SLO_LABEL],
            "group_wait": format_duration(routing.rollback_group_wait),
            "repeat_interval": format_duration(routing.rollback_repeat_interval),
            "continue": True,
        }
    ]


def rollback_policy(config: MonitoringConfig, target: Target) -> list[dict[str, Any]]:
    """What the rollback service acts on: the objectives, and whether it freezes for them."""
    tickets = any(tier.action == "ticket" for tier in config.slo_alerting.tiers)
    return [
        {
            "service": slo.service,
            "slo": slo.name,
            "objective": slo.describe(),
            "tickets": tickets,
            "freeze": freezes(config, target),
        }
        for slo in slos(config)
    ]
