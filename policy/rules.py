"""The guardrails, one plain function per rule, shared by the CrossGuard pack and the offline check.

A rule sees one resource (`Resource`: type, urn, name, inputs with wire names) and its settings,
and yields one message per problem. Stack rules see every resource at once. Nothing here
imports pulumi or pulumi_policy: `policy.crossguard` and `tools.policycheck` adapt their inputs.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from monitoring.config import IMAGE_REF, HealthCheckTrigger
from monitoring.durations import Duration, format_duration, parse_duration
from monitoring.servers import PUBLIC, SERVERS
from monitoring.webauth import AUTHENTICATED
from policy.publishers import OFFICIAL_PUBLISHERS, publisher
from policy.secret_values import SECRET, UNKNOWN, findings, is_secret_name

PACK_NAME = "pipeline-guardrails"
Level = Literal["mandatory", "advisory"]
Kind = Literal["production", "staging", "preview"]
PRODUCTION: Kind = "production"
# The program's root component: its inputs carry the environment's name and kind.
PIPELINE = "pipeline:index:Pipeline"

GITHUB_ENVIRONMENT = "github:index/repositoryEnvironment:RepositoryEnvironment"
GITHUB_DEPLOYMENT_POLICY = (
    "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"
)
GITHUB_RULESET = "github:index/repositoryRuleset:RepositoryRuleset"
GITHUB_BRANCH_PROTECTION = "github:index/branchProtection:BranchProtection"
GITHUB_ENV_VARIABLE = "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable"
GITHUB_REPO_VARIABLE = "github:index/actionsVariable:ActionsVariable"
GITHUB_TEAM_ACCESS = "github:index/teamRepository:TeamRepository"
GITHUB_PROVIDER = "pulumi:providers:github"
VERCEL_VARIABLE = "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable"
COMMAND = "command:local:Command"
STASH = "pulumi:index:Stash"

ALERT_RULES_DIR = "prometheus/rules/"
# What a rule says when the settings the stack file supplies did not reach it.
UNSET = (
    "run the pack with the stack's settings (`--policy-pack-config` written by "
    "`python -m tools.policycheck --pack-config --stack STACK`, docs/policy.md)"
)
PRIVATE_SERVERS = frozenset(SERVERS) - PUBLIC
SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class Resource:
    """One resource as a rule sees it.

    `secrets_unmarked`: the CrossGuard SDK hands rules secret inputs as plain values, so a
    secret cannot be told from a plain value; channels that may legitimately carry a secret
    (a command's stdin) are then left to the offline check, where plan.json keeps the mark.
    """

    type: str
    urn: str
    name: str
    inputs: Mapping[str, Any]
    secrets_unmarked: bool = False
    protect: bool | None = None  # None: not known to the caller
    retain_on_delete: bool | None = None  # None: not known (CrossGuard's Python SDK hides it)
    kind: str | None = None  # the environment's kind; None: not known, judged as production

    @property
    def in_production(self) -> bool:
        """Production's rules apply by the environment's kind, never by a name; a resource
        whose kind is unknown gets them too (the hardest reading)."""
        return self.kind in (None, PRODUCTION)


def kind_of(resources: Sequence[Resource]) -> str | None:
    """The environment kind the plan's Pipeline resource carries (its `kind` input)."""
    kinds = {r.inputs.get("kind") for r in resources if r.type == PIPELINE}
    known = [k for k in kinds if isinstance(k, str) and _known(k)]
    return known[0] if len(known) == 1 and len(kinds) == 1 else None


def with_kind(resources: Sequence[Resource]) -> list[Resource]:
    """The resources with the kind of the plan's Pipeline: every one belongs to its environment."""
    kind = kind_of(resources)
    return [dataclasses.replace(r, kind=kind) for r in resources]


class Settings(BaseModel):
    """A rule's pack config (camelCase keys, as in `--policy-pack-config`). `policy.settings`
    builds it from the stack's settings file; nothing here names a product."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel)

    environment_kind: Kind | None = Field(
        None,
        description="the kind of the stack these settings are for (environment.kind): a "
        "CrossGuard resource policy sees no other resource; unset: judged as production",
    )


class NoSettings(Settings):
    pass


class EnvironmentSettings(Settings):
    min_wait_timer: int = Field(
        5, ge=0, le=43200, description="minutes production deploys wait at least"
    )


class BranchSettings(Settings):
    production_branch: str = Field("main", min_length=1, description="the only branch to deploy")


class ProtectionSettings(BranchSettings):
    required_checks: tuple[str, ...] = Field(
        ("test-and-quality",), description="CI checks the production branch requires"
    )
    min_approving_reviews: int = Field(1, ge=1, le=10)
    checks_integration_id: int = Field(
        15368,
        description="the app each required check must come from: GitHub Actions "
        "(`gh api /apps/github-actions`), which runs the CI",
    )
    deploy_app_id: int | None = Field(
        None,
        description="the only GitHub App that may push past production's checks and review "
        "rulesets (production's github.committerAppId); unset: any one App, on those only",
    )


def _spec_health() -> HealthCheckTrigger:
    return HealthCheckTrigger()  # its defaults are the spec's thresholds


class RollbackSettings(BranchSettings):
    pipeline_repository: str | None = Field(
        None,
        pattern=r"^[^/]+/[^/]+$",
        description="owner/name of the repository production's rollback service is built from "
        "(the stack's rollback.repository); unset: no repository is accepted",
    )
    required_triggers: tuple[str, ...] = Field(
        ("health_check", "performance", "business"),
        description="rollback triggers production keeps enabled (rollback-config.yml names)",
    )
    required_actions: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: {
            "immediate": ("rollback_all_services", "freeze_deployments"),
            "fast": ("rollback_affected_service",),
            "gradual": ("rollback_if_needed",),
        },
        description="actions each rollback strategy keeps in production",
    )
    max_health_failures: int = Field(
        _spec_health().consecutive_failures,
        ge=1,
        description="consecutive failed probes after which production rolls back, at most (the "
        "spec's)",
    )
    max_health_window: Duration = Field(
        _spec_health().failure_window,
        description="the window those failures must fit, at most (the spec's)",
    )


class PublisherSettings(Settings):
    allowed_publishers: tuple[str, ...] = Field(
        OFFICIAL_PUBLISHERS,
        description="who may publish an image a Railway service runs (Docker Hub namespace, or "
        "registry/namespace); a stack's railway.allowedImagePublishers cannot vouch for itself",
    )


class RepositorySettings(Settings):
    application_repository: str | None = Field(
        None,
        pattern=r"^[^/]+/[^/]+$",
        description="owner/name of the application repository production's GitHub resources "
        "protect (the stack's github.repository); unset: no repository is accepted",
    )


class HostSettings(Settings):
    trusted_hosts: tuple[str, ...] = Field(
        (
            "railway.internal",  # Railway's private network, within the stack's environment
            "events.pagerduty.com",
            "hooks.slack.com",
            "api.github.com",
            "api.vercel.com",
            "backboard.railway.com",
        ),
        description="hosts, and the hosts below them, that may receive a credential: the "
        "platforms' by default; policy.settings adds the settings file's",
    )
    own_hosts: tuple[str, ...] = Field(
        (),
        description="the hosts the stack names as its own (its urls, the SMTP smarthost), "
        "trusted exactly: a host below one (evil.shop.example under shop.example) is not the "
        "stack's; policy.settings derives them from the stack file",
    )


Check = Callable[[Resource, Any], Iterable[str]]
StackCheck = Callable[[Sequence[Resource], Any], Iterable[tuple[Resource, str]]]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    level: Level
    types: tuple[str, ...]
    check: Check
    settings: type[Settings] = NoSettings

    def applies_to(self, resource: Resource) -> bool:
        return resource.type in self.types


@dataclass(frozen=True)
class StackRule:
    name: str
    description: str
    level: Level
    check: StackCheck
    settings: type[Settings] = NoSettings


@dataclass(frozen=True)
class Violation:
    rule: str
    level: Level  # the level it was checked at (the pack config may lower a rule's)
    description: str
    resource: Resource
    message: str


def _known(value: Any) -> bool:
    return value not in (SECRET, UNKNOWN)


# --- GitHub: production environment -------------------------------------------------------


def environment_protection(resource: Resource, settings: EnvironmentSettings) -> Iterator[str]:
    if not resource.in_production:
        return
    env = resource.inputs.get("environment", resource.name)
    reviewers = resource.inputs.get("reviewers") or []
    ids = [i for r in reviewers for i in [*(r.get("users") or []), *(r.get("teams") or [])]]
    if not ids:
        yield (
            f"production environment '{env}' has no required reviewer: "
            "set github.reviewers in the stack file"
        )
    wait = resource.inputs.get("waitTimer", 0)
    if _known(wait) and int(wait) < settings.min_wait_timer:
        yield (
            f"production environment '{env}' waits {wait} minutes before a deploy, "
            f"less than the minimum of {settings.min_wait_timer}: raise github.waitTimer"
        )


def deploys_only_from_branch(resource: Resource, settings: BranchSettings) -> Iterator[str]:
    if not resource.in_production:
        return
    branch = settings.production_branch
    if resource.type == GITHUB_ENVIRONMENT:
        policy = resource.inputs.get("deploymentBranchPolicy") or {}
        if policy.get("customBranchPolicies") is not True or policy.get("protectedBranches"):
            yield (
                f"production environment '{resource.inputs.get('environment')}' must deploy from "
                f"custom branch policies only (any protected branch, or any branch, could deploy): "
                "set github.deploymentBranchPolicy to custom"
            )
        return
    pattern = resource.inputs.get("branchPattern")
    if resource.inputs.get("tagPattern") or pattern != branch:
        shown = pattern or f"tag {resource.inputs.get('tagPattern')}"
        yield (
            f"production deploys from '{shown}', only '{branch}' is allowed: "
            f"set github.branch to {branch}"
        )


def admins_bypass_environment(resource: Resource, _: NoSettings) -> Iterator[str]:
    # GitHub's default when the input is absent is to let admins bypass.
    if resource.in_production and resource.inputs.get("canAdminsBypass", True) is not False:
        yield (
            "repository admins can deploy to production without the required review: set "
            "github.canAdminsBypass to false"
        )


# --- GitHub: the production branch's protection ---------------------------------------------


def _ruleset_checks(inputs: Mapping[str, Any]) -> list[str | None]:
    rules = inputs.get("rules") or {}
    return [
        c.get("context")
        for c in (rules.get("requiredStatusChecks") or {}).get("requiredChecks") or []
    ]


def _ruleset_reviews(inputs: Mapping[str, Any]) -> Any:
    return ((inputs.get("rules") or {}).get("pullRequest") or {}).get(
        "requiredApprovingReviewCount", 0
    )


# What a rule on a ruleset is called in a message.
_RULES = {
    "deletion": "deletion",
    "nonFastForward": "force-pushes",
    "requiredStatusChecks": "the required checks",
    "pullRequest": "the review rule",
}
# Rules an App may push past to commit the workflows; nobody may delete or force-push.
_APP_BYPASSABLE = frozenset({"requiredStatusChecks", "pullRequest"})


def _rules_of(inputs: Mapping[str, Any]) -> list[str]:
    rules = inputs.get("rules") or {}
    return [name for name, value in rules.items() if value not in (None, False, {}, [])]


def _bypass_problem(
    actor: Mapping[str, Any], inputs: Mapping[str, Any], settings: ProtectionSettings
) -> str | None:
    """Who may bypass a production ruleset: the deploy App, and only past the checks and the
    review rule; a named maintainer merging their own pull request past a ruleset that requires
    no check (the checks still bind them). Anyone else, or any other way, is a problem."""
    kind, mode, actor_id = actor.get("actorType"), actor.get("bypassMode"), actor.get("actorId")
    if kind == "Integration":
        beyond = sorted(set(_rules_of(inputs)) - _APP_BYPASSABLE)
        if beyond:
            rules = ", ".join(_RULES.get(rule, rule) for rule in beyond)
            return f"GitHub App {actor_id} may bypass {rules}: no one may"
        if settings.deploy_app_id is not None and actor_id != settings.deploy_app_id:
            return (
                f"GitHub App {actor_id} may bypass it, not the deploy App "
                f"{settings.deploy_app_id}: set github.committerAppId"
            )
        return None
    if kind == "User" and mode == "pull_request" and not _ruleset_checks(inputs):
        return None
    return (
        f"{kind} {actor_id or ''} may bypass it ({mode}): admins and other bypass actors are not "
        "bound; remove bypassActors (enforceAdmins) or keep such a bypass to maintainers merging "
        "pull requests (github.mergeBypass)"
    ).replace("  ", " ")


def _ruleset_problems(inputs: Mapping[str, Any], settings: ProtectionSettings) -> Iterator[str]:
    """One ruleset alone; what all of the branch's rulesets require together is the stack rule's."""
    if inputs.get("enforcement") != "active":
        yield f"the ruleset is not enforced (enforcement: {inputs.get('enforcement')})"
    for actor in inputs.get("bypassActors") or []:
        problem = _bypass_problem(actor, inputs, settings)
        if problem:
            yield problem
    checks = ((inputs.get("rules") or {}).get("requiredStatusChecks") or {}).get("requiredChecks")
    for check in checks or []:
        app = check.get("integrationId")
        if _known(app) and app != settings.checks_integration_id:
            yield (
                f"the required check {check.get('context')} is matched by name only"
                + (f" or comes from app {app}" if app else "")
                + f": any workflow or status of that name satisfies it; bind it to app "
                f"{settings.checks_integration_id} (GitHub Actions), as the stack does"
            )


def _branch_protection_problems(
    inputs: Mapping[str, Any], settings: ProtectionSettings
) -> Iterator[str]:
    checks = [c for s in inputs.get("requiredStatusChecks") or [] for c in s.get("contexts") or []]
    yield from _check_problems(checks, settings)
    reviews = [
        r.get("requiredApprovingReviewCount", 1)
        for r in (inputs.get("requiredPullRequestReviews") or [])
    ]
    yield from _review_problems(max(reviews, default=0), settings)
    if inputs.get("enforceAdmins") is not True:
        yield "admins are not bound: set enforceAdmins"


def _check_problems(checks: Sequence[str | None], settings: ProtectionSettings) -> Iterator[str]:
    if not checks:
        yield "no CI check is required"
    missing = [c for c in settings.required_checks if c not in checks]
    if missing:
        yield f"required CI checks missing: {', '.join(missing)}"


def _review_problems(reviews: Any, settings: ProtectionSettings) -> Iterator[str]:
    if _known(reviews) and int(reviews) < settings.min_approving_reviews:
        yield (
            f"{reviews} approving reviews required, at least "
            f"{settings.min_approving_reviews} needed"
        )


def branch_protection(resource: Resource, settings: ProtectionSettings) -> Iterator[str]:
    if not resource.in_production:
        return
    if resource.type == GITHUB_RULESET:
        if resource.inputs.get("target", "branch") != "branch":
            return
        problems = list(_ruleset_problems(resource.inputs, settings))
    else:
        problems = list(_branch_protection_problems(resource.inputs, settings))
    for problem in problems:
        yield f"production branch protection is weakened: {problem}"


def _protected_refs(resource: Resource) -> list[str]:
    if resource.type == GITHUB_BRANCH_PROTECTION:
        return [f"refs/heads/{resource.inputs.get('pattern')}"]
    ref = (resource.inputs.get("conditions") or {}).get("refName") or {}
    excluded = ref.get("excludes") or []
    return [r for r in ref.get("includes") or [] if r not in excluded]


def production_branch_protected(
    resources: Sequence[Resource], settings: ProtectionSettings
) -> Iterator[tuple[Resource, str]]:
    """The production branch is covered, and its rulesets together require the CI checks and
    the approving reviews (one ruleset may hold the checks, another the review rule)."""
    environments = [r for r in resources if r.type == GITHUB_ENVIRONMENT and r.in_production]
    ref = f"refs/heads/{settings.production_branch}"
    covering = [
        r
        for r in resources
        if r.type in (GITHUB_RULESET, GITHUB_BRANCH_PROTECTION)
        and r.in_production
        and ref in _protected_refs(r)
    ]
    if not covering:
        for environment in environments:
            yield (
                environment,
                (
                    f"no ruleset or branch protection in this stack covers '{ref}', "
                    f"the branch production deploys from"
                ),
            )
        return
    rulesets = sorted(
        (
            r
            for r in covering
            if r.type == GITHUB_RULESET and r.inputs.get("target", "branch") == "branch"
        ),
        key=lambda r: r.name,
    )
    if not rulesets:
        return  # classic branch protection holds its checks and reviews: the resource rule
    checks = [c for r in rulesets for c in _ruleset_checks(r.inputs)]
    reviews = [_ruleset_reviews(r.inputs) for r in rulesets]
    known = [int(n) for n in reviews if _known(n)]
    problems = list(_check_problems(checks, settings))
    if len(known) == len(reviews):
        problems += _review_problems(max(known, default=0), settings)
    for problem in problems:
        yield rulesets[0], f"the rulesets on '{ref}' together: {problem}"


# --- Secrets in non-secret channels ---------------------------------------------------------

COMMAND_LINES = ("create", "update", "delete")
# Inputs that may carry a secret when marked secret (stored encrypted): checked when plain.
COMMAND_PAYLOADS = ("stdin", "environment", "triggers")


def _parse(value: Any) -> Any:
    """A command's stdin as JSON when it is JSON, so its keys count as names. A Railway spec's
    `secretVariables` lists the names of values that travel in the secret environment."""
    if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
        return _json(value)
    return value


@lru_cache(maxsize=128)
def _json(text: str) -> Any:
    """Parsed once per text, however many rules read it (a spec holds whole monitoring files):
    callers only read the result, which every one of them shares."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    service = value.get("service") if isinstance(value, dict) else None
    if isinstance(service, dict):
        service.pop("secretVariables", None)
    return value


def no_secret_in_plain_channel(resource: Resource, _: NoSettings) -> Iterator[str]:
    if resource.type in (GITHUB_ENV_VARIABLE, GITHUB_REPO_VARIABLE):
        yield from _actions_variable(resource.inputs)
    elif resource.type == VERCEL_VARIABLE and resource.inputs.get("sensitive") is False:
        yield from _public_vercel_variable(resource.inputs)
    elif resource.type == COMMAND:
        yield from _command_inputs(resource)


def _actions_variable(inputs: Mapping[str, Any]) -> Iterator[str]:
    name = str(inputs.get("variableName", ""))
    if is_secret_name(name):
        yield (
            f"Actions variable {name} is named like a secret; variables are shown in plain "
            "text to everyone who can read the repository: make it an Actions secret"
        )
    for finding in findings(inputs.get("value"), name):
        yield f"Actions variable {finding}: make it an Actions secret"


def _public_vercel_variable(inputs: Mapping[str, Any]) -> Iterator[str]:
    key = str(inputs.get("key", ""))
    fix = "set it under secrets.env and name it in the service's secretEnv (sensitive)"
    if is_secret_name(key):
        yield f"Vercel variable {key} is named like a secret but sensitive=false: {fix}"
    for finding in findings(inputs.get("value"), key):
        yield f"Vercel variable {finding} with sensitive=false: {fix}"


def _command_inputs(resource: Resource) -> Iterator[str]:
    for name in COMMAND_LINES:
        for finding in findings(resource.inputs.get(name), name):
            yield f"command line {finding}: pass secrets on stdin, as an Output.secret"
    if resource.secrets_unmarked:
        return
    for name in COMMAND_PAYLOADS:
        for finding in findings(_parse(resource.inputs.get(name)), name):
            yield f"plain command input {finding}: wrap it in pulumi.Output.secret"


def vercel_sensitive_explicit(resource: Resource, _: NoSettings) -> Iterator[str]:
    if not isinstance(resource.inputs.get("sensitive"), bool):
        yield (
            f"Vercel variable {resource.inputs.get('key')} does not set `sensitive`: "
            "say true (encrypted, unreadable) or false (public) explicitly"
        )


def command_quiet_logs(resource: Resource, _: NoSettings) -> Iterator[str]:
    logging = resource.inputs.get("logging")
    if logging not in ("stderr", "none"):
        yield (
            f"command logs its stdout (logging: {logging or 'the default, stdoutAndStderr'}); "
            "set logging to stderr or none so values stay out of Pulumi's logs"
        )


# --- Railway services: images and the monitoring servers -----------------------------------


def _railway_service(resource: Resource) -> Mapping[str, Any] | None:
    """The service of a Railway command's spec, when its stdin can be read."""
    spec = _parse(resource.inputs.get("stdin"))
    service = spec.get("service") if isinstance(spec, dict) else None
    return service if isinstance(service, dict) else None


def _is_public(service: Mapping[str, Any]) -> bool:
    return bool(service.get("domains")) or service.get("serviceDomain") is True


def images_pinned(resource: Resource, _: NoSettings) -> Iterator[str]:
    service = _railway_service(resource) or {}
    image = (service.get("source") or {}).get("image")
    if isinstance(image, str) and not IMAGE_REF.fullmatch(image):
        yield (
            f"Railway service {service.get('name')} runs image {image}, not pinned by digest: "
            "a tag can move under the same name; pin repository:version@sha256:<digest>"
        )


def monitoring_private(resource: Resource, _: NoSettings) -> Iterator[str]:
    service = _railway_service(resource) or {}
    name = service.get("name")
    start = str((service.get("settings") or {}).get("startCommand") or "")
    if name in PRIVATE_SERVERS and _is_public(service) and "--web.config.file=" not in start:
        yield (
            f"{name} has a public domain and no authentication (--web.config.file with basic "
            "auth): anyone could read the metrics or silence alerts; keep it on the private "
            "network, where Grafana and Prometheus reach it"
        )


def monitoring_authenticated(resource: Resource, _: NoSettings) -> Iterator[str]:
    """Prometheus and Alertmanager start with `--web.config.file` (basic auth), written from a
    secret: Railway's private network reaches them from every service of the environment, the
    public backend and worker included (monitoring.webauth)."""
    service = _railway_service(resource) or {}
    name = service.get("name")
    if name not in AUTHENTICATED:
        return
    start = str((service.get("settings") or {}).get("startCommand") or "")
    try:
        words = shlex.split(start)
    except ValueError:
        words = start.split()
    given = [w.partition("=")[2] for w in words if w.startswith("--web.config.file=")]
    manifest = str((service.get("variables") or {}).get("PIPELINE_FILES") or "")
    secret_paths = {p[2] for p in (line.split() for line in manifest.splitlines())
                    if len(p) == 3 and p[0] == "secret"}  # fmt: skip
    if not given or given[-1] not in secret_paths:
        what = "silence alerts or post fake ones" if name == "alertmanager" else "read every metric"
        yield (
            f"{name} starts without authentication (--web.config.file written from a secret): "
            f"any service on Railway's private network could {what}; deploy it with the stack's "
            f"start command and set secrets.{name}Password"
        )


def monitoring_protected(resource: Resource, _: NoSettings) -> Iterator[str]:
    service = _railway_service(resource) or {}
    name = service.get("name")
    if name in SERVERS and resource.in_production and resource.protect is False:
        yield (
            f"production's monitoring server {name} is not protected: `pulumi destroy` or a "
            "dropped line would take away the alerting that guards production; keep "
            "protect=True (the stack sets it for production)"
        )


# --- Production's automated rollback --------------------------------------------------------

ROLLBACK_SERVICE = "rollback"
# How the rollback service reads a boolean (pydantic): anything else, or nothing, is not "false".
_FALSE = frozenset({"false", "0", "off", "f", "n", "no"})


def rollback_armed(resource: Resource, settings: RollbackSettings) -> Iterator[str]:
    service = _railway_service(resource) or {}
    if service.get("name") != ROLLBACK_SERVICE or not resource.in_production:
        return
    variables = service.get("variables") or {}
    dry_run = variables.get("ROLLBACK_DRY_RUN")
    if dry_run is not None and str(dry_run).lower() not in _FALSE:
        yield (
            f"production's rollback service runs dry (ROLLBACK_DRY_RUN={dry_run}): it decides and "
            "reports but never rolls back; set rollback.dryRun to false"
        )
    source = service.get("source") or {}
    shipped_by = str(source.get("deployedBy") or "")
    expected = settings.pipeline_repository
    if expected is None:
        yield f"no pipelineRepository in the policy settings: {UNSET}"
    elif not shipped_by.startswith(f"{expected}:"):
        origin = shipped_by.partition(":")[0] or source.get("repo") or source.get("image")
        yield (
            f"production's rollback service is shipped from {origin or 'an unknown source'}, not "
            f"by {expected}'s deploy workflow: that code would hold production's tokens; set "
            f"rollback.repository to {expected} (or the policy settings' pipelineRepository)"
        )
    yield from _rollback_policy(variables.get("ROLLBACK_CONFIG"), settings)


@lru_cache(maxsize=64)
def _yaml(text: str) -> Any:
    """A rendered file's YAML, parsed once however many rules and stacks read it, with libyaml's
    parser where PyYAML has it (the SLO rule files made the pure-Python one most of a plan
    diff's time). Callers only read what it returns."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506


def _rollback_policy(text: Any, settings: RollbackSettings) -> Iterator[str]:
    try:
        policy = _yaml(text) if isinstance(text, str) else None
    except yaml.YAMLError:
        policy = None
    if not isinstance(policy, dict):
        yield "production's rollback service has no readable ROLLBACK_CONFIG to check"
        return
    triggers = policy.get("triggers") or {}
    for name in settings.required_triggers:
        if (triggers.get(name) or {}).get("enabled") is not True:
            yield (
                f"production's {name} rollback trigger is disabled: set "
                f"monitoring.triggers.{to_camel(name)}.enabled to true"
            )
    yield from _health_check_problems(triggers.get("health_check") or {}, settings)
    strategies = policy.get("strategies") or {}
    for name, needed in settings.required_actions.items():
        actions = (strategies.get(name) or {}).get("actions") or []
        missing = [action for action in needed if action not in actions]
        if missing:
            yield (
                f"production's {name} strategy no longer does {', '.join(missing)} (its actions: "
                f"{', '.join(map(str, actions)) or 'none'}): restore "
                f"monitoring.strategies.{name}.actions"
            )


def _duration(value: Any) -> timedelta | None:
    try:
        parsed = parse_duration(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, timedelta) else None


def _health_check_problems(health: Mapping[str, Any], settings: RollbackSettings) -> Iterator[str]:
    """A failing health check rolls production back no later than the spec says: after at most
    `maxHealthFailures` failed probes, all within `maxHealthWindow`."""
    thresholds = health.get("thresholds") or {}
    failures = thresholds.get("consecutive_failures")
    most, longest = settings.max_health_failures, settings.max_health_window
    if not isinstance(failures, int) or failures > most:
        yield (
            f"production rolls back after {failures} failed health checks, more than the spec's "
            f"{most}: set monitoring.triggers.healthCheck.consecutiveFailures to at most {most}"
        )
    window = _duration(thresholds.get("failure_window"))
    if window is None or window > longest:
        yield (
            f"production's health failures may spread over {thresholds.get('failure_window')}, "
            f"longer than the spec's {format_duration(longest)}: set "
            f"monitoring.triggers.healthCheck.failureWindow to at most {format_duration(longest)}"
        )
    interval = _duration(health.get("probe_interval"))
    if isinstance(failures, int) and interval is not None and (failures - 1) * interval > longest:
        yield (
            f"{failures} failed probes every {format_duration(interval)} take longer than the "
            f"spec's {format_duration(longest)}: lower monitoring.probeInterval"
        )


# --- Credentials go only to trusted hosts ---------------------------------------------------

ALERTMANAGER_FILE = "alertmanager/alertmanager.yml"
# Alertmanager receiver configs: the field that names where it connects, what it sends there,
# and the stack key that sets it.
_RECEIVER_DESTINATIONS = (
    ("webhook_configs", "url", "the rollback webhook token", "urls.rollback"),
    ("pagerduty_configs", "url", "the PagerDuty routing key", "monitoring.receivers.pagerdutyUrl"),
    ("email_configs", "smarthost", "the SMTP login", "monitoring.receivers.smtpSmarthost"),
)
# The rollback service's variables that name where it sends a credential.
_ROLLBACK_DESTINATIONS = {
    "SMTP_HOST": ("the SMTP login", "monitoring.receivers.smtpSmarthost"),
    "PAGERDUTY_URL": ("the PagerDuty routing key", "monitoring.receivers.pagerdutyUrl"),
    "RAILWAY_API_URL": ("the Railway token", "RAILWAY_API_URL (set by the program)"),
    "VERCEL_API_URL": ("the Vercel token", "VERCEL_API_URL (set by the program)"),
    "GITHUB_API_URL": ("the GitHub token", "GITHUB_API_URL (set by the program)"),
}


def _host(address: str) -> str:
    """The host of a URL, a host:port or a bare host."""
    try:
        host = urlsplit(address if "://" in address else f"//{address}").hostname
    except ValueError:
        return address
    return (host or address).rstrip(".").lower()


def _trusted(host: str, settings: HostSettings) -> bool:
    return host in settings.own_hosts or any(
        host == h or host.endswith(f".{h}") for h in settings.trusted_hosts
    )


def _alertmanager_destinations(text: str) -> Iterator[tuple[str, str, str]]:
    """(address, what goes there, stack key) for every credential alertmanager.yml sends."""
    try:
        document = _yaml(text)
    except yaml.YAMLError:
        return
    receivers = document.get("receivers") if isinstance(document, dict) else None
    for receiver in receivers if isinstance(receivers, list) else []:
        for configs, field, what, key in _RECEIVER_DESTINATIONS:
            for config in (receiver or {}).get(configs) or []:
                if configs == "webhook_configs" and not config.get("http_config"):
                    continue  # a webhook that sends no credential (the Watchdog's heartbeat)
                if isinstance(config.get(field), str):
                    yield config[field], what, key
                proxy = (config.get("http_config") or {}).get("proxy_url")
                if isinstance(proxy, str):
                    yield proxy, f"{what} (through a proxy)", "the program"


def _files_of(resource: Resource) -> Iterator[tuple[str, str]]:
    """(path, content) of the monitoring files a Stash or a monitoring server's spec holds."""
    stash = resource.inputs.get("input")
    if resource.type == STASH and isinstance(stash, Mapping):
        if isinstance(stash.get("content"), str):
            yield str(stash.get("path")), stash["content"]
        return
    variables = (_railway_service(resource) or {}).get("variables") or {}
    for line in str(variables.get("PIPELINE_FILES") or "").splitlines():
        kind, variable, path, *_ = [*line.split(), "", "", ""]
        # a `fill` file holds a placeholder where the entrypoint writes a secret at start-up
        if kind in ("file", "fill") and isinstance(variables.get(variable), str):
            yield path.lstrip("/"), variables[variable]


def credentials_to_trusted_hosts(resource: Resource, settings: HostSettings) -> Iterator[str]:
    found: list[tuple[str, str, str]] = []
    for path, content in _files_of(resource):
        if path.endswith(ALERTMANAGER_FILE):
            found += _alertmanager_destinations(content)
    service = _railway_service(resource) or {}
    if service.get("name") == ROLLBACK_SERVICE:
        variables = service.get("variables") or {}
        found += [
            (variables[name], what, key)
            for name, (what, key) in _ROLLBACK_DESTINATIONS.items()
            if isinstance(variables.get(name), str)
        ]
    for address, what, key in found:
        host = _host(address)
        if _known(address) and not _trusted(host, settings):
            yield (
                f"{what} would go to {host}, which is not a trusted host: set {key} to the "
                "stack's own or the provider's host, or add the host to trustedHosts"
            )


# --- Alert rules ---------------------------------------------------------------------------


def alert_rules_labelled(resource: Resource, _: NoSettings) -> Iterator[str]:
    stash = resource.inputs.get("input")
    if not isinstance(stash, Mapping) or not str(stash.get("path", "")).startswith(ALERT_RULES_DIR):
        return
    path, content = stash["path"], stash.get("content")
    if not isinstance(content, str) or not _known(content):
        yield f"{path}: the rule file's content cannot be read, so it cannot be checked"
        return
    try:
        document = _yaml(content) or {}
    except yaml.YAMLError as error:
        yield f"{path} is not valid YAML: {error}"
        return
    groups = document.get("groups") if isinstance(document, dict) else None
    if not isinstance(groups, list):
        yield f"{path} is not a Prometheus rule file (no `groups` list)"
        return
    for group in groups:
        for rule in (group or {}).get("rules") or []:
            if "alert" in rule:
                yield from _alert_problems(path, rule)


def _alert_problems(path: str, rule: Mapping[str, Any]) -> Iterator[str]:
    labels = rule.get("labels") or {}
    annotations = rule.get("annotations") or {}
    missing = [f"label {k}" for k in ("severity", "service") if not labels.get(k)]
    if not annotations.get("summary"):
        missing.append("annotation summary")
    where = f"{path}: alert {rule['alert']}"
    if missing:
        yield f"{where} lacks {', '.join(missing)}"
    severity = labels.get("severity")
    if severity and severity not in SEVERITIES:
        yield f"{where} has severity {severity}, not one of {', '.join(SEVERITIES)}"


# --- Least privilege: who publishes, who holds which token, what stays -----------------------

# The rollback service's settings that are platform tokens (rollback/settings.py names them).
_ROLLBACK_TOKENS = ("RAILWAY_API_TOKEN", "RAILWAY_TOKEN", "VERCEL_TOKEN", "GITHUB_TOKEN")
# A Railway service's secret variable NAME travels as the command's environment variable
# <prefix>NAME (components/railway/spec.py, SECRET_ENV_PREFIX): its key is public, its value not.
SECRET_ENV_PREFIX = "PIPELINE_SECRET_"


def _variable_names(resource: Resource, service: Mapping[str, Any]) -> set[str]:
    """Every variable a Railway service gets: plain ones from its spec, secret ones by name."""
    environment = resource.inputs.get("environment")
    secret = environment if isinstance(environment, Mapping) else {}
    return {
        *(service.get("variables") or {}),
        *(k.removeprefix(SECRET_ENV_PREFIX) for k in secret if k.startswith(SECRET_ENV_PREFIX)),
    }


def images_from_allowed_publishers(
    resource: Resource, settings: PublisherSettings
) -> Iterator[str]:
    service = _railway_service(resource) or {}
    image = (service.get("source") or {}).get("image")
    if (
        isinstance(image, str)
        and _known(image)
        and publisher(image) not in settings.allowed_publishers
    ):
        yield (
            f"Railway service {service.get('name')} runs {image}, published by "
            f"{publisher(image)!r}, not one of {', '.join(settings.allowed_publishers)}: it would "
            "receive the stack's alerting secrets; use the official image, or add the publisher "
            "to allowedPublishers once you trust it"
        )


def rollback_least_privilege(resource: Resource, _: NoSettings) -> Iterator[str]:
    """The rollback service, in any stack: shipped by the pipeline's own deploy workflow (never
    built by Railway from a branch on push), no platform token in dry run, and never an
    account-wide Railway token."""
    service = _railway_service(resource) or {}
    if service.get("name") != ROLLBACK_SERVICE:
        return
    source = service.get("source") or {}
    if "deployedBy" not in source:
        built = f"{source.get('repo')}@{source.get('branch')}" if "repo" in source else "an image"
        yield (
            f"the rollback service is built by Railway from {built}, which no reviewer of the "
            "stack gates: ship it from the pipeline's deploy workflow (a WorkflowSource, "
            "components/railway/stack.py)"
        )
    variables = service.get("variables") or {}
    held = [n for n in _ROLLBACK_TOKENS if n in _variable_names(resource, service)]
    dry = variables.get("ROLLBACK_DRY_RUN")
    if dry is not None and str(dry).lower() not in _FALSE and held:
        yield (
            f"the rollback service runs dry but holds {', '.join(held)}: a dry run calls no "
            "platform, so it gets no token"
        )
    if "RAILWAY_API_TOKEN" in held:
        yield (
            "the rollback service holds RAILWAY_API_TOKEN, an account or workspace token that "
            "reaches every project: give it a project token of its own environment "
            "(RAILWAY_TOKEN, secrets.railwayToken)"
        )


def production_retain_on_delete(resource: Resource, _: NoSettings) -> Iterator[str]:
    service = _railway_service(resource) or {}
    if service.get("name") and resource.in_production and resource.retain_on_delete is False:
        yield (
            f"production's Railway service {service.get('name')} is deleted with the stack "
            "(retainOnDelete off): a dropped line or `pulumi destroy` takes it and its data "
            "away; set railway.retainOnDelete to true (the default in production)"
        )


def _repository_of(resource: Resource) -> str | None:
    if resource.type == GITHUB_PROVIDER:
        return f"{resource.inputs.get('owner')}/*"
    repository = resource.inputs.get("repository")
    if resource.type.startswith("github:") and isinstance(repository, str):
        return f"*/{repository}"
    variables = (_railway_service(resource) or {}).get("variables") or {}
    target = variables.get("GITHUB_REPOSITORY")
    return target if isinstance(target, str) else None


def production_repository(resource: Resource, settings: RepositorySettings) -> Iterator[str]:
    """Production's GitHub protection and the rollback service's freeze act on the application
    repository, not on another one a changed github.repository points at."""
    target = _repository_of(resource)
    if not resource.in_production or target is None or not _known(target):
        return
    if settings.application_repository is None:
        yield f"no applicationRepository in the policy settings: {UNSET}"
        return
    owner, name = settings.application_repository.split("/")
    want_owner, want_name = target.split("/", 1)
    if want_owner not in ("*", owner) or want_name not in ("*", name):
        shown = target.replace("*/", "").replace("/*", "")
        yield (
            f"production acts on the GitHub repository {shown!r}, not "
            f"{settings.application_repository}: its reviewers, rulesets and freeze would guard "
            f"another repository; set github.repository to {settings.application_repository}"
        )


def reviewer_teams_have_access(
    resources: Sequence[Resource], _: NoSettings
) -> Iterator[tuple[Resource, str]]:
    """GitHub lets a team review a deployment only with read access to the repository: each
    team reviewer of production's environment is granted it by the stack itself."""
    granted = {
        (str(r.inputs.get("teamId")), r.inputs.get("repository"))
        for r in resources
        if r.type == GITHUB_TEAM_ACCESS and r.in_production
    }
    for environment in resources:
        if environment.type != GITHUB_ENVIRONMENT or not environment.in_production:
            continue
        repository = environment.inputs.get("repository")
        teams = [t for r in environment.inputs.get("reviewers") or [] for t in r.get("teams") or []]
        for team in teams:
            if _known(team) and (str(team), repository) not in granted:
                yield (
                    environment,
                    f"team {team} reviews production deployments but the stack grants it no "
                    f"access to {repository}: GitHub refuses or ignores such a reviewer; the "
                    "GitHub component grants each reviewing team read access (TeamRepository)",
                )


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


# --- Advisory: where a human should look ---------------------------------------------------


def self_review_allowed(resource: Resource, _: NoSettings) -> Iterator[str]:
    if resource.in_production and resource.inputs.get("preventSelfReview") is not True:
        yield (
            "the person who triggers a production deploy may approve it (preventSelfReview "
            "is off): fine with a single maintainer, worth a look once there are two"
        )


def branch_bypass(resource: Resource, _: NoSettings) -> Iterator[str]:
    """Who may pass which of production's rules, in words a reviewer reads on every preview."""
    if not resource.in_production:
        return
    rules = " and ".join(_RULES.get(rule, rule) for rule in _rules_of(resource.inputs))
    branch = ", ".join(ref.removeprefix("refs/heads/") for ref in _protected_refs(resource))
    for actor in resource.inputs.get("bypassActors") or []:
        kind, mode, actor_id = (actor.get(k) for k in ("actorType", "bypassMode", "actorId"))
        if kind == "User" and mode == "pull_request":
            yield (
                f"GitHub user {actor_id} may merge their own pull requests into {branch} past "
                f"{rules} (github.mergeBypass), never push there directly; worth a look once there "
                "are two maintainers"
            )
        elif kind == "Integration":
            yield (
                f"the GitHub App {actor_id} may push to {branch} past {rules} ({mode}): keep it "
                "production's own App (github.committerAppId), installed on this repository only"
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
