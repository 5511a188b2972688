"""What people are told: pure functions from the ledger's states to the text of a message.
A message says what is done, what is not and why, naming the other alert where one is the
reason; it never claims a rollback that did not happen. `title` is the message's first line,
"[staging] fast rollback for HighErrorRate/backend" (the ledger makes it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rollback.plan import Plan
from rollback.policy import ServiceName

if TYPE_CHECKING:
    from rollback.ledger import Active, FreezeRetry, GroupState, Reason, Step


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
    head: str, state: GroupState, took_over: Iterable[tuple[GroupState, list[ServiceName]]]
) -> str:
    assert state.active is not None
    lines = [head, *_doing(state.plan, state.active)]
    for watch, services in took_over:
        called_off = " (its watch is called off)" if watch.active is None else ""
        lines.append(
            f"taking {', '.join(services)} over from the {watch.plan.describe()}{called_off}"
        )
    lines.extend(why_not(s, r) for s, r in state.waiting.items())
    lines.extend(state.plan.notes)
    return "\n".join(lines)


def waiting(head: str, state: GroupState, services: Iterable[ServiceName]) -> str:
    return "\n".join([f"{head}: not acting now", *(why_not(s, state.waiting[s]) for s in services)])


def taken_over(head: str, watch: GroupState, services: list[ServiceName], by: Plan) -> str:
    what = f"the watch of {', '.join(services)} is called off: the {by.describe()} takes it over"
    rest = (
        f"; still watching {', '.join(watch.active.services)}"
        if watch.active is not None and watch.active.services
        else "; this alert rolls nothing back"
    )
    return f"{head}: {what}{rest}"


def _steps(steps: Mapping[str, Step]) -> list[str]:
    return [
        f"{'FAILED' if step.outcome == 'failed' else 'ok'} {name}: {step.detail}"
        for name, step in sorted(steps.items())
    ]


def report(head: str, finished: Active, freeze_retry: FreezeRetry | None) -> str:
    failed = any(s.outcome == "failed" for s in finished.steps.values())
    lines = [f"{head}: {'FAILED' if failed else 'done'}", *_steps(finished.steps)]
    if freeze_retry is not None:
        lines.append(
            f"the deploy freeze is NOT set: retrying from {clock(freeze_retry.next)}, waiting "
            "longer each time, until it is set or the alert resolves; set DEPLOY_FREEZE by "
            "hand meanwhile"
        )
    if finished.resumes:
        lines.append(f"(carried on after {finished.resumes} restart(s) of the rollback service)")
    return "\n".join(lines)


def still_failing(group: GroupState) -> str:
    """Why a group that acted is escalated when it fires on."""
    rolled = [n.split(" ", 1)[1] for n, s in group.outcomes.items()
              if n.startswith("rollback ") and s.outcome != "failed"]  # fmt: skip
    at = clock(group.finished) if group.finished is not None else "earlier"
    if rolled:
        services = ", ".join(sorted(rolled))
        return f"rolled back once ({services}, at {at}); still failing: act by hand"
    return f"acted once at {at} without rolling anything back; still failing: act by hand"


def locked(refused: Mapping[ServiceName, Reason]) -> str:
    return "; ".join(why_not(s, r) for s, r in refused.items())


def memory_gap(started: float) -> str:
    return (
        f"firing since before the rollback service started ({clock(started)}), and its audit log "
        "may lack records (the previous run did not stop cleanly, or the volume is full or "
        "failing): it may have acted on this alert already, so it does not act again: act by hand"
    )


def unrecorded(started: float) -> str:
    return (
        f"the rollback service could not write that it started ({clock(started)}) to its audit "
        "log (the volume is full or failing): after a restart it could not tell what it did, so "
        "it acts on no alert until it is restarted with room on the volume: act by hand"
    )


def escalation(head: str, state: GroupState, why: str) -> str:
    lines = [f"{head}: ESCALATED, people act now", why, *_steps(state.outcomes)]
    lines += [f"Runbook: {url}" for url in state.plan.runbooks]
    lines.append("The rollback service will not act on this alert again until it resolves.")
    return "\n".join(lines)
