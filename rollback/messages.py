"""What people are told: pure functions from the ledger's states to the text of a message.
A message says what is done, what is not and why, naming the other alert where one is the
reason; it never claims a rollback that did not happen."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from rollback.ledger import Active, GroupState, Reason
from rollback.plan import Plan
from rollback.policy import ServiceName


def title(environment: str, plan: Plan, dry_run: bool) -> str:
    return ("[DRY RUN] " if dry_run else "") + f"[{environment}] {plan.describe()}"


def clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def why_not(service: ServiceName, reason: Reason) -> str:
    if reason.kind == "rolled_back":
        at = clock(reason.at) if reason.at is not None else "a short while ago"
        return (
            f"NOT rolling back {service} again: the {reason.by} rolled it back automatically "
            f"at {at}; a person must look"
        )
    doing = (
        "is rolling it back"
        if reason.kind == "rolling_back"
        else "is watching it and rolls it back unless resolved"
    )
    return (
        f"NOT rolling back {service} now: the {reason.by} {doing}; this alert is looked at "
        "again if that does not happen"
    )


def _doing(plan: Plan, active: Active) -> list[str]:
    lines = []
    services = ", ".join(active.services)
    if active.watch_until is not None and plan.watch is not None:
        seconds = plan.watch.total_seconds()
        lines.append(f"watching {seconds:g}s; then rolling back {services} unless resolved")
    elif active.services:
        lines.append(f"rolling back {services}")
    if active.freeze:
        lines.append("freezing deployments (a person lifts the freeze)")
    return lines


def announce(
    environment: str,
    state: GroupState,
    took_over: Iterable[tuple[GroupState, tuple[ServiceName, ...]]],
    dry_run: bool,
) -> str:
    assert state.active is not None
    lines = [title(environment, state.plan, dry_run), *_doing(state.plan, state.active)]
    for watch, services in took_over:
        called_off = " (its watch is called off)" if watch.active is None else ""
        lines.append(
            f"taking {', '.join(services)} over from the {watch.plan.describe()}{called_off}"
        )
    lines.extend(why_not(s, r) for s, r in state.waiting.items())
    lines.extend(state.plan.notes)
    return "\n".join(lines)


def waiting(
    environment: str, state: GroupState, services: Iterable[ServiceName], dry_run: bool
) -> str:
    head = f"{title(environment, state.plan, dry_run)}: not acting now"
    return "\n".join([head, *(why_not(s, state.waiting[s]) for s in services)])


def taken_over(
    environment: str, watch: GroupState, services: tuple[ServiceName, ...], by: Plan, dry_run: bool
) -> str:
    head = title(environment, watch.plan, dry_run)
    what = f"the watch of {', '.join(services)} is called off: the {by.describe()} takes it over"
    rest = (
        f"; still watching {', '.join(watch.active.services)}"
        if watch.active is not None and watch.active.services
        else "; this alert rolls nothing back"
    )
    return f"{head}: {what}{rest}"


def resolved_while_watched(environment: str, plan: Plan, dry_run: bool) -> str:
    return f"{title(environment, plan, dry_run)}: resolved while watched, no rollback"


def report(environment: str, plan: Plan, finished: Active, dry_run: bool) -> str:
    failed = [s for s in finished.steps.values() if s.outcome == "failed"]
    lines = [f"{title(environment, plan, dry_run)}: {'FAILED' if failed else 'done'}"]
    lines.extend(
        f"{'FAILED' if step.outcome == 'failed' else 'ok'} {name}: {step.detail}"
        for name, step in sorted(finished.steps.items())
    )
    if finished.resumes:
        lines.append(f"(carried on after {finished.resumes} restart(s) of the rollback service)")
    return "\n".join(lines)
