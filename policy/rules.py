"""The guardrails: every rule of the pack with its level, the resource types it sees and its
settings, and how they run. Shared by the CrossGuard pack and the offline check.

A rule's check (`policy.checks`, one module per area) sees one resource (`Resource`: type, urn,
name, inputs with wire names) and its settings, and yields one message per problem. Stack rules
see every resource at once. Nothing here imports pulumi or pulumi_policy: `policy.crossguard`
and `tools.policycheck` adapt their inputs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, cast

from policy.checks.alerts import alert_rules_labelled
from policy.checks.branch import (
    ProtectionSettings,
    branch_bypass,
    branch_protection,
    production_branch_protected,
)
from policy.checks.github import (
    EnvironmentSettings,
    RepositorySettings,
    admins_bypass_environment,
    deploys_only_from_branch,
    environment_protection,
    production_repository,
    reviewer_teams_have_access,
    self_review_allowed,
)
from policy.checks.hosts import HostSettings, credentials_to_trusted_hosts
from policy.checks.railway import (
    PublisherSettings,
    images_from_allowed_publishers,
    images_pinned,
    monitoring_authenticated,
    monitoring_private,
    monitoring_protected,
    production_retain_on_delete,
)
from policy.checks.rollback import RollbackSettings, rollback_armed, rollback_least_privilege
from policy.checks.secrets import (
    command_quiet_logs,
    no_secret_in_plain_channel,
    vercel_sensitive_explicit,
)
from policy.resources import (
    COMMAND,
    GITHUB_BRANCH_PROTECTION,
    GITHUB_DEPLOYMENT_POLICY,
    GITHUB_ENV_VARIABLE,
    GITHUB_ENVIRONMENT,
    GITHUB_PROVIDER,
    GITHUB_REPO_VARIABLE,
    GITHUB_RULESET,
    GITHUB_TEAM_ACCESS,
    PIPELINE,
    STASH,
    UNSET,
    VERCEL_VARIABLE,
    Resource,
    kind_of,
)
from policy.rule import BranchSettings, Rule, Settings, StackRule, Violation

PACK_NAME = "pipeline-guardrails"


def settings_of_this_environment(
    resources: Sequence[Resource], settings: Settings
) -> Iterator[tuple[Resource, str]]:
    """Settings written for one stack and run over another's plan judge the wrong environment:
    a CrossGuard resource policy takes its environment kind from them."""
    planned = kind_of(resources)
    wanted = settings.environment_kind
    if planned is None or wanted is None or planned == wanted:
        return
    for pipeline in (r for r in resources if r.type == PIPELINE):
        yield (
            pipeline,
            f"the policy settings are for a {wanted} environment, this plan deploys a {planned} "
            f"one (environment.kind): run the pack with this stack's settings ({UNSET})",
        )


RULES: tuple[Rule, ...] = (
    Rule(
        "production-environment-protection",
        "The production GitHub environment requires a reviewer and a minimum wait timer.",
        "mandatory",
        (GITHUB_ENVIRONMENT,),
        environment_protection,
        EnvironmentSettings,
    ),
    Rule(
        "production-deploys-only-from-main",
        "Production deploys only from the production branch, through custom branch policies.",
        "mandatory",
        (GITHUB_ENVIRONMENT, GITHUB_DEPLOYMENT_POLICY),
        deploys_only_from_branch,
        BranchSettings,
    ),
    Rule(
        "production-admin-bypass",
        "Repository admins cannot bypass the production environment's protection rules.",
        "mandatory",
        (GITHUB_ENVIRONMENT,),
        admins_bypass_environment,
    ),
    Rule(
        "production-branch-protection",
        "The production branch requires the CI checks and approving reviews, admins included.",
        "mandatory",
        (GITHUB_RULESET, GITHUB_BRANCH_PROTECTION),
        branch_protection,
        ProtectionSettings,
    ),
    Rule(
        "no-secret-in-plain-channel",
        "No token, key, password or credentialed URL in an Actions variable, a non-sensitive "
        "Vercel variable or a plain command input.",
        "mandatory",
        (GITHUB_ENV_VARIABLE, GITHUB_REPO_VARIABLE, VERCEL_VARIABLE, COMMAND),
        no_secret_in_plain_channel,
    ),
    Rule(
        "vercel-sensitive-explicit",
        "Every Vercel variable says whether it is sensitive.",
        "mandatory",
        (VERCEL_VARIABLE,),
        vercel_sensitive_explicit,
    ),
    Rule(
        "command-logs-without-values",
        "Railway command resources keep stdout, which may echo values, out of the logs.",
        "mandatory",
        (COMMAND,),
        command_quiet_logs,
    ),
    Rule(
        "images-pinned-by-digest",
        "Every Railway service that runs an image pins it by digest.",
        "mandatory",
        (COMMAND,),
        images_pinned,
    ),
    Rule(
        "monitoring-private",
        "Prometheus and Alertmanager have no public domain unless they require authentication.",
        "mandatory",
        (COMMAND,),
        monitoring_private,
    ),
    Rule(
        "monitoring-authenticated",
        "Prometheus and Alertmanager require a login (basic auth from a secret web config).",
        "mandatory",
        (COMMAND,),
        monitoring_authenticated,
    ),
    Rule(
        "production-monitoring-protected",
        "Production's monitoring servers are protected from deletion.",
        "mandatory",
        (COMMAND,),
        monitoring_protected,
    ),
    Rule(
        "production-rollback-armed",
        "Production's rollback service acts: not dry, every trigger on, each strategy rolls back, "
        "built from the pipeline repository's production branch.",
        "mandatory",
        (COMMAND,),
        rollback_armed,
        RollbackSettings,
    ),
    Rule(
        "credentials-to-trusted-hosts",
        "The webhook token, the SMTP login, the PagerDuty key and the platform tokens go only to "
        "trusted hosts.",
        "mandatory",
        (COMMAND, STASH),
        credentials_to_trusted_hosts,
        HostSettings,
    ),
    Rule(
        "images-from-allowed-publishers",
        "Every Railway service that runs an image runs one from an allowed publisher.",
        "mandatory",
        (COMMAND,),
        images_from_allowed_publishers,
        PublisherSettings,
    ),
    Rule(
        "rollback-least-privilege",
        "The rollback service is shipped by the pipeline's deploy workflow, holds no platform "
        "token in dry run and never an account-wide Railway token.",
        "mandatory",
        (COMMAND,),
        rollback_least_privilege,
    ),
    Rule(
        "production-retain-on-delete",
        "Production's Railway services stay when the stack drops them (retainOnDelete).",
        "mandatory",
        (COMMAND,),
        production_retain_on_delete,
    ),
    Rule(
        "production-repository",
        "Production's GitHub resources and rollback service act on the application repository.",
        "mandatory",
        (
            GITHUB_PROVIDER,
            GITHUB_ENVIRONMENT,
            GITHUB_DEPLOYMENT_POLICY,
            GITHUB_RULESET,
            GITHUB_ENV_VARIABLE,
            GITHUB_TEAM_ACCESS,
            "github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret",
            "github:index/repositoryFile:RepositoryFile",
            COMMAND,
        ),
        production_repository,
        RepositorySettings,
    ),
    Rule(
        "alert-rules-labelled",
        "Every generated alert has severity and service labels and a summary annotation.",
        "mandatory",
        (STASH,),
        alert_rules_labelled,
    ),
    Rule(
        "production-self-review",
        "Production deploys can be approved by the person who triggered them.",
        "advisory",
        (GITHUB_ENVIRONMENT,),
        self_review_allowed,
    ),
    Rule(
        "production-branch-bypass",
        "Who may pass which rule of the production branch: the deploy App pushing the "
        "workflows, a named maintainer merging their own pull requests.",
        "advisory",
        (GITHUB_RULESET,),
        branch_bypass,
    ),
)

STACK_RULES: tuple[StackRule, ...] = (
    StackRule(
        "production-branch-protected",
        "Rulesets or branch protection in the production stack cover the production branch and "
        "together require the CI checks and approving reviews.",
        "mandatory",
        production_branch_protected,
        ProtectionSettings,
    ),
    StackRule(
        "production-reviewer-teams-have-access",
        "Each team that reviews production deployments is granted access to the repository by "
        "the stack.",
        "mandatory",
        reviewer_teams_have_access,
    ),
    StackRule(
        "settings-of-this-environment",
        "The policy settings are those of the environment the plan deploys: their environment "
        "kind is the one the plan's Pipeline carries.",
        "mandatory",
        settings_of_this_environment,
    ),
)


ENFORCEMENT = "enforcementLevel"
Enforcement = Literal["mandatory", "advisory", "disabled"]


def _entry(config: Mapping[str, Any] | str | None) -> Mapping[str, Any]:
    # `--policy-pack-config` may give a rule just its level: "rule": "advisory".
    return {ENFORCEMENT: config} if isinstance(config, str) else (config or {})


def settings_of(rule: Rule | StackRule, config: Mapping[str, Any] | str | None) -> Settings:
    """The rule's settings from its pack config; an unknown key is refused (ValidationError)."""
    values = {k: v for k, v in _entry(config).items() if k != ENFORCEMENT}
    return rule.settings.model_validate(values)


def level_of(rule: Rule | StackRule, config: Mapping[str, Any] | str | None) -> Enforcement:
    level = _entry(config).get(ENFORCEMENT, rule.level)
    if level not in ("mandatory", "advisory", "disabled"):
        raise ValueError(f"{rule.name}: enforcementLevel {level!r} is not mandatory, advisory "
                         "or disabled")  # fmt: skip
    return cast(Enforcement, level)


def _placed(resource: Resource, settings: Settings) -> Resource:
    """A resource whose plan carries no kind (no Pipeline in it; a CrossGuard resource policy,
    which sees no other resource) takes the kind its settings are for."""
    if resource.kind is None and settings.environment_kind is not None:
        return dataclasses.replace(resource, kind=settings.environment_kind)
    return resource


def check_resource(
    rule: Rule, resource: Resource, config: Mapping[str, Any] | str | None = None
) -> list[Violation]:
    """The rule over one resource at its pack config's level (none when disabled)."""
    level = level_of(rule, config)
    if not rule.applies_to(resource) or level == "disabled":
        return []
    settings = settings_of(rule, config)
    resource = _placed(resource, settings)
    return [
        Violation(rule.name, level, rule.description, resource, message)
        for message in rule.check(resource, settings)
    ]


def check_stack(
    rule: StackRule, resources: Sequence[Resource], config: Mapping[str, Any] | str | None = None
) -> list[Violation]:
    level = level_of(rule, config)
    if level == "disabled":
        return []
    settings = settings_of(rule, config)
    resources = [_placed(r, settings) for r in resources]
    return [
        Violation(rule.name, level, rule.description, resource, message)
        for resource, message in rule.check(resources, settings)
    ]


def check_all(
    resources: Sequence[Resource], config: Mapping[str, Mapping[str, Any] | str] | None = None
) -> list[Violation]:
    """Every rule over every resource. `config` maps a rule name to its pack config
    (`policy.settings.Settings.pack_config()`); a name no rule has is refused."""
    config = config or {}
    names = {r.name for r in RULES} | {r.name for r in STACK_RULES}
    unknown = sorted(set(config) - names)
    if unknown:
        raise ValueError(f"the policy config names no rule of the pack: {', '.join(unknown)}")
    found = [
        violation
        for resource in resources
        for rule in RULES
        for violation in check_resource(rule, resource, config.get(rule.name))
    ]
    for stack_rule in STACK_RULES:
        found += check_stack(stack_rule, resources, config.get(stack_rule.name))
    return found


def config_schema(rule: Rule | StackRule) -> dict[str, dict[str, Any]]:
    """The rule's settings as JSON Schema properties, for the pack's config schema."""
    schema = rule.settings.model_json_schema(by_alias=True)
    return {
        key: {k: v for k, v in prop.items() if k != "title"}
        for key, prop in schema.get("properties", {}).items()
    }
