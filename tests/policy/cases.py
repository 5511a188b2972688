"""Hand-made resources for the rule tests: one that passes and one that fails per rule."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from monitoring.images import IMAGES
from policy import settings as policy_settings
from policy.checks.branch import ProtectionSettings
from policy.checks.rollback import SECRET_ENV_PREFIX
from policy.resources import (
    COMMAND,
    GITHUB_BRANCH_PROTECTION,
    GITHUB_DEPLOYMENT_POLICY,
    GITHUB_ENV_VARIABLE,
    GITHUB_ENVIRONMENT,
    GITHUB_PROVIDER,
    GITHUB_RULESET,
    GITHUB_TEAM_ACCESS,
    STASH,
    VERCEL_VARIABLE,
    Resource,
)
from tests.conftest import NAMESPACE as PROJECT
from tests.conftest import PROJECT_DIR, validated_stack

ACTIONS = ProtectionSettings().checks_integration_id  # GitHub Actions
# The production stack's policy settings, of the project under test: the repositories and hosts
# it names. The resources below are that product's, as its stack would declare them.
CONFIG = policy_settings.load(PROJECT_DIR, "production").pack_config()
PIPELINE = CONFIG["production-rollback-armed"]["pipelineRepository"]
SHIPPED = {"deployedBy": f"{PIPELINE}: .github/workflows/deploy.yml"}
FORK = f"mallory/{PIPELINE.partition('/')[2]}"  # the pipeline's code, from someone else's fork
APP_REPOSITORY = CONFIG["production-repository"]["applicationRepository"]
REPOSITORY = APP_REPOSITORY.partition("/")[2]  # GitHub's resources take the name only
# The stack's own SMTP host (one of the hosts its credentials may go to).
SMTP = validated_stack("production").monitoring.receivers.smtp_smarthost
SMTP_HOST = SMTP.rpartition(":")[0]


def resource(
    type_: str,
    inputs: dict[str, Any],
    kind: str = "production",
    name: str = "r",
    stack: str | None = None,
) -> Resource:
    """A resource of an environment of `kind`, in a stack named `stack` (default: the kind)."""
    urn = f"urn:pulumi:{stack or kind}::{PROJECT}::{type_}::{name}"
    return Resource(type=type_, urn=urn, name=name, inputs=inputs, kind=kind)


def environment(**changes: Any) -> dict[str, Any]:
    return {
        "environment": "production",
        "repository": REPOSITORY,
        "reviewers": [{"teams": [], "users": [1016705144]}],
        "waitTimer": 5,
        "preventSelfReview": True,
        "canAdminsBypass": False,
        "deploymentBranchPolicy": {"customBranchPolicies": True, "protectedBranches": False},
    } | changes


def ruleset(**changes: Any) -> dict[str, Any]:
    return {
        "conditions": {"refName": {"excludes": [], "includes": ["refs/heads/main"]}},
        "enforcement": "active",
        "name": "deploy-production",
        "repository": REPOSITORY,
        "rules": {
            "pullRequest": {"requiredApprovingReviewCount": 1},
            "requiredStatusChecks": {
                "requiredChecks": [{"context": "test-and-quality", "integrationId": ACTIONS}]
            },
        },
        "target": "branch",
    } | changes


def branch_protection(**changes: Any) -> dict[str, Any]:
    return {
        "pattern": "main",
        "repositoryId": REPOSITORY,
        "enforceAdmins": True,
        "requiredStatusChecks": [{"contexts": ["test-and-quality"], "strict": True}],
        "requiredPullRequestReviews": [{"requiredApprovingReviewCount": 1}],
    } | changes


def variable(name: str, value: str) -> dict[str, Any]:
    return {
        "environment": "production",
        "repository": REPOSITORY,
        "variableName": name,
        "value": value,
    }


def vercel_variable(key: str, value: str, **changes: Any) -> dict[str, Any]:
    return {
        "key": key,
        "projectId": "p",
        "sensitive": False,
        "targets": ["production"],
        "value": value,
    } | changes


def command(**changes: Any) -> dict[str, Any]:
    return {
        "create": ".venv/bin/python -m components.railway apply",
        "update": ".venv/bin/python -m components.railway apply",
        "delete": ".venv/bin/python -m components.railway delete",
        "logging": "stderr",
        "stdin": "[secret]",
        "triggers": ["5c1f2a7e-93d4-4b8e-a6f0-2d7c9e41b3a8", "production", "backend"],
    } | changes


ALERTS_OK = """
groups:
- name: availability
  rules:
  - record: job:up:sum
    expr: sum(up)
  - alert: BackendDown
    expr: up == 0
    labels: {severity: critical, service: backend, environment: production}
    annotations: {summary: Backend is down}
"""

ALERTS_BAD = """
groups:
- name: availability
  rules:
  - alert: BackendDown
    expr: up == 0
    labels: {environment: production}
    annotations: {description: no summary here}
"""


def server(
    name: str, *, kind: str = "production", protect: bool = True, **service: Any
) -> Resource:
    """A Railway command for a monitoring server, as the stack declares it."""
    body = {
        "name": name,
        "source": {"image": IMAGES[name]},
        "settings": {"startCommand": "/bin/sh -c 'eval \"$PIPELINE_ENTRYPOINT\"' x /bin/x"},
        "domains": [],
        "serviceDomain": False,
    } | service
    spec = json.dumps({"projectId": "p", "environment": kind, "service": body})
    found = resource(COMMAND, command(stdin=spec), kind=kind, name=name)
    return dataclasses.replace(found, protect=protect)


ROLLBACK_POLICY = """
triggers:
  health_check:
    enabled: true
    thresholds: {consecutive_failures: 3, failure_window: 2m}
    probe_interval: 15s
  performance: {enabled: true}
  business: {enabled: true}
strategies:
  immediate: {actions: [rollback_all_services, freeze_deployments]}
  fast: {actions: [rollback_affected_service, investigate_cause]}
  gradual: {actions: [reduce_traffic, monitor, rollback_if_needed]}
"""


def rollback(
    *, kind: str = "production", source: dict[str, str] | None = None, **variables: str
) -> Resource:
    """The rollback service's Railway command, as the stack declares it."""
    body = {
        "name": "rollback",
        "source": source or SHIPPED,
        "variables": {
            "ROLLBACK_DRY_RUN": "false",
            "ROLLBACK_CONFIG": ROLLBACK_POLICY,
            "SMTP_HOST": SMTP_HOST,
        }
        | variables,
    }
    spec = json.dumps({"projectId": "p", "environment": kind, "service": body})
    return resource(COMMAND, command(stdin=spec), kind=kind, name="rollback")


ALERTMANAGER = f"""
receivers:
- name: rollback-webhook
  webhook_configs:
  - url: http://rollback.railway.internal:8080/v1/alertmanager
    http_config:
      authorization: {{type: Bearer, credentials_file: /etc/alertmanager/secrets/token}}
- name: watchdog
  webhook_configs:
  - url: https://hc-ping.com/a-heartbeat-check
- name: pagerduty-critical
  pagerduty_configs:
  - url: https://events.pagerduty.com/v2/enqueue
- name: email
  email_configs:
  - smarthost: {SMTP}
"""


def acting_rollback(*tokens: str) -> Resource:
    """The rollback service with its tokens as the stack passes them: secret, by name only."""
    found = rollback()
    names = tokens or ("RAILWAY_TOKEN", "VERCEL_TOKEN", "GITHUB_TOKEN")
    environment = {f"{SECRET_ENV_PREFIX}{name}": "[secret]" for name in names}
    return dataclasses.replace(found, inputs={**found.inputs, "environment": environment})


def team_access(team: int, repository: str = REPOSITORY) -> Resource:
    inputs = {"teamId": str(team), "repository": repository, "permission": "pull"}
    return resource(GITHUB_TEAM_ACCESS, inputs, name=f"team-{team}")


def alertmanager(content: str = ALERTMANAGER) -> Resource:
    """The Alertmanager server's command, which carries alertmanager.yml in a variable."""
    files = "file PIPELINE_FILE_AM /etc/alertmanager/alertmanager.yml\n"
    return server("alertmanager", variables={"PIPELINE_FILES": files, "PIPELINE_FILE_AM": content})


def stash(path: str, content: str) -> dict[str, Any]:
    return {"input": {"path": path, "sha256": "0" * 64, "content": content}}


CHECKED = {
    "requiredStatusChecks": {"requiredChecks": [{"context": "ci", "integrationId": ACTIONS}]}
}
REVIEW = {"requiredApprovingReviewCount": 1}
DEPLOY_APP = CONFIG["production-branch-protection"]["deployAppId"]
APP = {"actorId": DEPLOY_APP, "actorType": "Integration", "bypassMode": "always"}
MAINTAINER = {"actorId": 9, "actorType": "User", "bypassMode": "pull_request"}
HEALTHY = "thresholds: {consecutive_failures: 3, failure_window: 2m}"


def guarded(*actors: dict[str, Any], kind: str = "production", **rules_of: Any) -> Resource:
    """A ruleset on the production branch with these bypass actors and, if given, these rules."""
    changes: dict[str, Any] = {"bypassActors": list(actors)} if actors else {}
    if rules_of:
        changes["rules"] = rules_of
    return resource(GITHUB_RULESET, ruleset(**changes), kind=kind)


# rule name -> (passing resources, failing resources with a word the message must contain)
CASES: dict[str, tuple[list[Resource], list[tuple[Resource, str]]]] = {
    "production-environment-protection": (
        [
            resource(GITHUB_ENVIRONMENT, environment()),
            # Staging may deploy without review or wait.
            resource(
                GITHUB_ENVIRONMENT,
                environment(environment="staging", reviewers=[], waitTimer=0),
                kind="staging",
            ),
        ],
        [
            (resource(GITHUB_ENVIRONMENT, environment(reviewers=[])), "reviewer"),
            (resource(GITHUB_ENVIRONMENT, environment(waitTimer=0)), "minimum of 5"),
            # A stack named otherwise, of kind production, gets production's rules.
            (
                resource(GITHUB_ENVIRONMENT, environment(waitTimer=1), stack="production-eu"),
                "waits 1 minutes",
            ),
        ],
    ),
    "production-deploys-only-from-main": (
        [
            resource(GITHUB_ENVIRONMENT, environment()),
            resource(
                GITHUB_DEPLOYMENT_POLICY,
                {"branchPattern": "main", "environment": "production"},
            ),
            resource(
                GITHUB_DEPLOYMENT_POLICY,
                {"branchPattern": "develop", "environment": "staging"},
                kind="staging",
            ),
        ],
        [
            (
                resource(
                    GITHUB_ENVIRONMENT,
                    environment(
                        deploymentBranchPolicy={
                            "customBranchPolicies": False,
                            "protectedBranches": True,
                        }
                    ),
                ),
                "custom branch policies",
            ),
            (
                resource(GITHUB_ENVIRONMENT, environment(deploymentBranchPolicy=None)),
                "custom",
            ),
            (
                resource(
                    GITHUB_DEPLOYMENT_POLICY,
                    {"branchPattern": "develop", "environment": "production"},
                ),
                "'develop'",
            ),
            (
                resource(
                    GITHUB_DEPLOYMENT_POLICY,
                    {"branchPattern": "*", "environment": "production"},
                ),
                "only 'main'",
            ),
        ],
    ),
    "production-branch-protection": (
        [
            guarded(),
            # The app that commits the managed workflows, past the checks and the review rule
            # only: reported by an advisory rule instead.
            guarded({"actorId": DEPLOY_APP, "actorType": "Integration"}),
            # Nobody may pass the ruleset that forbids deleting and force-pushing.
            guarded(deletion=True, nonFastForward=True),
            resource(GITHUB_BRANCH_PROTECTION, branch_protection()),
            guarded({"actorId": 5, "actorType": "RepositoryRole"}, kind="staging"),
            # A named maintainer past the review rule only: no check on this ruleset to skip.
            guarded(MAINTAINER, pullRequest=REVIEW),
        ],
        [
            (guarded({"actorId": 5, "actorType": "RepositoryRole"}), "bypass"),
            # A maintainer's merge bypass on the ruleset that holds the checks skips them.
            (guarded(MAINTAINER), "bypass"),
            (guarded(MAINTAINER | {"bypassMode": "always"}, pullRequest=REVIEW), "bypass"),
            (resource(GITHUB_RULESET, ruleset(enforcement="evaluate")), "not enforced"),
            # Not "always for everything": an App past deletion and force-pushes too.
            (
                guarded(APP, deletion=True, nonFastForward=True, **CHECKED),
                f"GitHub App {DEPLOY_APP} may bypass deletion, force-pushes: no one may",
            ),
            (
                guarded(requiredStatusChecks={"requiredChecks": [{"context": "ci"}]}),
                "the required check ci is matched by name only",
            ),
            (
                guarded(
                    requiredStatusChecks={"requiredChecks": [{"context": "ci", "integrationId": 9}]}
                ),
                "or comes from app 9",
            ),
            (
                resource(GITHUB_BRANCH_PROTECTION, branch_protection(enforceAdmins=False)),
                "admins",
            ),
            (
                resource(
                    GITHUB_BRANCH_PROTECTION, branch_protection(requiredPullRequestReviews=[])
                ),
                "0 approving reviews",
            ),
        ],
    ),
    "no-secret-in-plain-channel": (
        [
            resource(GITHUB_ENV_VARIABLE, variable("API_URL", "https://api.example.test")),
            resource(
                GITHUB_ENV_VARIABLE,
                variable("VERCEL_PROJECT_ID", "prj_a1B2c3D4e5F6g7H8i9J0k1L2"),
            ),
            resource(VERCEL_VARIABLE, vercel_variable("NEXT_PUBLIC_API_URL", "[secret]")),
            resource(
                VERCEL_VARIABLE,
                vercel_variable("DATABASE_PASSWORD", "hunter2", sensitive=True),
            ),
            resource(COMMAND, command()),
            resource(COMMAND, command(stdin='{"service": {"variables": {"PORT": "8000"}}}')),
        ],
        [
            (
                resource(GITHUB_ENV_VARIABLE, variable("DEPLOY_TOKEN", "[secret]")),
                "named like a secret",
            ),
            (
                resource(GITHUB_ENV_VARIABLE, variable("NOTES", "ghp_" + "a1B2c3D4e5" * 4)),
                "GitHub token",
            ),
            (
                resource(
                    GITHUB_ENV_VARIABLE,
                    variable("DB", "postgres://app:s3cret@db.internal:5432/app"),
                ),
                "URL with a user and password",
            ),
            (
                resource(GITHUB_ENV_VARIABLE, variable("BUILD_ID", "Zk3qP9vX2mL8wR4tY7nB1cJ6")),
                "high-entropy",
            ),
            (
                resource(VERCEL_VARIABLE, vercel_variable("STRIPE_SECRET_KEY", "[secret]")),
                "sensitive=false",
            ),
            (
                resource(
                    VERCEL_VARIABLE,
                    vercel_variable("NEXT_PUBLIC_SLACK", "xoxb-1234567890-abcdef"),
                ),
                "Slack token",
            ),
            (
                resource(
                    COMMAND,
                    command(stdin='{"service": {"variables": {"REDIS_PASSWORD": "pw"}}}'),
                ),
                "stdin.service.variables.REDIS_PASSWORD",
            ),
            (
                resource(
                    COMMAND,
                    command(create="RAILWAY_TOKEN=ghp_" + "x1Y2z3" * 6 + " railway up"),
                ),
                "command line",
            ),
        ],
    ),
    "vercel-sensitive-explicit": (
        [resource(VERCEL_VARIABLE, vercel_variable("NODE_ENV", "production"))],
        [
            (
                resource(
                    VERCEL_VARIABLE,
                    {
                        k: v
                        for k, v in vercel_variable("NODE_ENV", "production").items()
                        if k != "sensitive"
                    },
                ),
                "NODE_ENV",
            )
        ],
    ),
    "command-logs-without-values": (
        [resource(COMMAND, command()), resource(COMMAND, command(logging="none"))],
        [
            (resource(COMMAND, command(logging="stdoutAndStderr")), "stdoutAndStderr"),
            (
                resource(COMMAND, {k: v for k, v in command().items() if k != "logging"}),
                "default",
            ),
        ],
    ),
    "images-pinned-by-digest": (
        [server("prometheus"), server("grafana"), resource(COMMAND, command())],
        [
            (server("prometheus", source={"image": "prom/prometheus:v2.53.0"}), "not pinned"),
            (server("grafana", source={"image": "grafana/grafana-oss:latest"}), "digest"),
        ],
    ),
    "monitoring-private": (
        [
            server("prometheus"),
            server("grafana", domains=["grafana.example.test"]),
            server(
                "prometheus",
                domains=["prometheus.example.test"],
                settings={"startCommand": "x /bin/prometheus --web.config.file=/etc/web.yml"},
            ),
        ],
        [
            (server("prometheus", domains=["prometheus.example.test"]), "public domain"),
            (server("alertmanager", serviceDomain=True), "no authentication"),
            (server("alertmanager", kind="staging", serviceDomain=True), "private network"),
        ],
    ),
    "monitoring-authenticated": (
        [
            server("blackbox-exporter"),
            server(
                "alertmanager",
                settings={"startCommand": "sh x /bin/alertmanager --web.config.file=/etc/web.yml"},
                variables={"PIPELINE_FILES": "secret ALERTMANAGER_WEB_CONFIG /etc/web.yml\n"},
            ),
        ],
        [
            (server("prometheus"), "read every metric"),
            (server("alertmanager"), "silence alerts or post fake ones"),
            (  # a web config that is not written from a secret: whose hash is it?
                server(
                    "alertmanager",
                    settings={"startCommand": "sh x /bin/alertmanager --web.config.file=/w.yml"},
                    variables={"PIPELINE_FILES": "file PIPELINE_FILE_W /w.yml\n"},
                ),
                "secrets.alertmanagerPassword",
            ),
        ],
    ),
    "production-monitoring-protected": (
        [
            server("alertmanager"),
            server("alertmanager", kind="staging", protect=False),
            resource(COMMAND, command()),  # a secret or unreadable stdin: not judged
        ],
        [
            (server("prometheus", protect=False), "not protected"),
            (server("grafana", protect=False), "protect=True"),
        ],
    ),
    "alert-rules-labelled": (
        [
            resource(STASH, stash("prometheus/rules/alerts.yml", ALERTS_OK)),
            # Only rule files are alert rules.
            resource(STASH, stash("prometheus/prometheus.yml", "global: {}")),
        ],
        [
            (
                resource(STASH, stash("prometheus/rules/alerts.yml", ALERTS_BAD)),
                "BackendDown lacks label severity, label service, annotation summary",
            ),
            (
                resource(
                    STASH,
                    stash("prometheus/rules/alerts.yml", ALERTS_OK.replace("critical", "page")),
                ),
                "severity page",
            ),
            (
                resource(STASH, stash("prometheus/rules/alerts.yml", "groups: [")),
                "not valid YAML",
            ),
            (
                resource(STASH, stash("prometheus/rules/alerts.yml", "[secret]")),
                "cannot be read",
            ),
        ],
    ),
    "production-rollback-armed": (
        [
            rollback(),
            rollback(ROLLBACK_DRY_RUN="true", kind="staging"),  # staging decides, never acts
            server("prometheus"),  # not the rollback service
            resource(COMMAND, command()),  # a stdin that cannot be read: not judged
        ],
        [
            (rollback(ROLLBACK_DRY_RUN="true"), "set rollback.dryRun to false"),
            (rollback(ROLLBACK_DRY_RUN="1"), "runs dry (ROLLBACK_DRY_RUN=1)"),
            (
                rollback(source={"deployedBy": f"{FORK}: deploy.yml"}),
                f"shipped from {FORK}, not by {PIPELINE}'s deploy workflow",
            ),
            (
                rollback(source={"repo": PIPELINE, "branch": "main"}),
                f"set rollback.repository to {PIPELINE}",
            ),
            (
                rollback(ROLLBACK_CONFIG=ROLLBACK_POLICY.replace("failures: 3", "failures: 6")),
                "rolls back after 6 failed health checks, more than the spec's 3: set "
                "monitoring.triggers.healthCheck.consecutiveFailures to at most 3",
            ),
            (
                rollback(ROLLBACK_CONFIG=ROLLBACK_POLICY.replace("window: 2m", "window: 30m")),
                "monitoring.triggers.healthCheck.failureWindow to at most 2m",
            ),
            (
                rollback(ROLLBACK_CONFIG=ROLLBACK_POLICY.replace(HEALTHY, "thresholds: {}")),
                "failed health checks",
            ),
            (
                rollback(ROLLBACK_CONFIG=ROLLBACK_POLICY.replace("interval: 15s", "interval: 5m")),
                "3 failed probes every 5m take longer than the spec's 2m",
            ),
            (
                rollback(ROLLBACK_CONFIG=ROLLBACK_POLICY.replace("business: {enabled: true}", "")),
                "set monitoring.triggers.business.enabled to true",
            ),
            (
                rollback(
                    ROLLBACK_CONFIG=ROLLBACK_POLICY.replace(
                        "enabled: true\n    thresholds", "enabled: false\n    thresholds"
                    )
                ),
                "monitoring.triggers.healthCheck.enabled",
            ),
            (
                rollback(
                    ROLLBACK_CONFIG=ROLLBACK_POLICY.replace(
                        "[rollback_all_services, freeze_deployments]", "[investigate_cause]"
                    )
                ),
                "immediate strategy no longer does rollback_all_services, freeze_deployments "
                "(its actions: investigate_cause): restore monitoring.strategies.immediate.actions",
            ),
            (rollback(ROLLBACK_CONFIG="[not, a, policy"), "no readable ROLLBACK_CONFIG"),
        ],
    ),
    "credentials-to-trusted-hosts": (
        [
            rollback(),
            alertmanager(),
            resource(STASH, stash("alertmanager/alertmanager.yml", ALERTMANAGER)),
            # Staging's credentials are guarded too, with the same hosts.
            rollback(kind="staging"),
            resource(STASH, stash("prometheus/prometheus.yml", "global: {}")),
        ],
        [
            (
                alertmanager(
                    ALERTMANAGER.replace("events.pagerduty.com", "pagerduty.evil.example")
                ),
                "the PagerDuty routing key would go to pagerduty.evil.example, which is not a "
                "trusted host: set monitoring.receivers.pagerdutyUrl",
            ),
            (
                resource(
                    STASH,
                    stash(
                        "alertmanager/alertmanager.yml",
                        ALERTMANAGER.replace("rollback.railway.internal", "hooks.evil.example"),
                    ),
                ),
                "the rollback webhook token would go to hooks.evil.example",
            ),
            (
                # A look-alike of the stack's own domain is another domain.
                alertmanager(ALERTMANAGER.replace(SMTP_HOST, f"{SMTP_HOST}.evil")),
                f"the SMTP login would go to {SMTP_HOST}.evil",
            ),
            (rollback(SMTP_HOST="mail.evil.example"), "set monitoring.receivers.smtpSmarthost"),
            (rollback(GITHUB_API_URL="https://api.github.evil"), "the GitHub token would go to"),
            (
                alertmanager(
                    ALERTMANAGER.replace(
                        "  - url: https://events.pagerduty.com/v2/enqueue",
                        "  - url: https://events.pagerduty.com/v2/enqueue\n"
                        "    http_config: {proxy_url: 'http://proxy.evil.example:3128'}",
                    )
                ),
                "the PagerDuty routing key (through a proxy) would go to proxy.evil.example",
            ),
        ],
    ),
    "images-from-allowed-publishers": (
        [server("prometheus"), server("grafana"), resource(COMMAND, command())],
        [
            (
                server(
                    "prometheus", source={"image": IMAGES["prometheus"].replace("prom/", "promm/")}
                ),
                "published by 'promm', not one of prom, grafana",
            ),
            (
                server("grafana", kind="staging", source={"image": "ghcr.io/acme/grafana:1.0.0"}),
                "published by 'ghcr.io/acme'",
            ),
        ],
    ),
    "rollback-least-privilege": (
        [
            acting_rollback(),
            rollback(ROLLBACK_DRY_RUN="true", kind="staging"),
            server("prometheus"),
        ],
        [
            (
                rollback(source={"repo": PIPELINE, "branch": "main"}, kind="staging"),
                f"built by Railway from {PIPELINE}@main, which no reviewer of the stack gates",
            ),
            (
                rollback(ROLLBACK_DRY_RUN="true", VERCEL_TOKEN="[secret]", kind="staging"),
                "runs dry but holds VERCEL_TOKEN",
            ),
            (
                acting_rollback("RAILWAY_API_TOKEN"),
                "give it a project token of its own environment",
            ),
        ],
    ),
    "production-retain-on-delete": (
        [
            dataclasses.replace(server("prometheus"), retain_on_delete=True),
            dataclasses.replace(server("prometheus", kind="staging"), retain_on_delete=False),
            server("prometheus"),  # CrossGuard: not known, not judged
        ],
        [
            (
                dataclasses.replace(rollback(), retain_on_delete=False),
                "production's Railway service rollback is deleted with the stack",
            )
        ],
    ),
    "production-repository": (
        [
            resource(GITHUB_ENVIRONMENT, environment()),
            resource(GITHUB_PROVIDER, {"owner": APP_REPOSITORY.split("/")[0]}),
            rollback(GITHUB_REPOSITORY=APP_REPOSITORY),
            resource(
                GITHUB_ENVIRONMENT,
                environment(environment="staging", repository="other"),
                kind="staging",
            ),
        ],
        [
            (
                resource(GITHUB_PROVIDER, {"owner": "mallory"}),
                f"acts on the GitHub repository 'mallory', not {APP_REPOSITORY}",
            ),
            (
                resource(GITHUB_RULESET, ruleset(repository=f"{REPOSITORY}-fork")),
                "set github.repository to",
            ),
            (rollback(GITHUB_REPOSITORY=f"mallory/{REPOSITORY}"), f"'mallory/{REPOSITORY}'"),
        ],
    ),
    "production-self-review": (
        [
            resource(GITHUB_ENVIRONMENT, environment()),
            resource(
                GITHUB_ENVIRONMENT,
                environment(environment="staging", preventSelfReview=False),
                kind="staging",
            ),
        ],
        [
            (
                resource(GITHUB_ENVIRONMENT, environment(preventSelfReview=False)),
                "preventSelfReview",
            )
        ],
    ),
    "production-branch-bypass": (
        [
            resource(GITHUB_RULESET, ruleset()),
            resource(
                GITHUB_RULESET,
                ruleset(bypassActors=[{"actorType": "Integration", "actorId": 7}]),
                kind="staging",
            ),
        ],
        [
            (
                resource(
                    GITHUB_RULESET,
                    ruleset(bypassActors=[{"actorType": "Integration", "actorId": 7}]),
                ),
                "GitHub App 7",
            ),
            (
                resource(
                    GITHUB_RULESET,
                    ruleset(
                        bypassActors=[
                            {"actorType": "User", "actorId": 9, "bypassMode": "pull_request"}
                        ]
                    ),
                ),
                "merge their own pull requests",
            ),
        ],
    ),
    "production-admin-bypass": (
        [resource(GITHUB_ENVIRONMENT, environment())],
        [
            (resource(GITHUB_ENVIRONMENT, environment(canAdminsBypass=True)), "admins"),
            (
                resource(
                    GITHUB_ENVIRONMENT,
                    {k: v for k, v in environment().items() if k != "canAdminsBypass"},
                ),
                "admins",
            ),
        ],
    ),
}
