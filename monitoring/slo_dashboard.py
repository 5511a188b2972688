"""The SLO dashboard of an environment (`grafana/dashboards/slo.json`): a row per objective with
its SLI over the window against the objective, the burn rate of each tier's long window against
the tier's factor, and the budget left. Every line comes from the config the rules come from.

An objective's panel ids derive from its service and name, never from its position, so adding an
objective renumbers no other panel (links and annotations keep pointing where they did).
"""

import zlib

from monitoring.config import MonitoringConfig, Target
from monitoring.durations import format_duration
from monitoring.grafana import PanelSpec, Query, board_json, limits_of
from monitoring.slo import BURN, EXHAUSTED, REMAINING, Slo, all_alerts, error_ratio, slos

NAME = "slo"
PATH = f"grafana/dashboards/{NAME}.json"
PANELS = 3  # per objective, in a row


def panel_ids(slo: Slo) -> range:
    """The objective's own block of ids, from a checksum of service/name (collisions refused)."""
    base = 1000 + (zlib.crc32(slo.key.encode()) % 1_000_000) * 10
    return range(base + 1, base + 1 + PANELS)


def _panels(config: MonitoringConfig, slo: Slo) -> tuple[PanelSpec, PanelSpec, PanelSpec]:
    sli, burn, left = panel_ids(slo)
    window = format_duration(slo.objective.window)
    selector = slo.selector
    tiers = config.slo_alerting.tiers
    return (
        PanelSpec(
            sli,
            f"{slo.key}: SLI over {window} (objective {slo.objective.objective:g}%)",
            "percentunit",
            (Query(f"1 - {error_ratio(slo.objective.window)}{selector}", "{{service}}"),),
            kind="stat",
            description=f"Objective: {slo.describe()}. Line: the objective.",
            good_above=True,
        ),
        PanelSpec(
            burn,
            f"{slo.key}: burn rate per tier",
            "none",
            tuple(
                Query(
                    f"{error_ratio(tier.long_window)}{selector} / {slo.budget}",
                    f"{format_duration(tier.long_window)} ({tier.action} above {tier.factor:g}x)",
                )
                for tier in tiers
            ),
            alerts=(BURN,),
            description="How many times faster than the window allows each tier's long window "
            "burns the error budget. Lines: the tiers' factors; a tier fires when its short "
            "window is above its factor too.",
        ),
        PanelSpec(
            left,
            f"{slo.key}: error budget left over {window}",
            "percentunit",
            (Query(f"{REMAINING}{selector}", "{{service}}"),),
            alerts=(EXHAUSTED,),
            description="1 - bad requests / the budget's share of all requests. At or below "
            "the line (0) the budget is spent.",
            good_above=True,
        ),
    )


def dashboard_json(config: MonitoringConfig, target: Target) -> str:
    rules = [alert.rule for alert in all_alerts(config, target)]
    panels: list[tuple[PanelSpec, list[float]]] = []
    for slo in slos(config):
        sli, burn, left = _panels(config, slo)
        objective = float(1 - slo.objective.budget)  # exact: 99.9 -> 0.999
        panels += [
            (sli, [objective]),
            (burn, limits_of(burn, rules)),
            (left, limits_of(left, rules)),
        ]
    ids = [spec.id for spec, _ in panels]
    if len(set(ids)) != len(ids):
        raise ValueError("two objectives' panel ids collide: rename one of them")
    return board_json(config, target, NAME, panels, columns=PANELS)
