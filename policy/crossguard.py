"""The rules of `policy.rules` as CrossGuard policies: thin adapters, no rule logic here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
    proxy,
)

from policy import rules
from policy.resources import Resource, with_kind
from policy.rule import Rule, StackRule
from policy.rules import PACK_NAME
from policy.secret_values import UNKNOWN

__all__ = ["PACK_NAME", "plain", "policies", "resource_of"]

_LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}
# The SDK's markers for values a preview cannot know yet.
_UNKNOWNS = frozenset(
    {
        proxy.UNKNOWN_ARCHIVE_VALUE,
        proxy.UNKNOWN_ARRAY_VALUE,
        proxy.UNKNOWN_ASSET_VALUE,
        proxy.UNKNOWN_BOOLEAN_VALUE,
        proxy.UNKNOWN_NUMBER_VALUE,
        proxy.UNKNOWN_OBJECT_VALUE,
        proxy.UNKNOWN_STRING_VALUE,
    }
)


def _unwrap(value: Any) -> Any:
    """The SDK's unknown-checking proxies hand out their raw target under "__target"."""
    if isinstance(value, Mapping | Sequence) and not isinstance(value, str | bytes | list | dict):
        return cast(Any, value)["__target"]
    return value


def plain(value: Any) -> Any:
    """Props as plain dicts and lists, unknowns as "[unknown]".

    Reading through the proxy would raise on the first unknown and skip the whole rule in a
    preview; the rules treat "[unknown]" as "cannot judge yet" instead.
    """
    value = _unwrap(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, str) and value in _UNKNOWNS:
        return UNKNOWN
    return value


def resource_of(args: Any) -> Resource:
    """The resource as a rule sees it; its environment kind comes from the pack config (a
    resource policy sees no other resource): `rules.check_resource` places it."""
    return Resource(
        type=args.resource_type,
        urn=args.urn,
        name=args.name,
        inputs=plain(args.props),
        secrets_unmarked=True,  # the SDK unwraps secrets before validation
        protect=bool(args.opts.protect) if getattr(args, "opts", None) is not None else None,
    )


def _resource_policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in rule.types:
            return
        for violation in rules.check_resource(rule, resource_of(args), args.get_config()):
            report_violation(violation.message, args.urn)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=_LEVELS[rule.level],
        config_schema=_schema(rule),
    )


def _stack_policy(rule: StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        # The stack's resources: their kind is the one the plan's Pipeline carries.
        resources = with_kind([resource_of(r) for r in args.resources])
        for violation in rules.check_stack(rule, resources, args.get_config()):
            report_violation(violation.message, violation.resource.urn)

    return StackValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=_LEVELS[rule.level],
        config_schema=_schema(rule),
    )


def _schema(rule: Rule | StackRule) -> PolicyConfigSchema | None:
    properties = rules.config_schema(rule)
    return PolicyConfigSchema(properties=properties) if properties else None


def policies() -> list[Policy]:
    """Every rule of `policy.rules`, in order: what `policy/__main__.py` hands the pack."""
    found: list[Policy] = [_resource_policy(r) for r in rules.RULES]
    return found + [_stack_policy(r) for r in rules.STACK_RULES]
