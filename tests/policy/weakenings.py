"""Production stack files weakened in each guarded way: the stack-file edit, the rule that must
fail, the resource it names and words of its message (the key to change). `OFFLINE_ONLY`: the
weakenings only the offline check can see (CrossGuard's Python SDK does not hand a policy the
resource's retainOnDelete)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monitoring.images import IMAGES
from tests.conftest import merged

PROJECT = "autonomica-pipeline"
GITHUB = f"{PROJECT}:github"
Edit = Callable[[dict[str, Any]], None]


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


NOTIFY_ONLY = {"timeout": "30s", "actions": ["investigate_cause"]}

WEAKENINGS = {
    "no-reviewer": (
        github(lambda gh: gh.update(reviewers=[])),
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
        _set("rollback", repository="mallory/autonomica-pipeline"),
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
        "backend",
        "set railway.retainOnDelete to true",
    ),
    "swapped-repository": (
        github(lambda gh: gh.update(repository="mallory/autonomica")),
        "production-repository",
        "rollback",
        "its reviewers, rulesets and freeze would guard another repository; set github.repository",
    ),
}
OFFLINE_ONLY = frozenset({"retain-on-delete-off"})
