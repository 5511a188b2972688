"""The CrossGuard side: the policy objects the pack serves, fed as the Pulumi engine feeds them.

The pack itself is never constructed (its constructor serves gRPC forever). The engine hands
a policy the inputs with secrets already unwrapped, inside the SDK's unknown-checking proxies:
the tests build the same `ResourceValidationArgs` from the real program's plaintext inputs.
"""

from __future__ import annotations

import json
import runpy
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from policy import rules
from policy.resources import GITHUB_ENVIRONMENT, VERCEL_VARIABLE
from tests.conftest import ROOT, SynthFn, skip_or_fail
from tests.policy.weakenings import OFFLINE_ONLY, PINS, WEAKENINGS, advisories, github, pack_config
from tools import mockrun

try:
    import pulumi_policy
    from pulumi_policy import proxy
except ImportError:  # pragma: no cover - the venv has it; say so instead of skipping silently
    pulumi_policy = None  # type: ignore[assignment]


@pytest.fixture(scope="module")
def sdk() -> ModuleType:
    if pulumi_policy is None:
        skip_or_fail("pulumi_policy is not installed in .venv (requirements-dev.txt lists it)")
    return pulumi_policy


@pytest.fixture(scope="module")
def crossguard(sdk: ModuleType) -> ModuleType:
    from policy import crossguard as module

    return module


def _args(
    sdk: ModuleType, resource: Mapping[str, Any], inputs: Mapping[str, Any], config: Any = None
) -> Any:
    timeouts = sdk.PolicyCustomTimeouts(0, 0, 0)
    options = sdk.PolicyResourceOptions(
        bool(resource.get("protect")), [], None, [], timeouts, [], resource.get("parent")
    )
    return sdk.ResourceValidationArgs(
        resource["type"],
        proxy.unknown_checking_proxy(dict(inputs)),
        resource["urn"],
        resource["name"],
        options,
        None,
        config,
    )


def serve(
    crossguard: ModuleType,
    sdk: ModuleType,
    plan: mockrun.Plan,
    config: Mapping[str, Any] | None = None,
) -> list[tuple[str, str, str]]:
    """What the pack reports for a plan: (policy, enforcement level, message) per violation.
    `config`: `--policy-pack-config`'s JSON; by default the stack's settings, as
    `python -m tools.policycheck --pack-config` prints them."""
    config = json.loads(json.dumps(pack_config(plan.stack))) if config is None else config
    reported: list[tuple[str, str, str]] = []
    for policy in crossguard.policies():
        # The engine takes the level out of the policy's config and hands it the rest
        # (pulumi_policy's PolicyPack.Configure).
        cfg = dict((config or {}).get(policy.name) or {})
        level = cfg.pop("enforcementLevel", policy.enforcement_level.value)
        if level == "disabled":
            continue

        def report(
            message: str, urn: str | None = None, name: str = policy.name, lvl: str = level
        ) -> None:
            reported.append((name, lvl, f"{urn}: {message}"))

        if isinstance(policy, sdk.StackValidationPolicy):
            resources = [
                sdk.PolicyResource(
                    r["type"],
                    plan.plaintext[r["urn"]],
                    r["urn"],
                    r["name"],
                    None,
                    None,
                    None,
                    [],
                    {},
                )
                for r in plan.resources
            ]
            policy.validate(sdk.StackValidationArgs(resources, cfg), report)
            continue
        for r in plan.resources:
            policy.validate(_args(sdk, r, plan.plaintext[r["urn"]], cfg), report)
    return reported


def test_pack_wires_every_rule(sdk: ModuleType) -> None:
    # run_name other than "__main__": the module builds its policy list without serving.
    module = runpy.run_path(str(ROOT / "policy" / "__main__.py"), run_name="policy_pack")
    served = {p.name: p.enforcement_level.value for p in module["POLICIES"]}
    expected = {r.name: r.level for r in (*rules.RULES, *rules.STACK_RULES)}
    assert served == expected
    assert module["PACK_NAME"] == rules.PACK_NAME


def test_wait_timer_minimum_is_in_the_config_schema(crossguard: ModuleType) -> None:
    (policy,) = [p for p in crossguard.policies() if p.name == "production-environment-protection"]
    assert policy.config_schema.properties["minWaitTimer"]["default"] == 5


def test_real_stacks_report_no_mandatory_violation(
    crossguard: ModuleType, sdk: ModuleType, run_stack: SynthFn, stack: str
) -> None:
    reported = serve(crossguard, sdk, run_stack(stack))
    assert [r for r in reported if r[1] == "mandatory"] == []
    expected = [(rule, "advisory") for rule, _ in advisories(stack)]
    assert sorted(r[:2] for r in reported) == expected


def test_weakened_stack_reported_with_urn(
    crossguard: ModuleType, sdk: ModuleType, run_stack: SynthFn
) -> None:
    plan = run_stack("production", github(lambda gh: gh.update(waitTimer=0)))
    mandatory = [r for r in serve(crossguard, sdk, plan) if r[1] == "mandatory"]
    assert [r[0] for r in mandatory] == ["production-environment-protection"]
    assert (
        "::github-environment: production environment 'production' waits 0 minutes"
        in mandatory[0][2]
    )


@pytest.mark.parametrize("weakening", sorted(set(WEAKENINGS) - OFFLINE_ONLY))
def test_each_weakened_production_stack_fails_the_pack(
    crossguard: ModuleType, sdk: ModuleType, run_stack: SynthFn, weakening: str
) -> None:
    edit, rule, resource_name, message = WEAKENINGS[weakening]
    pinned = PINS[weakening]() if weakening in PINS else None
    reported = serve(
        crossguard, sdk, run_stack("production", edit), pack_config("production", edit, pinned)
    )
    assert any(
        (name, level) == (rule, "mandatory") and f"::{resource_name}: " in text and message in text
        for name, level, text in reported
    ), reported


def test_crossguard_cannot_see_retain_on_delete_which_the_offline_check_covers(
    sdk: ModuleType,
) -> None:
    """The Python SDK hands a policy no retainOnDelete (PolicyResourceOptions): the weakenings in
    OFFLINE_ONLY fail the offline check only. When the SDK gains the field, this test says so."""
    import inspect

    fields = inspect.signature(sdk.PolicyResourceOptions.__init__).parameters
    assert "protect" in fields and not any("retain" in name for name in fields)


def test_an_unprotected_production_monitoring_server_is_reported(
    crossguard: ModuleType, sdk: ModuleType, run_stack: SynthFn
) -> None:
    plan = run_stack("production")
    for resource in plan.resources:
        if resource["name"] == "alertmanager" and resource["custom"]:
            resource["protect"] = False  # as `pulumi state unprotect` or an edited program would
    mandatory = [r for r in serve(crossguard, sdk, plan) if r[1] == "mandatory"]
    assert [r[0] for r in mandatory] == ["production-monitoring-protected"]
    assert "monitoring server alertmanager is not protected" in mandatory[0][2]


def test_pack_config_reaches_the_rule(
    crossguard: ModuleType, sdk: ModuleType, run_stack: SynthFn
) -> None:
    settings = {"rules": {"production-environment-protection": {"minWaitTimer": 30}}}
    config = pack_config("production", pinned=settings)
    reported = serve(crossguard, sdk, run_stack("production"), config)
    assert any("minimum of 30" in r[2] for r in reported)


def test_without_the_stacks_settings_every_resource_is_judged_as_production(
    crossguard: ModuleType, sdk: ModuleType, run_stack: SynthFn
) -> None:
    """No --policy-pack-config: no environment kind reaches a resource policy, no repository is
    expected; the pack fails closed instead of passing a stack it cannot place."""
    reported = serve(crossguard, sdk, run_stack("staging"), config={})
    assert any(r[0] == "production-rollback-armed" and r[1] == "mandatory" for r in reported)
    assert any("no pipelineRepository in the policy settings" in r[2] for r in reported)


def test_public_vercel_value_is_read_in_plaintext(crossguard: ModuleType, sdk: ModuleType) -> None:
    """The engine unwraps the provider's secret mark, so CrossGuard sees the public value itself."""
    (policy,) = [p for p in crossguard.policies() if p.name == "no-secret-in-plain-channel"]
    resource = {
        "type": VERCEL_VARIABLE,
        "urn": "urn:pulumi:staging::p::t::frontend-env-x",
        "name": "x",
    }
    inputs = {
        "key": "NEXT_PUBLIC_HOOK",
        "sensitive": False,
        "value": "https://hooks.slack.com/services/T0/B0/abcdefghij",
    }
    reported: list[str] = []
    policy.validate(
        _args(sdk, resource, inputs), lambda message, urn=None: reported.append(message)
    )
    (message,) = reported
    assert message.startswith("Vercel variable NEXT_PUBLIC_HOOK holds a Slack webhook URL")


def test_unknown_values_in_a_preview_do_not_break_rules(
    crossguard: ModuleType, sdk: ModuleType
) -> None:
    env = {
        "type": GITHUB_ENVIRONMENT,
        "urn": "urn:pulumi:production::p::t::env",
        "name": "env",
    }
    inputs = {
        "environment": "production",
        "reviewers": [{"users": [proxy.UNKNOWN_NUMBER_VALUE], "teams": []}],
        "waitTimer": proxy.UNKNOWN_NUMBER_VALUE,
        "preventSelfReview": True,
        "canAdminsBypass": False,
        "deploymentBranchPolicy": {"customBranchPolicies": True, "protectedBranches": False},
    }
    reported: list[str] = []
    for policy in crossguard.policies():
        if isinstance(policy, sdk.ResourceValidationPolicy):
            policy.validate(
                _args(sdk, env, inputs), lambda message, urn=None: reported.append(message)
            )
    assert reported == []


def test_policy_folder_has_a_pack_manifest() -> None:
    import yaml

    manifest = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    assert (ROOT / "policy" / Path(manifest["runtime"]["options"]["virtualenv"])).resolve() == (
        ROOT / ".venv"
    ).resolve()
