"""Grafana provisioning files and dashboards (grafana-foundation-sdk).

Panel ids are written down next to each panel, never derived from list positions, so adding a
panel never renumbers the others. PromQL uses fixed windows, no Grafana macros, so promtool can
parse every query as written.
"""

import json
from dataclasses import dataclass
from typing import Any, Literal

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos

from monitoring import metrics as m
from monitoring.config import MonitoringConfig, Target
from monitoring.durations import format_duration
from monitoring.rules import QUANTILES, recording_names

DASHBOARDS = ("application", "infrastructure", "business")
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


def _application(config: MonitoringConfig) -> list[PanelSpec]:
    names = recording_names(config)
    return [
        PanelSpec(
            1,
            "Response time p50 / p95 / p99",
            "s",
            tuple(
                Query(names.latency_quantile(q), f"{{{{service}}}} p{round(q * 100)}")
                for q in QUANTILES
            ),
        ),
        PanelSpec(2, "Error rate (5xx)", "percentunit", (Query(names.error_ratio, "{{service}}"),)),
        PanelSpec(3, "Throughput", "reqps", (Query(names.requests, "{{service}}"),)),
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
        ),
        PanelSpec(
            12,
            "Memory (resident)",
            "bytes",
            (Query(f"max by (service) ({m.RESIDENT_MEMORY})", "{{service}}"),),
        ),
        PanelSpec(
            13,
            "Disk usage",
            "percentunit",
            (Query(f"max by (service) (1 - {m.FS_AVAILABLE} / {m.FS_SIZE})", "{{service}}"),),
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
    return [
        PanelSpec(
            21,
            "Daily active users",
            "short",
            (Query(f"max({m.ACTIVE_USERS})", "users"),),
            kind="stat",
        ),
        PanelSpec(
            22,
            "Session duration p50 / p95",
            "s",
            tuple(
                Query(
                    f"histogram_quantile({q}, sum by (le) "
                    f"(rate({m.SESSION_DURATION}_bucket[{window}])))",
                    f"p{round(q * 100)}",
                )
                for q in (0.5, 0.95)
            ),
        ),
        PanelSpec(
            23,
            "Feature adoption (uses per session)",
            "short",
            (
                Query(
                    f"sum by (feature) (rate({m.FEATURE_USAGE}[{window}])) "
                    f"/ scalar(sum({names.sessions}))",
                    "{{feature}}",
                ),
            ),
        ),
        PanelSpec(
            24, "Conversion rate", "percentunit", (Query(names.conversion_ratio, "conversion"),)
        ),
        PanelSpec(
            25,
            "User satisfaction (mean feedback score, 1-5)",
            "short",
            (
                Query(
                    f"sum(rate({m.FEEDBACK_SCORE}_sum[1d])) "
                    f"/ sum(rate({m.FEEDBACK_SCORE}_count[1d]))",
                    "score",
                ),
            ),
        ),
    ]


def panel_specs(config: MonitoringConfig, name: str) -> list[PanelSpec]:
    builders = {
        "application": _application,
        "infrastructure": _infrastructure,
        "business": _business,
    }
    return builders[name](config)


def _panel(spec: PanelSpec, position: int, datasource: DataSourceRef) -> Any:
    builder: Any = stat.Panel() if spec.kind == "stat" else timeseries.Panel()
    grid = GridPos(h=_HEIGHT, w=_WIDTH, x=(position % 2) * _WIDTH, y=(position // 2) * _HEIGHT)
    builder = builder.id(spec.id).title(spec.title).unit(spec.unit)
    builder = builder.datasource(datasource).grid_pos(grid)
    for ref, query in zip("ABCDEFGH", spec.queries, strict=False):
        target = prometheus.Dataquery().expr(query.expr).legend_format(query.legend)
        builder = builder.with_target(target.ref_id(ref).datasource(datasource))
    return builder


def dashboard_json(config: MonitoringConfig, target: Target, name: str) -> str:
    datasource = DataSourceRef(type_val="prometheus", uid=config.grafana.datasource_uid)
    board = (
        dashboard.Dashboard(f"Autonomica {name} ({target.environment})")
        .uid(f"autonomica-{name}-{target.environment}")
        .tags(["autonomica", target.environment, name])
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("utc")
        .readonly()
    )
    for position, spec in enumerate(panel_specs(config, name)):
        board = board.with_panel(_panel(spec, position, datasource))
    return json.dumps(board.build(), cls=JSONEncoder, sort_keys=True, indent=2) + "\n"


def datasource_provisioning(config: MonitoringConfig) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "uid": config.grafana.datasource_uid,
                "type": "prometheus",
                "access": "proxy",
                "url": config.addresses.prometheus_url,
                "isDefault": True,
                "editable": False,
                "jsonData": {"timeInterval": format_duration(config.scrape_interval)},
            }
        ],
    }


def dashboard_provisioning(config: MonitoringConfig) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "autonomica",
                "folder": config.grafana.folder,
                "folderUid": config.grafana.folder_uid,
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "options": {"path": config.grafana.dashboards_path},
            }
        ],
    }
