"""Grafana provisioning files and dashboards (grafana-foundation-sdk).

Panel ids are written down next to each panel, never derived from list positions, so adding a
panel never renumbers the others. PromQL uses fixed windows, no Grafana macros, so promtool can
parse every query as written. A panel that shows what an alert compares draws that alert's
threshold (from the same rules, so the line is where the alert fires, per stack).
"""

import json
from dataclasses import dataclass
from typing import Any, Literal

from grafana_foundation_sdk.builders import common, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    GraphTresholdsStyleMode,
    LegendDisplayMode,
    LegendPlacement,
    SortOrder,
    TooltipDisplayMode,
)
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    GridPos,
    Threshold,
    ThresholdsMode,
)

from monitoring import metrics as m
from monitoring.config import DASHBOARDS, MonitoringConfig, Target
from monitoring.durations import format_duration
from monitoring.rules import QUANTILES, AlertRule, alert_rules, recording_names
from monitoring.servers import GRAFANA_PROMETHEUS_PASSWORD
from monitoring.webauth import user_of


def dashboards(config: MonitoringConfig) -> tuple[str, ...]:
    """The dashboards a stack gets: the business one only with business metrics named."""
    return tuple(d for d in DASHBOARDS if d != "business" or config.business is not None)


def datasource_uid(target: Target) -> str:
    return f"{target.product.name}-prometheus"


def dashboard_uid(target: Target, name: str) -> str:
    """Grafana takes uids of at most 40 characters: the stack file's validation makes sure."""
    return f"{target.product.name}-{name}-{target.environment}"


# Threshold colours in order: the first line orange, any further one red.
_COLOURS = ("orange", "red")
_WIDTH = 12
_HEIGHT = 8


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class PanelSpec:
    id: int
    title: str
    unit: str
    queries: tuple[Query, ...]
    kind: Literal["timeseries", "stat"] = "timeseries"
    alerts: tuple[str, ...] = ()  # whose thresholds it draws
    description: str = ""
    good_above: bool = False  # a value under its threshold is the bad one (an SLI, a budget)


def _application(config: MonitoringConfig) -> list[PanelSpec]:
    names = recording_names(config)
    offset = format_duration(config.triggers.performance.comparison_offset)
    return [
        PanelSpec(
            1,
            "Response time p50 / p95 / p99",
            "s",
            tuple(
                Query(names.latency_quantile(q), f"{{{{service}}}} p{round(q * 100)}")
                for q in QUANTILES
            ),
            alerts=("HighLatencyP95", "HighLatencyP99"),
            description="Lines: the p95 and p99 limits of the fast-rollback alerts.",
        ),
        PanelSpec(
            2,
            "Error rate (5xx)",
            "percentunit",
            (Query(names.error_ratio, "{{service}}"),),
            alerts=("HighErrorRate",),
            description="Line: the error share above which a fast rollback starts.",
        ),
        PanelSpec(3, "Throughput", "reqps", (Query(names.requests, "{{service}}"),)),
        PanelSpec(
            5,
            f"Throughput drop against {offset} earlier",
            "percentunit",
            (Query(f"1 - {names.requests} / ({names.requests} offset {offset})", "{{service}}"),),
            alerts=("ThroughputDrop",),
            description="Line: the drop above which a fast rollback starts.",
        ),
        PanelSpec(
            4,
            "Availability (health probes, 24h)",
            "percentunit",
            (
                Query(
                    f'avg by (service) (avg_over_time(probe_success{{job="{m.PROBE_JOB}"}}[1d]))',
                    "{{service}}",
                ),
            ),
            kind="stat",
        ),
    ]


def _infrastructure(config: MonitoringConfig) -> list[PanelSpec]:
    window = format_duration(config.triggers.performance.evaluation_window)
    cores = repr(config.infrastructure.cpu_limit_cores)
    return [
        PanelSpec(
            11,
            "CPU usage (share of limit)",
            "percentunit",
            (
                Query(
                    f"max by (service) (rate({m.CPU_SECONDS}[{window}])) / {cores}", "{{service}}"
                ),
            ),
            alerts=("HighCpuUsage",),
        ),
        PanelSpec(
            12,
            "Memory (resident)",
            "bytes",
            (Query(f"max by (service) ({m.RESIDENT_MEMORY})", "{{service}}"),),
            alerts=("HighMemoryUsage",),
        ),
        PanelSpec(
            13,
            "Disk usage",
            "percentunit",
            (Query(f"max by (service) (1 - {m.FS_AVAILABLE} / {m.FS_SIZE})", "{{service}}"),),
            alerts=("HighDiskUsage",),
        ),
        PanelSpec(
            14,
            "Network I/O",
            "Bps",
            (
                Query(f"sum by (service) (rate({m.NET_RECEIVE}[{window}]))", "{{service}} in"),
                Query(f"sum by (service) (rate({m.NET_TRANSMIT}[{window}]))", "{{service}} out"),
            ),
        ),
    ]


def _business(config: MonitoringConfig) -> list[PanelSpec]:
    names = recording_names(config)
    window = format_duration(config.triggers.business.window)
    offset = format_duration(config.triggers.business.comparison_offset)
    if config.business is None or names.sessions is None or names.conversion_ratio is None:
        return []
    metrics = config.business.metrics
    optional = [
        PanelSpec(
            21,
            "Daily active users",
            "short",
            (Query(f"max({metrics.active_users})", "users"),),
            kind="stat",
        )
        if metrics.active_users
        else None,
        PanelSpec(
            22,
            "Session duration p50 / p95",
            "s",
            tuple(
                Query(
                    f"histogram_quantile({q}, sum by (le) "
                    f"(rate({metrics.session_duration}_bucket[{window}])))",
                    f"p{round(q * 100)}",
                )
                for q in (0.5, 0.95)
            ),
        )
        if metrics.session_duration
        else None,
        PanelSpec(
            23,
            "Feature adoption (uses per session)",
            "short",
            (
                Query(
                    f"sum by (feature) (rate({metrics.feature_usage}[{window}])) "
                    f"/ scalar(sum({names.sessions}))",
                    "{{feature}}",
                ),
            ),
        )
        if metrics.feature_usage
        else None,
    ]
    panels = [panel for panel in optional if panel is not None]
    return [
        *panels,
        PanelSpec(
            24, "Conversion rate", "percentunit", (Query(names.conversion_ratio, "conversion"),)
        ),
        PanelSpec(
            26,
            f"Conversion drop against {offset} earlier",
            "percentunit",
            (
                Query(
                    f"1 - {names.conversion_ratio} / ({names.conversion_ratio} offset {offset})",
                    "{{service}}",
                ),
            ),
            alerts=("ConversionRateDrop",),
            description="Line: the drop above which a gradual rollback starts.",
        ),
        *(
            [
                PanelSpec(
                    25,
                    "User satisfaction (mean feedback score, 1-5)",
                    "short",
                    (
                        Query(
                            f"sum(rate({metrics.feedback_score}_sum[1d])) "
                            f"/ sum(rate({metrics.feedback_score}_count[1d]))",
                            "score",
                        ),
                    ),
                )
            ]
            if metrics.feedback_score
            else []
        ),
    ]


def _rollback(config: MonitoringConfig) -> list[PanelSpec]:
    """What the rollback service decided and did: the first place to look in an incident."""
    return [
        PanelSpec(
            31,
            "Rollback decisions (per hour)",
            "short",
            (
                Query(
                    f"sum by (strategy, decision) (increase({m.ROLLBACK_DECISIONS}[1h]))",
                    "{{strategy}} {{decision}}",
                ),
            ),
        ),
        PanelSpec(
            32,
            "Rollback and freeze actions (per hour)",
            "short",
            (
                Query(
                    f"sum by (action, service, outcome) (increase({m.ROLLBACK_ACTIONS}[1h]))",
                    "{{action}} {{service}} {{outcome}}",
                ),
            ),
            description="A failed action pages (RollbackActionsFailing): roll back by hand.",
        ),
        PanelSpec(
            33,
            "Deploy freezes set (24h)",
            "short",
            (
                Query(
                    f'sum(increase({m.ROLLBACK_ACTIONS}{{action="freeze", '
                    f'outcome="succeeded"}}[1d]))',
                    "freezes",
                ),
            ),
            kind="stat",
            description="A freeze holds until a person lifts it: python -m rollback unfreeze.",
        ),
        PanelSpec(
            34,
            "Rollback service health",
            "percentunit",
            (Query(f'min(probe_success{{job="{m.ROLLBACK_PROBE_JOB}"}})', "up"),),
            kind="stat",
        ),
    ]


def panel_specs(config: MonitoringConfig, name: str) -> list[PanelSpec]:
    builders = {
        "application": _application,
        "infrastructure": _infrastructure,
        "business": _business,
        "rollback": _rollback,
    }
    return builders[name](config)


def _thresholds(values: list[float], good_above: bool) -> Any:
    if good_above:
        steps = [Threshold(value=None, color="red")] + [
            Threshold(value=v, color="green") for v in sorted(set(values))
        ]
    else:
        steps = [Threshold(value=None, color="green")] + [
            Threshold(value=v, color=_COLOURS[min(i, len(_COLOURS) - 1)])
            for i, v in enumerate(sorted(set(values)))
        ]
    return dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps)


def _panel(
    spec: PanelSpec, position: int, datasource: DataSourceRef, limits: list[float], columns: int
) -> Any:
    builder: Any = stat.Panel() if spec.kind == "stat" else timeseries.Panel()
    width = 2 * _WIDTH // columns
    grid = GridPos(
        h=_HEIGHT, w=width, x=(position % columns) * width, y=(position // columns) * _HEIGHT
    )
    builder = builder.id(spec.id).title(spec.title).unit(spec.unit)
    builder = builder.datasource(datasource).grid_pos(grid)
    if spec.description:
        builder = builder.description(spec.description)
    if spec.kind == "timeseries":
        legend = common.VizLegendOptions().display_mode(LegendDisplayMode.TABLE)
        builder = builder.legend(legend.placement(LegendPlacement.BOTTOM).show_legend(True))
        tooltip = common.VizTooltipOptions().mode(TooltipDisplayMode.MULTI)
        builder = builder.tooltip(tooltip.sort(SortOrder.DESCENDING))
    if limits:
        builder = builder.thresholds(_thresholds(limits, spec.good_above))
        if spec.kind == "timeseries":  # a stat panel colours its value instead
            style = common.GraphThresholdsStyleConfig().mode(GraphTresholdsStyleMode.DASHED)
            builder = builder.thresholds_style(style)
    for ref, query in zip("ABCDEFGH", spec.queries, strict=False):
        target = prometheus.Dataquery().expr(query.expr).legend_format(query.legend)
        builder = builder.with_target(target.ref_id(ref).datasource(datasource))
    return builder


def limits_of(spec: PanelSpec, rules: list[AlertRule]) -> list[float]:
    """The thresholds of the alerts `spec` draws, as the rules compare them."""
    return [r.threshold for r in rules if r.name in spec.alerts and r.threshold is not None]


def dashboard_json(config: MonitoringConfig, target: Target, name: str) -> str:
    rules = alert_rules(config, target)
    panels = [(spec, limits_of(spec, rules)) for spec in panel_specs(config, name)]
    return board_json(config, target, name, panels)


def board_json(
    config: MonitoringConfig,
    target: Target,
    name: str,
    panels: list[tuple[PanelSpec, list[float]]],
    columns: int = 2,
) -> str:
    """A dashboard of `panels`, each with the threshold lines it draws, `columns` a row."""
    datasource = DataSourceRef(type_val="prometheus", uid=datasource_uid(target))
    board = (
        dashboard.Dashboard(f"{target.product.title} {name} ({target.environment})")
        .uid(dashboard_uid(target, name))
        .tags([target.product.name, target.environment, name])
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("utc")
        .readonly()
    )
    for position, (spec, limits) in enumerate(panels):
        board = board.with_panel(_panel(spec, position, datasource, limits, columns))
    return json.dumps(board.build(), cls=JSONEncoder, sort_keys=True, indent=2) + "\n"


def datasource_provisioning(config: MonitoringConfig, target: Target) -> dict[str, Any]:
    datasource: dict[str, Any] = {
        "name": "Prometheus",
        "uid": datasource_uid(target),
        "type": "prometheus",
        "access": "proxy",
        "url": config.addresses.prometheus_url,
        "isDefault": True,
        "editable": False,
        "jsonData": {"timeInterval": format_duration(config.scrape_interval)},
    }
    if config.servers.hosting == "railway":  # the stack's Prometheus requires a login
        # Grafana expands $__file{path} in provisioning files (grafana/grafana,
        # pkg/services/provisioning/values/values.go: interpolateValue -> setting.ExpandVar).
        datasource |= {
            "basicAuth": True,
            "basicAuthUser": user_of("prometheus"),
            "secureJsonData": {"basicAuthPassword": f"$__file{{{GRAFANA_PROMETHEUS_PASSWORD}}}"},
        }
    return {"apiVersion": 1, "datasources": [datasource]}


def dashboard_provisioning(config: MonitoringConfig, target: Target) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": target.product.name,
                "folder": target.product.title,
                "folderUid": target.product.name,
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "options": {"path": config.grafana.dashboards_path},
            }
        ],
    }
