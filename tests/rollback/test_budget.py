"""The error-budget policy (rollback.budget) against the GitHub stand-in: a spent production budget
freezes deploys with its reason, once per incident, never over an incident's freeze, and lifts
nothing; a ticket tier keeps one GitHub issue per objective, closed when it recovers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from monitoring import render
from monitoring.slo import ACTION_LABEL, BURN, EXHAUSTED, SLO_LABEL, TIER_LABEL
from rollback.alerts import Webhook
from rollback.budget import BUDGET_PREFIX, ROLLBACK_PREFIX, TRAILER, decide
from rollback.policy import load_policy
from rollback.service import Service
from tests.conftest import monitoring_config
from tests.monitoring.conftest import STACK_TARGETS
from tests.monitoring.loopback import Receiver
from tests.rollback.conftest import TOKEN, WAIT, ServiceFactory, audit_events, services_yaml
from tests.rollback.standins import Client, GitHubStandIn

TARGET = STACK_TARGETS["production"]
ENVIRONMENT = TARGET.environment
SERVICE = sorted(TARGET.scraped())[0]  # a service whose requests an objective can judge
SLOS = {
    SERVICE: [
        {"name": "availability", "objective": 95, "window": "30d",
         "sli": {"kind": "availability"}},
    ]
}  # fmt: skip
MARKER = f"[slo:{ENVIRONMENT}/{SERVICE}/availability]"  # how the service finds its issue
FREEZE, REASON = "DEPLOY_FREEZE", "DEPLOY_FREEZE_REASON"
EARLIER = "2026-01-01T00:00:00Z"  # before anything the service writes now


def policy_yaml(**alerting: Any) -> str:
    # A fast strategy of 2s: a failing GitHub is given up on within the test's patience.
    fast = {"timeout": "2s", "actions": ["rollback_affected_service"],
            "notifications": ["slack", "email"]}  # fmt: skip
    config = monitoring_config(
        {"slos": SLOS, "sloAlerting": alerting, "strategies": {"fast": fast}}, stack="production"
    )
    return render(config, TARGET)["rollback-config.yml"]


def slo_webhook(
    group: str,
    alertname: str = EXHAUSTED,
    status: str = "firing",
    *,
    action: str = "freeze",
    tiers: tuple[str, ...] = ("",),
    slo: str = "availability",
    environment: str = ENVIRONMENT,
    starts_at: str = "2026-04-01T00:00:00Z",
) -> dict[str, Any]:
    """An Alertmanager v4 payload of one objective's group, as the SLO route groups it."""
    alerts = []
    for tier in tiers:
        labels = {"alertname": alertname, "service": SERVICE, "environment": environment,
                  "severity": "warning", SLO_LABEL: slo, ACTION_LABEL: action}  # fmt: skip
        if tier:
            labels[TIER_LABEL] = tier
        alerts.append(
            {
                "status": status,
                "labels": labels,
                "annotations": {
                    "summary": f"{SERVICE}/{slo}: {alertname} {tier}",
                    "runbook_url": f"https://runbooks.example.test/#runbook-{alertname.lower()}",
                },
                "startsAt": starts_at,
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": f"fp-{group}-{tier}",
            }
        )
    return {
        "version": "4",
        "groupKey": group,
        "status": status,
        "receiver": "rollback-webhook",
        "groupLabels": {"alertname": alertname, "service": SERVICE, SLO_LABEL: slo},
        "alerts": alerts,
    }


@pytest.fixture
def connect() -> Iterator[Callable[[Service], Client]]:
    """Serve a service on loopback until the test ends; returns its client."""
    with contextlib.ExitStack() as stack:
        yield lambda service: stack.enter_context(Client(service, TOKEN))


def settle(service: Service) -> None:
    assert service.budget.idle(WAIT)
    assert service.executor.wait_idle(WAIT)


def send(client: Client, service: Service, *payloads: dict[str, Any]) -> list[str]:
    answers = [client.send(p) for p in payloads]
    settle(service)
    assert all(a.status_code == 200 for a in answers)
    return [a.json()["decision"] for a in answers]


def writes(github: GitHubStandIn) -> list[str]:
    return [f"{c.method} {c.path.rsplit('/', 1)[-1]}" for c in github.calls if c.method != "GET"]


def test_a_spent_budget_freezes_deploys_with_its_reason_and_tells_people(
    make_service: ServiceFactory,
    connect: Callable[[Service], Client],
    github: GitHubStandIn,
    receiver: Receiver,
) -> None:
    service = make_service(yaml=policy_yaml())
    client = connect(service)
    assert send(client, service, slo_webhook("g-spent")) == ["budget"]

    variables = github.variables[ENVIRONMENT]
    assert variables[FREEZE] == "true"
    assert variables[REASON].startswith(f"{BUDGET_PREFIX}{SERVICE}/availability in {ENVIRONMENT}")
    assert f"{TRAILER}: <why>" in variables[REASON]
    told = receiver.wait_for(lambda n: n.path == "/slack" and "budget" in n.body["text"], WAIT)
    assert "Only reliability fixes deploy" in told.body["text"]
    assert "python -m rollback unfreeze" in told.body["text"]
    [record] = audit_events(service, "budget")
    assert (record["action"], record["outcome"]) == ("freeze", "succeeded")
    frozen = service.metrics.actions.labels("freeze", SERVICE, "succeeded")._value.get()
    assert frozen == 1  # rollback_actions_total: what RollbackActionsFailing and Grafana read


def test_it_freezes_once_per_incident_and_lifts_nothing(
    make_service: ServiceFactory,
    connect: Callable[[Service], Client],
    github: GitHubStandIn,
    receiver: Receiver,
) -> None:
    service = make_service(yaml=policy_yaml())
    client = connect(service)
    send(client, service, slo_webhook("g-spent"))
    before = writes(github)
    # A person lifts the freeze while the budget is still spent; Alertmanager re-sends the group.
    github.put(ENVIRONMENT, FREEZE, "false")
    send(client, service, slo_webhook("g-spent"), slo_webhook("g-spent"))
    assert github.variables[ENVIRONMENT][FREEZE] == "false"  # not frozen again
    assert writes(github) == before
    # The budget recovers: the service says so, and leaves the freeze to people.
    github.put(ENVIRONMENT, FREEZE, "true")
    send(client, service, slo_webhook("g-spent", status="resolved"))
    assert github.variables[ENVIRONMENT][FREEZE] == "true"
    assert writes(github) == before
    receiver.wait_for(lambda n: n.path == "/slack" and "freeze stays on" in n.body["text"], WAIT)


def test_a_restart_remembers_which_incidents_it_froze_for(
    make_service: ServiceFactory, connect: Callable[[Service], Client], github: GitHubStandIn
) -> None:
    first = make_service(yaml=policy_yaml())
    client = connect(first)
    send(client, first, slo_webhook("g-spent"))
    first.close()
    github.put(ENVIRONMENT, FREEZE, "false")
    again = make_service(yaml=policy_yaml())  # the same audit log
    client = connect(again)
    send(client, again, slo_webhook("g-spent"))
    assert github.variables[ENVIRONMENT][FREEZE] == "false"
    # A new incident of the same objective (it recovered, then spent its budget again) freezes.
    send(client, again, slo_webhook("g-spent", starts_at="2026-04-09T00:00:00Z"))
    assert github.variables[ENVIRONMENT][FREEZE] == "true"


@pytest.mark.parametrize(
    ("reason", "reason_at"),
    [
        (f"{ROLLBACK_PREFIX}an automated rollback froze deploys", None),  # an incident's
        (f"{BUDGET_PREFIX}{SERVICE}/latency in {ENVIRONMENT} spent its budget", EARLIER),  # stale
    ],
)
def test_a_freeze_for_another_reason_is_left_as_it_is(
    make_service: ServiceFactory,
    connect: Callable[[Service], Client],
    github: GitHubStandIn,
    reason: str,
    reason_at: str | None,
) -> None:
    """A reliability fix may pass a budget's freeze, never an incident's or a person's: the
    budget policy must not turn one into the other. A budget reason older than the freeze is
    an earlier freeze's: this one is someone else's."""
    github.put(ENVIRONMENT, REASON, reason, reason_at)
    github.put(ENVIRONMENT, FREEZE, "true")
    service = make_service(yaml=policy_yaml())
    client = connect(service)
    send(client, service, slo_webhook("g-spent"))
    assert github.variables[ENVIRONMENT] == {REASON: reason, FREEZE: "true"}
    [record] = audit_events(service, "budget")
    assert record["outcome"] == "succeeded"
    assert "for another reason already: left as it is" in record["detail"]


def test_another_objective_renews_a_budget_freeze(
    make_service: ServiceFactory, connect: Callable[[Service], Client], github: GitHubStandIn
) -> None:
    service = make_service(yaml=policy_yaml())
    client = connect(service)
    send(client, service, slo_webhook("g-spent"))
    github.put(ENVIRONMENT, REASON, f"{BUDGET_PREFIX}an older budget freeze")  # still its own
    send(client, service, slo_webhook("g-spent-again", starts_at="2026-04-02T00:00:00Z"))
    assert github.variables[ENVIRONMENT][REASON].startswith(
        f"{BUDGET_PREFIX}{SERVICE}/availability"
    )


def test_in_dry_run_it_decides_and_tells_but_calls_nothing(
    make_service: ServiceFactory,
    connect: Callable[[Service], Client],
    github: GitHubStandIn,
    receiver: Receiver,
) -> None:
    service = make_service(yaml=policy_yaml(), ROLLBACK_DRY_RUN="true")
    client = connect(service)
    send(client, service, slo_webhook("g-spent"), slo_webhook("g-tickets", BURN, action="ticket",
                                                     tiers=("1d",)))  # fmt: skip
    assert github.calls == []
    assert {r["outcome"] for r in audit_events(service, "budget")} == {"dry_run"}
    receiver.wait_for(lambda n: n.path == "/slack" and "[DRY RUN]" in n.body["text"], WAIT)


def test_a_freeze_that_fails_is_counted_told_and_tried_at_the_next_resend(
    make_service: ServiceFactory,
    connect: Callable[[Service], Client],
    github: GitHubStandIn,
    receiver: Receiver,
) -> None:
    github.fail_next = 10_000  # GitHub answers 500, whatever the retries
    service = make_service(yaml=policy_yaml())
    client = connect(service)
    send(client, service, slo_webhook("g-spent"))
    failed = service.metrics.actions.labels("freeze", SERVICE, "failed")._value.get()
    assert failed == 1  # RollbackActionsFailing pages on it
    receiver.wait_for(lambda n: n.path == "/slack" and "NOT set" in n.body["text"], WAIT)
    github.fail_next = 0
    send(client, service, slo_webhook("g-spent"))
    assert github.variables[ENVIRONMENT][FREEZE] == "true"


def test_where_the_stack_does_not_freeze_a_freeze_alert_is_ignored(
    make_service: ServiceFactory, connect: Callable[[Service], Client], github: GitHubStandIn
) -> None:
    service = make_service(yaml=policy_yaml(freeze=False))
    client = connect(service)
    assert send(client, service, slo_webhook("g-spent")) == ["ignored"]
    assert github.calls == []


def test_a_ticket_tier_keeps_one_issue_per_objective_and_closes_it_on_recovery(
    make_service: ServiceFactory, connect: Callable[[Service], Client], github: GitHubStandIn
) -> None:
    # 150 open issues and pull requests first, one of them a pull request that names the
    # objective: its issue is found past the first page, and a pull request is never taken.
    github.issues += [
        {"number": n, "state": "open", "title": f"issue {n}", "body": ""} for n in range(1, 150)
    ]
    pull = {"number": 150, "state": "open", "pull_request": {"url": "x"}, "body": ""}
    github.issues.append({**pull, "title": f"fix {MARKER}"})
    service = make_service(yaml=policy_yaml())
    client = connect(service)
    ticket = {"alertname": BURN, "action": "ticket"}
    send(client, service, slo_webhook("g-tickets", **ticket, tiers=("1d",)))
    [opened] = [i for i in github.open_issues() if MARKER in
                i["title"]]  # fmt: skip
    assert "1d:" in opened["body"] and "closes it when the burn stops" in opened["body"]
    github.issues += [
        {"number": n, "state": "open", "title": f"later {n}", "body": ""} for n in range(152, 180)
    ]  # newer issues push it to the second page
    send(client, service, slo_webhook("g-tickets", **ticket, tiers=("1d", "3d")))
    mine = [i for i in github.issues if MARKER in i["title"]]
    assert [i["number"] for i in mine if "pull_request" not in i] == [opened["number"]]
    assert "3d:" in opened["body"]  # updated in place, not a second issue
    send(client, service, slo_webhook("g-tickets", **ticket, tiers=("1d", "3d"), status="resolved"))
    assert (opened["state"], opened["state_reason"]) == ("closed", "completed")
    assert "Recovered" in opened["body"]
    outcomes = [(r["action"], r["outcome"]) for r in audit_events(service, "budget")]
    assert outcomes == [("ticket", "succeeded")] * 2 + [("close", "succeeded")]


def test_decisions_are_the_policys_alone() -> None:
    policy = load_policy(policy_yaml(), services_yaml())

    def decided(payload: dict[str, Any]) -> Any:
        return decide(Webhook.model_validate(payload), policy)

    assert decided(slo_webhook("g", action="page")) is None  # the rollbacks' webhook, not ours
    assert decided(slo_webhook("g", slo="unknown")) == []
    assert decided(slo_webhook("g", environment=f"not-{ENVIRONMENT}")) == []
    [freeze] = decided(slo_webhook("g"))
    assert (freeze.kind, freeze.key, freeze.started) == (
        "freeze", f"{SERVICE}/availability", "2026-04-01T00:00:00+00:00"
    )  # fmt: skip
    [recovered] = decided(slo_webhook("g", status="resolved"))
    assert recovered.kind == "recovered"
