"""Production stack files weakened in each guarded way: the stack-file edit, the rule that must
fail, the resource it names and words of its message (the key to change). `OFFLINE_ONLY`: the
weakenings only the offline check can see (CrossGuard's Python SDK does not hand a policy the
resource's retainOnDelete)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitoring.images import IMAGES
from policy import settings as policy_settings
from tests.conftest import NAMESPACE, PROJECT_DIR, merged, stack_config, validated_stack

PROJECT = NAMESPACE
GITHUB = f"{PROJECT}:github"
Edit = Callable[[dict[str, Any]], None]
MAINTAINER = "a-maintainer"  # a login the tests name


def github(edit: Edit) -> Edit:
    def apply(config: dict[str, Any]) -> None:
        edit(config[GITHUB])

    return apply


def _set(key: str, **values: Any) -> Edit:
    return lambda config: config[f"{PROJECT}:{key}"].update(values)


def _monitoring(**values: Any) -> Edit:
    return lambda config: config.update(
        {f"{PROJECT}:monitoring": merged(config[f"{PROJECT}:monitoring"], values)}
    )


def _webhook_elsewhere(config: dict[str, Any]) -> None:
    config[f"{PROJECT}:monitoring"] = merged(
        config[f"{PROJECT}:monitoring"], {"servers": {"hosting": "external"}}
    )
    config[f"{PROJECT}:urls"]["rollback"] = "https://rollback.evil.example"


def _foreign_image(config: dict[str, Any]) -> None:
    """A pinned Prometheus from another publisher, which the stack file itself lets in."""
    image = IMAGES["prometheus"].replace("prom/", "mallory/", 1)
    config[f"{PROJECT}:monitoring"] = merged(
        config[f"{PROJECT}:monitoring"], {"servers": {"images": {"prometheus": image}}}
    )
    config[f"{PROJECT}:railway"]["allowedImagePublishers"] = ["prom", "grafana", "mallory"]


def _health_check(**values: Any) -> Edit:
    return _monitoring(triggers={"healthCheck": values})


def _fork(key: str, config: dict[str, Any]) -> str:
    """The stack's repository under `key`, as another owner's fork of it."""
    _, name = config[f"{PROJECT}:{key}"]["repository"].split("/")
    return f"mallory/{name}"


RAILWAY_SERVICE = next(iter(validated_stack("production").of("railway")))
NOTIFY_ONLY = {"timeout": "30s", "actions": ["investigate_cause"]}

WEAKENINGS = {
    "no-reviewer": (
        # Someone may still merge (a named maintainer), or the config itself refuses the stack.
        github(
            lambda gh: gh.update(reviewers=[], mergeBypass=gh.get("mergeBypass") or [MAINTAINER])
        ),
        "production-environment-protection",
        "github-environment",
        "no required reviewer",
    ),
    "wait-timer-0": (
        github(lambda gh: gh.update(waitTimer=0)),
        "production-environment-protection",
        "github-environment",
        "waits 0 minutes",
    ),
    "protected-branches": (
        github(lambda gh: gh.update(deploymentBranchPolicy="protected")),
        "production-deploys-only-from-main",
        "github-environment",
        "custom branch policies",
    ),
    "deploys-from-develop": (
        github(lambda gh: gh.update(branch="develop")),
        "production-deploys-only-from-main",
        "github-branch-policy",
        "'develop'",
    ),
    "admins-not-bound": (
        github(lambda gh: gh.update(enforceAdmins=False)),
        "production-branch-protection",
        "github-checks-ruleset",
        "admins and other bypass actors are not bound",
    ),
    "no-approving-review": (
        github(lambda gh: gh.update(requiredApprovingReviews=0)),
        "production-branch-protected",
        "github-branch-ruleset",
        "0 approving reviews",
    ),
    "other-ci-check": (
        github(lambda gh: gh.update(requiredChecks=["lint"])),
        "production-branch-protected",
        "github-branch-ruleset",
        "missing: test-and-quality",
    ),
    "rollback-dry-run": (
        _set("rollback", dryRun=True),
        "production-rollback-armed",
        "rollback",
        "set rollback.dryRun to false",
    ),
    "rollback-from-a-fork": (
        lambda config: config[f"{PROJECT}:rollback"].update(repository=_fork("rollback", config)),
        "production-rollback-armed",
        "rollback",
        "set rollback.repository",
    ),
    "health-trigger-off": (
        _monitoring(triggers={"healthCheck": {"enabled": False}}),
        "production-rollback-armed",
        "rollback",
        "set monitoring.triggers.healthCheck.enabled to true",
    ),
    "business-trigger-off": (
        _monitoring(triggers={"business": {"enabled": False}}),
        "production-rollback-armed",
        "rollback",
        "set monitoring.triggers.business.enabled to true",
    ),
    "immediate-only-notifies": (
        _monitoring(
            strategies={
                "immediate": NOTIFY_ONLY | {"notifications": ["pagerduty", "slack", "email"]}
            }
        ),
        "production-rollback-armed",
        "rollback",
        "restore monitoring.strategies.immediate.actions",
    ),
    "admins-bypass": (
        github(lambda gh: gh.update(canAdminsBypass=True)),
        "production-admin-bypass",
        "github-environment",
        "set github.canAdminsBypass to false",
    ),
    "pagerduty-key-elsewhere": (
        _monitoring(receivers={"pagerdutyUrl": "https://events.pagerduty.com.evil.example/v2"}),
        "credentials-to-trusted-hosts",
        "alertmanager",
        "routing key would go to events.pagerduty.com.evil.example, which is not a trusted host: "
        "set monitoring.receivers.pagerdutyUrl",
    ),
    "image-from-another-publisher": (
        _foreign_image,
        "images-from-allowed-publishers",
        "prometheus",
        "published by 'mallory'",
    ),
    "health-check-more-failures": (
        _health_check(consecutiveFailures=5),
        "production-rollback-armed",
        "rollback",
        "set monitoring.triggers.healthCheck.consecutiveFailures to at most",
    ),
    "health-check-longer-window": (
        _health_check(failureWindow="10m"),
        "production-rollback-armed",
        "rollback",
        "set monitoring.triggers.healthCheck.failureWindow to at most",
    ),
    "retain-on-delete-off": (
        _set("railway", retainOnDelete=False),
        "production-retain-on-delete",
        RAILWAY_SERVICE,
        "set railway.retainOnDelete to true",
    ),
    "swapped-repository": (
        lambda config: config[GITHUB].update(repository=_fork("github", config)),
        "production-repository",
        "rollback",
        "its reviewers, rulesets and freeze would guard another repository; set github.repository",
    ),
}
OFFLINE_ONLY = frozenset({"retain-on-delete-off"})

# Stack edits that name another host for a credential: the settings follow the stack file (its
# own hosts are trusted), so these pass; the host they replace is then refused.
OWN_HOSTS = {
    "smtp-login-elsewhere": (
        _monitoring(receivers={"smtpSmarthost": "smtp.evil.example:587"}),
        "credentials-to-trusted-hosts",
        "rollback",
        "the SMTP login would go to smtp.evil.example",
    ),
    "webhook-token-elsewhere": (
        _webhook_elsewhere,
        "credentials-to-trusted-hosts",
        "monitoring-alertmanager/alertmanager.yml",
        "the rollback webhook token would go to rollback.evil.example",
    ),
}


def _committed(key: str, field: str) -> str:
    values = policy_settings.stack_values(stack_config("production"), PROJECT)
    return str(values[key][field])


# Weakenings of a value the settings take from the stack file: they fail once the settings
# file pins the committed value (settings file content per weakening).
PINS: dict[str, Callable[[], dict[str, Any]]] = {
    "rollback-from-a-fork": lambda: {"pipelineRepository": _committed("rollback", "repository")},
    "swapped-repository": lambda: {"applicationRepository": _committed("github", "repository")},
}


def advisories(stack: str) -> list[tuple[str, str]]:
    """(rule, resource name) of every advisory the stack's plan gets, as its stack file grants
    them: in a production-kind stack its committer App on the checks and review rulesets, each
    mergeBypass maintainer on the review ruleset, self-review while preventSelfReview is off."""
    config = validated_stack(stack)
    if config.environment.kind != "production":
        return []
    gh, bypass = config.github, "production-branch-bypass"
    found = [(bypass, "github-checks-ruleset"), (bypass, "github-review-ruleset")]
    found = found if gh.committer_app_id else []
    found += [(bypass, "github-review-ruleset") for _ in gh.merge_bypass]
    if not gh.prevent_self_review:
        found.append(("production-self-review", "github-environment"))
    return sorted(found)


def pack_config(stack: str, edit: Edit | None = None, pinned: Any = None) -> dict[str, Any]:
    """The policy settings of the stack file edited by `edit`, as every tool resolves them:
    the committed `policy/settings/<stack>.yaml`, or the settings file content `pinned`."""
    config = copy.deepcopy(stack_config(stack))
    if edit:
        edit(config)
    values = policy_settings.stack_values(config, PROJECT)
    if pinned is None:
        return policy_settings.load(PROJECT_DIR, stack, values).pack_config()
    path = Path(f"{stack}.yaml")
    return policy_settings.resolve(pinned, values, stack, path).pack_config()
