"""Service level objectives as the stack file declares them (`monitoring.slos`), and the
burn-rate tiers that alert on them (`monitoring.sloAlerting`).

An objective says which share of a service's requests must be good over a rolling window:
availability (every answer but a 5xx) or latency (answered within a bound of the latency
histogram). The tiers are the multiwindow, multi-burn-rate alerts of Google's SRE workbook
(chapter 5, "Alerting on SLOs", https://sre.google/workbook/alerting-on-slos/): a tier fires
while both its long and its short window burn the error budget `factor` times faster than the
window allows. A leaf module: `monitoring.config` builds on it, `monitoring.slo` renders it.
"""

from collections.abc import Collection
from datetime import timedelta
from decimal import Decimal as Exact
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from monitoring.durations import Duration, format_duration
from monitoring.model import ConfigModel, Decimal

PositiveDuration = Annotated[Duration, Field(gt=timedelta(0))]
# Names go into label values, rule group names and GitHub issue titles: kept to a slug.
Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")]


class AvailabilitySli(ConfigModel):
    """Good: every answer but a server error (the instrumentator's `status="5xx"`)."""

    kind: Literal["availability"]


class LatencySli(ConfigModel):
    """Good: an answer within `threshold`, a bound of the latency histogram."""

    kind: Literal["latency"]
    threshold: PositiveDuration


class Objective(ConfigModel):
    """One service level objective of a service."""

    name: Slug = Field(description="unique per service: the `slo` label, e.g. availability")
    objective: Annotated[Decimal, Field(gt=0, lt=100)] = Field(
        description="percent of the window's requests that must be good, e.g. 99.9"
    )
    window: PositiveDuration = Field(description="the rolling window, e.g. 30d or 28d")
    sli: AvailabilitySli | LatencySli = Field(discriminator="kind")

    @property
    def budget(self) -> Exact:
        """The error budget: the share of requests that may be bad (99.9 -> 0.001), exact."""
        return ((Exact(100) - Exact(repr(self.objective))) / 100).normalize()


class BurnRateTier(ConfigModel):
    factor: Annotated[Decimal, Field(gt=0)] = Field(
        description="how many times faster than the window allows the budget burns"
    )
    long_window: PositiveDuration
    short_window: PositiveDuration = Field(
        description="also over this window: the alert resolves soon after the burn stops"
    )
    action: Literal["page", "ticket"]

    @model_validator(mode="after")
    def _short_within_long(self) -> Self:
        if self.short_window >= self.long_window:
            raise ValueError("shortWindow must be shorter than longWindow")
        return self

    @property
    def name(self) -> str:
        """The `burnrate_tier` label: the long window, which tells the tiers apart."""
        return format_duration(self.long_window)


def _tier(factor: float, long: timedelta, short: timedelta, action: str) -> BurnRateTier:
    return BurnRateTier.model_validate(
        {"factor": factor, "longWindow": long, "shortWindow": short, "action": action}
    )


HOUR = timedelta(hours=1)
# The workbook's table for a 30-day window: 2% of the budget in an hour, 5% in six hours page;
# 10% in a day or in three days open a ticket.
WORKBOOK_TIERS = (
    _tier(14.4, HOUR, timedelta(minutes=5), "page"),
    _tier(6, 6 * HOUR, timedelta(minutes=30), "page"),
    _tier(3, 24 * HOUR, 2 * HOUR, "ticket"),
    _tier(1, 72 * HOUR, 6 * HOUR, "ticket"),
)


class SloAlerting(ConfigModel):
    tiers: tuple[BurnRateTier, ...] = Field(
        WORKBOOK_TIERS,
        min_length=1,
        max_length=8,
        description="fastest first: a faster tier mutes the slower ones while it fires",
    )
    low_traffic_bad_events: int = Field(
        10,
        ge=1,
        description="below the traffic floor the fastest tier judges its long window alone, "
        "once it holds at least this many bad requests",
    )
    exhausted_for: PositiveDuration = Field(
        timedelta(hours=1), description="how long a budget stays spent before deploys freeze"
    )
    freeze: bool | None = Field(
        None,
        description="freeze deploys when a budget is spent; default: where environment.kind is "
        "production",
    )

    @model_validator(mode="after")
    def _fastest_first(self) -> Self:
        for faster, slower in zip(self.tiers, self.tiers[1:], strict=False):
            if not (faster.factor > slower.factor and faster.long_window < slower.long_window):
                raise ValueError(
                    "tiers must go from the fastest (highest factor, shortest longWindow) to the "
                    "slowest, each with a lower factor and a longer longWindow than the one "
                    "before: a faster tier mutes the slower ones"
                )
        return self


Slos = dict[Slug, tuple[Objective, ...]]


Problem = tuple[str, str]  # (key path under `monitoring`, what is wrong)


def slo_problems(
    slos: Slos,
    alerting: SloAlerting,
    *,
    buckets: Collection[float],
    retention: timedelta,
    scrape_interval: timedelta,
    services: Collection[str],
    scraped: Collection[str],
) -> list[Problem]:
    """Every way the objectives cannot be measured as written, by key path (under
    `monitoring`). `services`: the stack's; `scraped`: those whose metrics Prometheus scrapes,
    the only ones an SLO can judge."""
    problems = [
        (
            f"sloAlerting.tiers[{n}].shortWindow",
            f"{format_duration(tier.short_window)} covers fewer than two scrapes (scrapeInterval "
            f"{format_duration(scrape_interval)}): its rate is empty",
        )
        for n, tier in enumerate(alerting.tiers)
        if tier.short_window < 2 * scrape_interval
    ]
    longest = max(tier.long_window for tier in alerting.tiers)
    # One problem, at the retention, for every window it does not keep: one fix raises it.
    kept = [
        f"slos.{service}[{n}] ({format_duration(o.window)})"
        for service, objectives in slos.items()
        for n, o in enumerate(objectives)
        if o.window > retention
    ]
    if kept:
        widest = max(o.window for objectives in slos.values() for o in objectives)
        problems.append(
            (
                "servers.retention",
                f"{format_duration(retention)} is shorter than the window of "
                f"{', '.join(kept)}: Prometheus would drop the data an objective is judged on; "
                f"raise the retention to at least {format_duration(widest)} or shorten the window",
            )
        )
    for service, objectives in slos.items():
        if service not in scraped:
            what = "has no metricsPath to scrape" if service in services else "is not a service"
            known = ", ".join(scraped) or "none"
            problems.append(
                (f"slos.{service}", f"names {service!r}, which {what} (scraped: {known})")
            )
        names = [o.name for o in objectives]
        for n, objective in enumerate(objectives):
            at = f"slos.{service}[{n}]"
            if objective.name in names[:n]:
                problems.append((f"{at}.name", f"{objective.name} is used twice for {service}"))
            problems += _objective_problems(
                at, objective, alerting, buckets=buckets, longest=longest
            )
    return problems


def _objective_problems(
    at: str,
    objective: Objective,
    alerting: SloAlerting,
    *,
    buckets: Collection[float],
    longest: timedelta,
) -> list[Problem]:
    problems = []
    window = format_duration(objective.window)
    if objective.window < longest:
        problems.append(
            (
                f"{at}.window",
                f"{window} is shorter than the longest burn-rate window "
                f"({format_duration(longest)})",
            )
        )
    if isinstance(objective.sli, LatencySli):
        threshold = objective.sli.threshold.total_seconds()
        if threshold not in buckets:
            problems.append(
                (
                    f"{at}.sli.threshold",
                    f"{threshold:g}s is not a bucket bound of the latency histogram "
                    f"({', '.join(f'{b:g}' for b in buckets)}): the share of requests under it "
                    "cannot be counted",
                )
            )
    for n, tier in enumerate(alerting.tiers):
        if Exact(repr(tier.factor)) * objective.budget >= 1:
            problems.append(
                (
                    f"{at}.objective",
                    f"{objective.objective:g}% leaves a budget that sloAlerting.tiers[{n}] "
                    f"(x{tier.factor:g}) could only exceed with more than every request "
                    "failing: it would never fire; raise the objective",
                )
            )
    return problems
