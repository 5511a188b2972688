"""A stack deployed by the program before the generic model (stack outputs 1.6.0) upgrades in place.

The base is a frozen plan of each committed stack made by that program (tests/plandiff/frozen,
whose README says how). Against it, the current program's plan of the same stack files replaces
nothing and deletes nothing: every resource is the same resource, at its URN or at one of its
aliases (the component types renamed from `autonomica:*` to `pipeline:*`). What it updates is
pinned here and listed in docs/migration-2.0.md. The Railway services of the product, whose
command input changes only by the product's name in the spec and the secret prefix, converge with
no mutation at all; the pipeline's own services (monitoring servers, rollback service) change only
their variables and settings, never their identity.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.railway import converge
from components.railway.client import RailwayClient
from components.railway.spec import SECRET_ENV_PREFIX, Spec, State
from tests.conftest import STACKS, CommittedPlan, validated_stack
from tests.plandiff import stacks
from tests.railway.standin import PROJECT_ID, RailwayStandIn
from tools.plandiff import diff_sides
from tools.plandiff.plan import load_side

FROZEN = Path(__file__).parent / "frozen"
COMMAND = "command:local:Command"
# What the upgrade updates in place (resource name -> why), the same for both stacks.
UPDATES = {
    # Its inputs now carry the environment and its kind (what policy keys on).
    "autonomica": "Pipeline",
    # The spec names the product (Railway's commit messages); secrets arrive as PIPELINE_SECRET_*.
    "backend": "converge, no mutation",
    "worker": "converge, no mutation",
    # PIPELINE_ENTRYPOINT, PIPELINE_FILES and PIPELINE_FILE_* replace AUTONOMICA_*; the start
    # command names the new variable: one redeploy each.
    "prometheus": "variables renamed",
    "alertmanager": "variables renamed",
    "blackbox-exporter": "variables renamed",
    "grafana": "variables renamed",
    # ROLLBACK_SERVICES added (rollback-services.yml); rollback-config.yml without the worker's
    # request alerts (a worker is judged by its health and metrics, not its requests).
    "rollback": "variable added",
    "monitoring-rollback-config.yml": "the worker's request alerts left out",
    "monitoring-prometheus/rules/alerts.yml": "the worker's request alerts left out",
    # The app's workflows: generic wording, and the rollback workflow names the services file.
    "github-file-github-workflows-deploy-STACK-yml": "header wording",
    "github-file-github-workflows-rollback-STACK-yml": "ROLLBACK_SERVICES_FILE",
}
CREATES = {"monitoring-rollback-services.yml"}
# What converging a pipeline service's changed spec may do: commit settings and variables, and
# (re)deploy. Never a new service, a deleted one, a volume or a domain.
IN_PLACE = {
    "environmentStageChanges",
    "environmentPatchCommitStaged",
    "deploymentRedeploy",
    "serviceInstanceDeployV2",
}


@pytest.fixture(scope="module")
def upgrades(committed_plan: CommittedPlan) -> dict[str, Any]:
    frozen = load_side(FROZEN)
    current = {stack: stacks.snapshot_of(committed_plan(stack)) for stack in STACKS}
    return {d.stack: d for d in diff_sides(frozen, current, policy=False)}


@pytest.mark.parametrize("stack", STACKS)
def test_the_upgrade_replaces_nothing_and_deletes_nothing(stack: str, upgrades: Any) -> None:
    diff = upgrades[stack]
    assert diff.presence == "both"
    assert [c.name for c in diff.resources if c.action == "delete"] == []
    assert [c.name for c in diff.resources if c.replaced] == []
    assert not any(c.unprotected for c in diff.resources)


@pytest.mark.parametrize("stack", STACKS)
def test_the_upgrade_updates_only_what_the_migration_note_lists(stack: str, upgrades: Any) -> None:
    diff = upgrades[stack]
    expected = {name.replace("STACK", stack) for name in UPDATES}
    assert {c.name for c in diff.resources if c.action == "update"} == expected
    assert {c.name for c in diff.resources if c.action == "create"} == CREATES


def test_every_renamed_component_keeps_its_old_type_as_an_alias(
    committed_plan: CommittedPlan,
) -> None:
    plan = committed_plan("production").to_json()
    frozen = json.loads((FROZEN / "production" / "plan.json").read_text())
    old = {r["urn"] for r in frozen["resources"]}
    for resource in plan["resources"]:
        if resource["urn"] in old or resource["name"] in CREATES:
            continue
        # Moved only because it is, or is below, a renamed component: aliased to its old URN.
        assert old & set(resource.get("aliases", ())), resource["urn"]
        types = resource["urn"].split("::")[2].split("$")
        assert any(t.startswith("pipeline:") for t in types), resource["urn"]


def _spec(plan: dict[str, Any], name: str) -> Spec:
    command = next(r for r in plan["resources"] if r["type"] == COMMAND and r["name"] == name)
    spec = json.loads(command["inputs"]["stdin"])
    return Spec.model_validate({**spec, "projectId": PROJECT_ID})  # the stand-in's project


def _with_secrets(spec: Spec) -> Spec:
    """The spec as the converge tool runs it: each secret variable's value from its env."""
    env = {f"{SECRET_ENV_PREFIX}{n}": f"value-of-{n}" for n in spec.service.secret_variables}
    return spec.model_copy(update={"service": spec.service.with_secrets(env)})


def _apply(client: RailwayClient, spec: Spec, state: State | None) -> State:
    return converge.apply(client, _with_secrets(spec), state, lambda _line: None)


def _deployed(standin: RailwayStandIn, client: RailwayClient, spec: Spec) -> State:
    """The service as the program before the upgrade left it: applied, its code shipped."""
    state = _apply(client, spec, None)
    if state.deployment_id is None:  # a service its deploy workflow ships: the workflow ran
        standin.upload(state.environment_id, state.service_id, "shipped")
    return _apply(client, spec, state)


@pytest.mark.e2e
@pytest.mark.parametrize("stack", STACKS)
def test_each_service_upgrades_in_place_and_the_products_converge_with_no_mutation(
    stack: str, standin: RailwayStandIn, client: RailwayClient, committed_plan: CommittedPlan
) -> None:
    standin.add_environment(stack)
    frozen = json.loads((FROZEN / stack / "plan.json").read_text())
    current = committed_plan(stack).to_json()
    product = set(validated_stack(stack).of("railway"))
    names = {r["name"] for r in current["resources"] if r["type"] == COMMAND}
    assert product < names
    for name in sorted(names):
        old, new = _spec(frozen, name), _spec(current, name)
        state = _deployed(standin, client, old)
        standin.mutations.clear()
        after = _apply(client, new, state)
        assert after.service_id == state.service_id, name
        if name in product:
            assert standin.mutations == [], f"{name}: {standin.mutations}"
        else:
            assert set(standin.mutations) <= IN_PLACE, f"{name}: {standin.mutations}"


def _resource(urn: str, aliases: tuple[str, ...] = (), **inputs: Any) -> dict[str, Any]:
    name = urn.rpartition("::")[2]
    return {"urn": urn, "type": "t:index:T", "name": name, "parent": None, "custom": True,
            "aliases": list(aliases), "inputs": inputs}  # fmt: skip


def _diff(base: list[dict[str, Any]], head: list[dict[str, Any]]) -> Any:
    def side(resources: list[dict[str, Any]]) -> dict[str, stacks.Snapshot]:
        plan = {"project": "p", "stack": "s", "resources": resources, "outputs": {}}
        return {"s": stacks.Snapshot(stacks.Plan.model_validate(plan), {})}

    return diff_sides(side(base), side(head), policy=False)[0]


def test_a_resource_found_at_its_alias_is_the_same_resource() -> None:
    old, new = "urn:pulumi:s::p::old:index:T::x", "urn:pulumi:s::p::new:index:T::x"
    same = _diff([_resource(old, a=1)], [_resource(new, (old,), a=1)])
    assert (same.resources, same.unchanged) == ((), 1)
    changed = _diff([_resource(old, a=1)], [_resource(new, (old,), a=2)])
    assert [(c.action, c.urn) for c in changed.resources] == [("update", new)]
    elsewhere = _diff([_resource(old, a=1)], [_resource(new, ("urn:pulumi:s::p::z::x",), a=1)])
    assert sorted(c.action for c in elsewhere.resources) == ["create", "delete"]
    # One old resource is one new one: a second claim to the same alias is a new resource.
    twice = _diff([_resource(old)], [_resource(new, (old,)), _resource(new + "2", (old,))])
    assert sorted(c.action for c in twice.resources) == ["create"]
