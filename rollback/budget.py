"""The error-budget policy: what the service does with the alerts of the service level objectives
(`monitoring.slo`) that Alertmanager sends it, those labelled `slo_action` ticket or freeze.

- `ErrorBudgetExhausted` firing (rendered with `slo_action="freeze"` where the stack freezes on
  a spent budget: production by default): set the deploy freeze and, in a second variable, its
  reason, once per incident; tell people. It lifts nothing, ever: its resolve only says the budget
  is back, and a person lifts the freeze. A freeze already on for another reason (an immediate
  rollback's, a person's) is left alone: a budget freeze lets a reliability fix through the deploy
  gate, those must not.
- `ErrorBudgetBurn` of a ticket tier: open, or update, the objective's one GitHub issue while it
  fires; close it when its group resolves.

`decide` is pure. The actions run in one background thread, in the order they came, each retried
like a fast rollback's steps within its timeout; every decision and outcome is an audit record
(`budget`), so a restart knows which incidents it froze for already.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from monitoring.slo import ACTION_LABEL, SLO_LABEL, TIER_LABEL
from rollback.alerts import Alert, Webhook
from rollback.audit import AuditLog
from rollback.executor import Executor
from rollback.github import Variable
from rollback.messages import clock
from rollback.metrics import Metrics
from rollback.notify import Message
from rollback.policy import Policy, SloPolicy

# The freeze gate (workflows/scripts/freeze-gate.sh) lets a change marked as a reliability fix
# through a freeze whose reason starts so, and through no other.
BUDGET_PREFIX = "error-budget: "
ROLLBACK_PREFIX = "rollback: "
TRAILER = "Reliability-Fix"  # the commit trailer of a reliability fix (docs/app-workflows.md)
STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
Kind = Literal["freeze", "recovered", "ticket", "close"]


@runtime_checkable
class BudgetActions(Protocol):
    """What the policy does on the platforms (rollback.platforms.LiveActions)."""

    def budget_freeze(self, reason: str, timeout: float) -> str: ...
    def open_ticket(self, marker: str, title: str, body: str, timeout: float) -> str: ...
    def close_ticket(self, marker: str, body: str, timeout: float) -> str: ...


def budget_freeze_holds(freeze: Variable | None, reason: Variable | None) -> bool:
    """Whether the freeze on is a budget freeze: its reason says so and was written with it or
    after (a reason older than the freeze is an earlier freeze's). Timestamps of another shape
    than GitHub's are not trusted. The freeze gate judges the same way."""
    return (
        freeze is not None
        and reason is not None
        and reason.value.startswith(BUDGET_PREFIX)
        and STAMP.fullmatch(freeze.updated_at) is not None
        and STAMP.fullmatch(reason.updated_at) is not None
        and reason.updated_at >= freeze.updated_at
    )


def rollback_reason(now: float) -> str:
    return (
        f"{ROLLBACK_PREFIX}an automated rollback froze deploys at {clock(now)}; a person lifts "
        "the freeze once the cause is understood (python -m rollback unfreeze)"
    )


@dataclass(frozen=True)
class Decision:
    kind: Kind
    slo: SloPolicy
    group_key: str
    started: str  # the earliest startsAt of its alerts: the incident
    alerts: tuple[Alert, ...]

    @property
    def key(self) -> str:
        return f"{self.slo.service}/{self.slo.slo}"


def decide(webhook: Webhook, policy: Policy) -> list[Decision] | None:
    """None: not the policy's webhook (no `slo_action` it acts on), the rollbacks' then."""
    ours = [a for a in webhook.alerts if a.labels.get(ACTION_LABEL) in ("ticket", "freeze")]
    if not ours:
        return None
    decisions = []
    for (service, name, action), alerts in _by_objective(ours).items():
        slo = policy.slo(service, name)
        if slo is None or any(
            a.labels.get("environment", policy.environment) != policy.environment for a in alerts
        ):
            continue
        firing = tuple(a for a in alerts if a.status == "firing")
        kind: Kind | None
        if action == "freeze":
            kind = ("freeze" if slo.freeze else None) if firing else "recovered"
        else:
            kind = ("ticket" if firing else "close") if slo.tickets else None
        if kind is not None:
            started = min((a.starts_at.isoformat() for a in alerts if a.starts_at), default="")
            acted_on = firing or tuple(alerts)
            decisions.append(Decision(kind, slo, webhook.group_key, started, acted_on))
    return decisions


def _by_objective(alerts: Iterable[Alert]) -> dict[tuple[str, str, str], list[Alert]]:
    found: dict[tuple[str, str, str], list[Alert]] = {}
    for alert in alerts:
        labels = alert.labels
        key = (labels.get("service", ""), labels.get(SLO_LABEL, ""), labels[ACTION_LABEL])
        found.setdefault(key, []).append(alert)
    return found


class Budget:
    def __init__(
        self,
        policy: Policy,
        actions: BudgetActions | None,
        executor: Executor,
        audit: AuditLog,
        metrics: Metrics,
        *,
        records: Iterable[Mapping[str, Any]],
        now: Callable[[], float] = time.time,
        dry_run: bool,
    ) -> None:
        """`records`: the audit log as the service found it at start."""
        self.policy = policy
        self._actions = actions
        self._executor = executor
        self._audit = audit
        self._metrics = metrics
        self._now = now
        self._dry_run = dry_run
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="budget")
        # Incidents frozen for already (group, startsAt), also by the runs before this one.
        self._frozen = {
            f"{r.get('groupKey')}|{r.get('startsAt')}"
            for r in records
            if r.get("event") == "budget"
            and r.get("action") == "freeze"
            and r.get("outcome") in ("succeeded", "dry_run")
        }

    def handle(self, webhook: Webhook) -> str | None:
        """The answer to the webhook, or None when it is not the policy's."""
        decisions = decide(webhook, self.policy)
        if decisions is None:
            return None
        if not decisions:
            self._audit.write(
                "budget", groupKey=webhook.group_key, action="ignored",
                detail="no objective of this environment's policy acts on these alerts",
            )  # fmt: skip
            return "ignored"
        for decision in decisions:
            if decision.kind == "freeze" and self._incident(decision) in self._frozen:
                continue  # a re-send of an incident it froze for: once is the policy
            self._pool.submit(self._run, decision)
        return "budget"

    def _incident(self, decision: Decision) -> str:
        return f"{decision.group_key}|{decision.started}"

    def _run(self, decision: Decision) -> None:
        if decision.kind == "freeze" and self._incident(decision) in self._frozen:
            return  # a re-send that came while the first one was acted on
        try:
            if decision.kind == "recovered":
                self._record(decision, "told", "the budget is back; the freeze stays on")
                self._tell(decision, messages_recovered(decision))
                return
            action = "freeze" if decision.kind == "freeze" else "ticket"
            # Retried like a fast rollback's steps, within its timeout (2m by default).
            budget = self.policy.strategies.fast.timeout.total_seconds()
            start = self._executor.options.clock()
            step = self._executor.attempts(
                action, decision.slo.service, self._attempt(decision), start + budget, budget
            )
            self._record(decision, step.outcome, step.detail, attempts=step.attempts)
            if action == "freeze":
                self._metrics.actions.labels("freeze", decision.slo.service, step.outcome).inc()
                if step.outcome != "failed":
                    self._frozen.add(self._incident(decision))
                self._tell(decision, message_freeze(decision, step.outcome, step.detail))
            else:
                self._metrics.tickets.labels(decision.slo.service, step.outcome).inc()
                if step.outcome == "failed":
                    self._tell(decision, f"{self._title(decision)}: {step.detail}")
        except Exception as error:  # a bug must not stop the thread that serves the others
            self._audit.write(
                "budget", groupKey=decision.group_key, action=decision.kind,
                outcome="interrupted", detail=f"unexpected {type(error).__name__}",
            )  # fmt: skip

    def _attempt(self, decision: Decision) -> Callable[[float], str]:
        actions = self._actions
        environment = self.policy.environment
        marker = f"[slo:{environment}/{decision.key}]"

        def attempt(timeout: float) -> str:
            assert actions is not None
            if decision.kind == "freeze":
                return actions.budget_freeze(freeze_reason(decision, environment), timeout)
            body = issue_body(decision, environment, self._now())
            if decision.kind == "close":
                return actions.close_ticket(marker, body, timeout)
            title = f"SLO {decision.key} ({environment}): error budget burning {marker}"
            return actions.open_ticket(marker, title, body, timeout)

        return attempt

    def _record(self, decision: Decision, outcome: str, detail: str, **more: Any) -> None:
        self._audit.write(
            "budget",
            groupKey=decision.group_key,
            action=decision.kind,
            service=decision.slo.service,
            slo=decision.slo.slo,
            startsAt=decision.started,
            outcome=outcome,
            detail=detail,
            **more,
        )

    def _title(self, decision: Decision) -> str:
        dry = "[DRY RUN] " if self._dry_run else ""
        return f"{dry}[{self.policy.environment}] error budget of {decision.key}"

    def _tell(self, decision: Decision, text: str) -> None:
        """Where a fast rollback is told (Slack and email by default): a budget is no page."""
        channels = self.policy.strategies.fast.notifications
        head = self._title(decision)
        message = Message(decision.group_key, "fast", f"{head}: {text}")
        self._executor.tell([c for c in channels if c != "pagerduty"], message)

    def idle(self, timeout: float) -> bool:
        """Whether every action submitted so far is done (tests)."""
        self._pool.submit(lambda: None).result(timeout)
        return True

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def freeze_reason(decision: Decision, environment: str) -> str:
    since = f" since {decision.started}" if decision.started else ""
    return (
        f"{BUDGET_PREFIX}{decision.key} in {environment} spent its error budget "
        f"({decision.slo.objective}){since}. Reliability fixes still deploy (commit trailer "
        f"{TRAILER}: <why>); a person lifts the freeze (python -m rollback unfreeze)"
    )


def message_freeze(decision: Decision, outcome: str, detail: str) -> str:
    if outcome == "failed":
        return f"spent, and the deploy freeze is NOT set: {detail}. Set it by hand."
    return (
        f"spent ({decision.slo.objective}): {detail}. Only reliability fixes deploy (commit "
        f"trailer {TRAILER}: <why>) until a person lifts the freeze (python -m rollback "
        "unfreeze)."
    )


def messages_recovered(decision: Decision) -> str:
    return (
        f"back above zero ({decision.slo.objective}). The deploy freeze stays on until a person "
        "lifts it (python -m rollback unfreeze)."
    )


def issue_body(decision: Decision, environment: str, now: float) -> str:
    lines = [
        f"Objective: {decision.slo.objective} ({environment}).",
        "",
        "Burn-rate tiers firing:" if decision.kind == "ticket" else "Recovered: no tier fires.",
    ]
    if decision.kind == "ticket":
        for alert in decision.alerts:
            tier = alert.labels.get(TIER_LABEL, "?")
            lines.append(f"- {tier}: {alert.annotations.get('summary', '')}")
        runbooks = sorted({u for a in decision.alerts if (u := a.annotations.get("runbook_url"))})
        lines += ["", *(f"Runbook: {u}" for u in runbooks)]
    verb = "Updated" if decision.kind == "ticket" else "Closed"
    lines += [
        "",
        f"{verb} by the rollback service at {clock(now)}; burning since {decision.started}. It "
        "updates this issue while the burn lasts and closes it when the burn stops.",
    ]
    return "\n".join(lines)
