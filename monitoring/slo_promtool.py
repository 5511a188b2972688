"""`promtool test rules` cases for the SLO rules (`monitoring.slo`), generated from the config
they are rendered from: nothing here restates an objective, a window or a factor.

For every burn-rate tier of every objective, each in a rule file of its own (the objective's
recording rules and that one alert, so the cases judge this tier alone):
- a sustained burn just above the tier's factor fires within its long window, and not after the
  short window alone; just below the factor it never fires;
- a spike that only the short window sees stays quiet;
- the burn that fires stays quiet under the traffic floor;
- after the burn stops, the alert resolves within the short window;
and a firing and a quiet case for the low-traffic, absent() and budget-exhausted alerts.

Series are fed as the services emit them: prometheus-fastapi-instrumentator's counters, whole
numbers, `http_requests_total{status="5xx"}` only from the first server error on (before it the
series does not exist), the high-resolution latency histogram with every bucket from the start.
`le` is written as Python's client writes it ("2.0"), and for a latency objective's fastest tier
also as Go's and Node's do ("2"): the rules must match both.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from monitoring import metrics as m
from monitoring.config import MonitoringConfig, Target
from monitoring.durations import format_duration
from monitoring.slo import (
    ABSENT,
    BURN,
    EXHAUSTED,
    LOW_TRAFFIC,
    Slo,
    SloAlert,
    alert_rules,
    le_values,
    recording_rules,
    slos,
)
from monitoring.slo_config import BurnRateTier
from monitoring.yamlfile import dump

LeStyle = Literal["python", "go"]
MINUTE = timedelta(minutes=1)
SAMPLES_PER_SHORT_WINDOW = 5
MIN_BAD_PER_STEP = 10  # bad requests a step holds at the lowest share tried: counts stay whole
JUST = 0.1  # "just above/below" a factor: 10% off it


@dataclass(frozen=True)
class Check:
    at: timedelta
    fires: bool


@dataclass(frozen=True)
class Case:
    alert: SloAlert
    name: str
    series: dict[str, str]  # series -> promtool's values notation
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class PromtoolFile:
    """One rule file (a group: the objective's recording rules and one alert) and its cases."""

    name: str
    interval: timedelta
    group: dict[str, Any]
    cases: tuple[Case, ...]

    def tests(self, config: MonitoringConfig, target: Target) -> list[dict[str, Any]]:
        """Every case at every step of its series. (Evaluating an alert without `for:` only at
        0 and at each check should give the same states with a sixtieth of the evaluations,
        but one such case, a burn tier resolving within its short window, fired once in a
        clean-clone CI run and never alone: docs/monitoring.md, "Tests and benchmark".)"""
        return [_test(case, self.interval, config, target) for case in self.cases]

    def write(self, config: MonitoringConfig, target: Target, folder: Path) -> Path:
        rules = folder / f"{self.name}.rules.yml"
        rules.write_text(dump({"groups": [self.group]}))
        test = folder / f"{self.name}.test.yml"
        document = {
            "rule_files": [rules.name],
            "evaluation_interval": format_duration(self.interval),
            "tests": self.tests(config, target),
        }
        test.write_text(dump(document))
        return test


# --- series as the services emit them -----------------------------------------------------------


PerStep = Callable[[int], tuple[float, float]]  # step i -> (requests, bad requests) it adds


def _labels(slo: Slo, **more: str) -> str:
    labels = {"job": m.job_of(slo.service), "service": slo.service,
              "instance": f"{slo.service}:8000", **more}  # fmt: skip
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _values(values: Sequence[float | None]) -> str:
    return " ".join("_" if v is None else repr(float(v)) for v in values)


def _cumulative(steps: int, per_step: PerStep) -> tuple[list[float], list[float]]:
    """Whole cumulative (requests, bad) counts at each of `steps` + 1 scrapes."""
    total = bad = 0.0
    totals, bads = [0.0], [0.0]
    for i in range(steps):
        requests, failed = per_step(i)
        total, bad = total + requests, bad + failed
        totals.append(float(math.floor(total)))
        bads.append(float(math.floor(bad)))
    return totals, bads


def series(
    config: MonitoringConfig, slo: Slo, steps: int, per_step: PerStep, le: LeStyle
) -> dict[str, str]:
    totals, bads = _cumulative(steps, per_step)
    goods = [t - b for t, b in zip(totals, bads, strict=True)]
    if slo.latency is None:
        # The 5xx series exists from the first server error on.
        first = next((i for i, b in enumerate(bads) if b > 0), len(bads))
        return {
            m.REQUESTS + _labels(slo, status="2xx"): _values(goods),
            m.REQUESTS + _labels(slo, status=m.SERVER_ERROR_STATUS): _values(
                [None if i < first else b for i, b in enumerate(bads)]
            ),
        }
    return _histogram(config, slo, goods, bads, le)


def _histogram(
    config: MonitoringConfig, slo: Slo, goods: list[float], bads: list[float], le: LeStyle
) -> dict[str, str]:
    """Good requests in the lowest bucket, bad ones in the bucket above the threshold."""
    assert slo.latency is not None
    buckets = (*config.triggers.performance.latency_buckets, math.inf)
    threshold = slo.latency.threshold.total_seconds()
    fast, slow = buckets[0], next(b for b in buckets if b > threshold)
    found: dict[str, str] = {}
    for bound in buckets:
        text = "+Inf" if bound == math.inf else le_values(bound)[0 if le == "go" else -1]
        counts = [
            g * (bound >= fast) + b * (bound >= slow) for g, b in zip(goods, bads, strict=True)
        ]
        found[f"{m.LATENCY}_bucket" + _labels(slo, le=text)] = _values(counts)
    totals = [g + b for g, b in zip(goods, bads, strict=True)]
    seconds = [g * fast + b * min(slow, 2 * threshold) for g, b in zip(goods, bads, strict=True)]
    found[f"{m.LATENCY}_count" + _labels(slo)] = _values(totals)
    found[f"{m.LATENCY}_sum" + _labels(slo)] = _values(seconds)
    return found


# --- cases --------------------------------------------------------------------------------------


def _steps(until: timedelta, step: timedelta) -> int:
    return math.ceil(until / step) + 1


def _busy(config: MonitoringConfig, share: float, step: timedelta) -> float:
    """Requests per second: over the floor, and enough that a step holds whole bad counts."""
    floor = config.triggers.performance.min_request_rate
    return max(10 * floor, MIN_BAD_PER_STEP / (share * step.total_seconds()))


def _tier_cases(
    config: MonitoringConfig, target: Target, slo: Slo, tier: BurnRateTier, le: LeStyle
) -> PromtoolFile:
    alert = _burn_alert(config, target, slo, tier)
    long, short = tier.long_window, tier.short_window
    step = short / SAMPLES_PER_SHORT_WINDOW
    burn = float(tier.factor) * float(slo.objective.budget)  # the error share at the factor
    above, below = min(burn * (1 + JUST), (burn + 1) / 2), burn * (1 - JUST)
    # A spike the length of the short window: over the factor there, under it in the long one.
    spike = min(1.0, burn * math.sqrt(long / short))
    busy = _busy(config, below, step)
    calm = config.triggers.performance.min_request_rate / 2
    history = long  # good traffic a whole long window before anything goes wrong
    start = _steps(history, step) - 1
    until = history + 2 * long
    stops = history + long + 2 * step  # where the burn that fires stops

    def case(
        name: str, rate: float, share: Callable[[int], float], checks: tuple[Check, ...]
    ) -> Case:
        per_step = rate * step.total_seconds()

        def at(i: int) -> tuple[float, float]:
            return per_step, per_step * share(i)

        return Case(alert, name, series(config, slo, _steps(until, step), at, le), checks)

    def from_start(value: float, end: int | None = None) -> Callable[[int], float]:
        return lambda i: value if i >= start and (end is None or i < end) else 0.0

    stop = _steps(stops, step) - 1
    return PromtoolFile(
        f"{slo.service}-{slo.name}-{tier.name}-{le}",
        step,
        _group(config, target, slo, alert),
        (
            case(
                "a sustained burn just above the factor fires within the long window",
                busy,
                from_start(above),
                (Check(history + short + step, False), Check(history + long + step, True)),
            ),
            case(
                "a sustained burn just below the factor never fires",
                busy,
                from_start(below),
                (Check(history + long + step, False), Check(until, False)),
            ),
            case(
                "a spike only the short window sees is quiet",
                busy,
                from_start(spike, start + SAMPLES_PER_SHORT_WINDOW),
                (Check(history + short, False), Check(history + short + step, False)),
            ),
            case(
                "the burn that fires is quiet under the traffic floor",
                calm,
                from_start(above),
                (Check(history + long + step, False),),
            ),
            case(
                "it resolves within the short window once the burn stops",
                busy,
                from_start(min(1.0, 2 * burn), stop),
                (Check(stops, True), Check(stops + short + 2 * step, False)),
            ),
        ),
    )


def _burn_alert(config: MonitoringConfig, target: Target, slo: Slo, tier: BurnRateTier) -> SloAlert:
    burns = [a for a in alert_rules(config, target, slo) if a.rule.name == BURN]
    return burns[config.slo_alerting.tiers.index(tier)]


def _alert(config: MonitoringConfig, target: Target, slo: Slo, name: str) -> SloAlert:
    return next(a for a in alert_rules(config, target, slo) if a.rule.name == name)


def _group(config: MonitoringConfig, target: Target, slo: Slo, alert: SloAlert) -> dict[str, Any]:
    """The alert and the recording rules it reads, in the rendered group's order: the others
    change nothing about it and would only cost promtool time."""
    return {
        "name": f"slo-{slo.service}-{slo.name}",
        "rules": [
            *rules_read_by([alert.rule.expr], recording_rules(config, slo)),
            alert.rendered(config, target),
        ],
    }


def rules_read_by(exprs: Sequence[str], rules: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The recording rules the expressions read, directly or through one another, in order."""
    needed, unread = set(), list(exprs)
    while unread:
        expr = unread.pop()
        for rule in rules:
            if rule["record"] in expr and rule["record"] not in needed:
                needed.add(rule["record"])
                unread.append(rule["expr"])
    return [rule for rule in rules if rule["record"] in needed]


def _low_traffic(config: MonitoringConfig, target: Target, slo: Slo, le: LeStyle) -> PromtoolFile:
    alert = _alert(config, target, slo, LOW_TRAFFIC)
    fastest = config.slo_alerting.tiers[0]
    step = fastest.short_window / SAMPLES_PER_SHORT_WINDOW
    floor = config.triggers.performance.min_request_rate
    enough = config.slo_alerting.low_traffic_bad_events
    at = fastest.long_window + step
    steps = _steps(at, step)
    seconds = step.total_seconds()
    few = (enough / 2) / fastest.long_window.total_seconds()  # requests/s: half of `enough`

    def case(name: str, rate: float, share: float, fires: bool) -> Case:
        def per(i: int) -> tuple[float, float]:
            return rate * seconds, rate * seconds * share

        return Case(alert, name, series(config, slo, steps, per, le), (Check(at, fires),))

    return PromtoolFile(
        f"{slo.service}-{slo.name}-low-traffic-{le}",
        step,
        _group(config, target, slo, alert),
        (
            case("every request failing under the traffic floor fires", floor / 2, 1.0, True),
            case("fewer bad requests than it needs is quiet", min(few, floor / 2), 1.0, False),
            case("over the floor the burn-rate tiers judge, not it", 10 * floor, 1.0, False),
        ),
    )


def _absent(config: MonitoringConfig, target: Target, slo: Slo, le: LeStyle) -> PromtoolFile:
    alert = _alert(config, target, slo, ABSENT)
    step = MINUTE
    at = config.absent_for + 2 * step
    steps = _steps(at, step)
    present = series(config, slo, steps, lambda _i: (60.0, 0.0), le)
    # Another service's series: the scrape works, only this SLI's series is missing.
    other = {'up{job="prometheus", service="prometheus"}': _values([1.0] * (steps + 1))}
    return PromtoolFile(
        f"{slo.service}-{slo.name}-absent-{le}",
        step,
        _group(config, target, slo, alert),
        (
            Case(alert, "no SLI series fires", other, (Check(at, True),)),
            Case(
                alert, "the SLI series present is quiet", {**other, **present}, (Check(at, False),)
            ),
        ),
    )


def _exhausted(config: MonitoringConfig, target: Target, slo: Slo, le: LeStyle) -> PromtoolFile:
    alert = _alert(config, target, slo, EXHAUSTED)
    window = slo.objective.window
    step = window / 60
    budget = float(slo.objective.budget)
    at = window + config.slo_alerting.exhausted_for + 2 * step
    steps = _steps(at, step)
    busy = _busy(config, budget / 2, step)

    def case(name: str, share: float, fires: bool) -> Case:
        per = busy * step.total_seconds()
        return Case(alert, name, series(config, slo, steps, lambda _i: (per, per * share), le),
                    (Check(at, fires),))  # fmt: skip

    return PromtoolFile(
        f"{slo.service}-{slo.name}-exhausted-{le}",
        step,
        _group(config, target, slo, alert),
        (
            case(
                "twice the budget's share of bad requests over the window fires", 2 * budget, True
            ),
            case("half the budget's share is quiet", budget / 2, False),
        ),
    )


def promtool_files(config: MonitoringConfig, target: Target) -> list[PromtoolFile]:
    """Every case of every alert of every objective, one rule file per alert and tier, with
    `le` as Python writes it; a latency objective's fastest tier also with `le` as Go and Node
    write it (the same matcher serves every rule of the objective)."""
    found = []
    tiers = config.slo_alerting.tiers
    for slo in slos(config):
        found += [_tier_cases(config, target, slo, tier, "python") for tier in tiers]
        if slo.latency:
            found.append(_tier_cases(config, target, slo, tiers[0], "go"))
        found += [
            make(config, target, slo, "python") for make in (_low_traffic, _absent, _exhausted)
        ]
    return found


def _test(
    case: Case, interval: timedelta, config: MonitoringConfig, target: Target
) -> dict[str, Any]:
    rendered = case.alert.rendered(config, target)
    expected = {**rendered["labels"]}
    return {
        "name": f"{rendered['alert']} {dict(case.alert.labels)}: {case.name}",
        "interval": format_duration(interval),
        "input_series": [{"series": s, "values": v} for s, v in case.series.items()],
        "alert_rule_test": [
            {
                "eval_time": format_duration(check.at),
                "alertname": rendered["alert"],
                "exp_alerts": [{"exp_labels": expected, "exp_annotations": rendered["annotations"]}]
                if check.fires
                else [],
            }
            for check in case.checks
        ],
    }
