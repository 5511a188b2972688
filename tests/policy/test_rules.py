"""Each rule with resources that pass and resources that fail, with the message a user reads."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from policy import rules
from policy import settings as policy_settings
from policy.checks.hosts import HostSettings
from policy.resources import (
    GITHUB_BRANCH_PROTECTION,
    GITHUB_ENV_VARIABLE,
    GITHUB_ENVIRONMENT,
    GITHUB_RULESET,
)
from policy.secret_values import TOKENS, secret_kind
from tests.policy.cases import (
    CASES,
    CONFIG,
    branch_protection,
    environment,
    resource,
    rollback,
    ruleset,
    team_access,
)

RULES = {rule.name: rule for rule in rules.RULES}


def test_every_rule_has_cases() -> None:
    assert set(CASES) == set(RULES)


@pytest.mark.parametrize(
    ("rule_name", "index"), [(n, i) for n, (ok, _) in CASES.items() for i in range(len(ok))]
)
def test_passing_resource(rule_name: str, index: int) -> None:
    passing = CASES[rule_name][0][index]
    assert rules.check_resource(RULES[rule_name], passing, CONFIG[rule_name]) == []


@pytest.mark.parametrize(
    ("rule_name", "index"), [(n, i) for n, (_, bad) in CASES.items() for i in range(len(bad))]
)
def test_failing_resource(rule_name: str, index: int) -> None:
    failing, expected = CASES[rule_name][1][index]
    violations = rules.check_resource(RULES[rule_name], failing, CONFIG[rule_name])
    assert violations, f"{rule_name} let {failing.inputs} pass"
    assert all(v.rule == rule_name and v.resource == failing for v in violations)
    assert any(expected in v.message for v in violations), [v.message for v in violations]


def test_rules_never_echo_the_secret_they_find() -> None:
    token = "ghp_" + "Q7w8E9r0T1" * 4
    failing = resource(GITHUB_ENV_VARIABLE, {"variableName": "X", "value": token})
    (violation,) = rules.check_resource(RULES["no-secret-in-plain-channel"], failing)
    assert token not in violation.message


def test_wait_timer_minimum_comes_from_the_pack_config() -> None:
    rule = RULES["production-environment-protection"]
    five_minutes = resource(GITHUB_ENVIRONMENT, environment(waitTimer=5))
    assert rules.check_resource(rule, five_minutes) == []
    assert rules.check_resource(rule, five_minutes, {"minWaitTimer": 5}) == []
    (violation,) = rules.check_resource(rule, five_minutes, {"minWaitTimer": 10})
    assert "minimum of 10" in violation.message


def test_pack_config_is_validated() -> None:
    rule = RULES["production-environment-protection"]
    with pytest.raises(pydantic.ValidationError, match="minWaitTimer"):
        rules.check_resource(
            rule, resource(GITHUB_ENVIRONMENT, environment()), {"minWaitTimer": -1}
        )


def test_config_schema_carries_the_defaults() -> None:
    assert (
        rules.config_schema(RULES["production-environment-protection"])["minWaitTimer"]["default"]
        == 5
    )
    protection = rules.config_schema(RULES["production-branch-protection"])
    assert protection["requiredChecks"]["default"] == ["test-and-quality"]
    assert protection["productionBranch"]["default"] == "main"


def test_required_checks_follow_the_config() -> None:
    stack = [
        resource(GITHUB_ENVIRONMENT, environment()),
        resource(GITHUB_RULESET, ruleset()),
    ]
    (violation,) = rules.check_stack(
        rules.STACK_RULES[0], stack, {"requiredChecks": ["test-and-quality", "e2e"]}
    )
    assert "missing: e2e" in violation.message


STACK_RULE = rules.STACK_RULES[0]


def test_stack_rule_passes_when_a_ruleset_covers_main() -> None:
    stack = [
        resource(GITHUB_ENVIRONMENT, environment()),
        resource(GITHUB_RULESET, ruleset()),
    ]
    assert rules.check_stack(STACK_RULE, stack) == []
    # Classic branch protection counts too, and staging needs none.
    classic = [stack[0], resource(GITHUB_BRANCH_PROTECTION, branch_protection())]
    assert rules.check_stack(STACK_RULE, classic) == []
    staging = [resource(GITHUB_ENVIRONMENT, environment(environment="staging"), kind="staging")]
    assert rules.check_stack(STACK_RULE, staging) == []


@pytest.mark.parametrize(
    "protections",
    [
        [],
        [ruleset(conditions={"refName": {"includes": ["refs/heads/develop"], "excludes": []}})],
        [
            ruleset(
                conditions={
                    "refName": {"includes": ["refs/heads/main"], "excludes": ["refs/heads/main"]}
                }
            )
        ],
    ],
    ids=["none", "other-branch", "excluded"],
)
def test_stack_rule_fails_when_main_is_unprotected(protections: list[dict[str, object]]) -> None:
    env = resource(GITHUB_ENVIRONMENT, environment(), name="github-environment")
    stack = [env, *(resource(GITHUB_RULESET, p) for p in protections)]
    (violation,) = rules.check_stack(STACK_RULE, stack)
    assert violation.resource == env
    assert "refs/heads/main" in violation.message


@pytest.mark.parametrize(
    "value",
    [
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        "AKIAIOSFODNN7EXAMPLE",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX",
        "redis://default:p4ss@redis.internal:6379",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
    ],
)
def test_secret_looking_values(value: str) -> None:
    assert secret_kind(value) is not None


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("ghp_" + "a1B2" * 9, "a GitHub token"),
        ("xoxb-123456789012-abcdefABCDEF", "a Slack token"),
        ("url: https://hooks.slack.com/services/T000/B000/XXXXXXXX", "a Slack webhook URL"),
        ("key=AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
        ("STRIPE=sk_live_4eC39HqLyjWDarjtT1zdp7dc", "a Stripe secret key"),
        ("glpat-xxxxxxxxxxxxxxxxxxxx", "a GitLab token"),
        ("//registry.npmjs.org/:_authToken=npm_" + "a1B2" * 9, "an npm token"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE", "a private key"),
        (
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3",
            "a JSON Web Token",
        ),
    ],
)
def test_each_token_format_is_named(value: str, kind: str) -> None:
    assert secret_kind(value) == kind
    assert secret_kind(f"{{'panels': [], 'note': {value!r}}}") == kind  # inside a larger value


@pytest.mark.parametrize("kind", sorted(TOKENS))
@given(data=st.data())
def test_every_match_holds_one_of_its_markers(kind: str, data: st.DataObject) -> None:
    """The markers only skip values the pattern cannot match: each format's pattern runs only
    where one of its literals occurs."""
    markers, pattern = TOKENS[kind]
    value = data.draw(st.from_regex(pattern))
    assert any(marker in value for marker in markers)


@pytest.mark.parametrize(
    "value",
    [
        "https://api.shop.example",
        "5c1f2a7e-93d4-4b8e-a6f0-2d7c9e41b3a8",  # a Railway project id
        "prj_a1B2c3D4e5F6g7H8i9J0k1L2",  # a Vercel project id
        "shop-web-staging",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # a sha256
        "[secret]",
        "production",
        "https://user@example.com",  # a user without password is not a credential
    ],
)
def test_public_values(value: str) -> None:
    assert secret_kind(value) is None


def test_trusted_hosts_come_from_the_pack_config() -> None:
    rule = RULES["credentials-to-trusted-hosts"]
    provider = rollback(SMTP_HOST="smtp.sendgrid.net")
    (violation,) = rules.check_resource(rule, provider)
    assert "the SMTP login would go to smtp.sendgrid.net" in violation.message
    trusted = [*HostSettings().trusted_hosts, "sendgrid.net"]
    assert rules.check_resource(rule, provider, {"trustedHosts": trusted}) == []
    assert "railway.internal" in rules.config_schema(rule)["trustedHosts"]["default"]


@pytest.mark.parametrize(
    ("host", "trusted"),
    [
        ("smtp.shop.example", True),  # the stack's own host
        ("shop.example", True),
        ("evil.shop.example", False),  # below an own host: not the stack's
        ("smtp.shop.example.evil.example", False),
        ("smtp.sendgrid.net", True),  # below a trustedHosts entry
    ],
)
def test_the_stacks_own_hosts_are_trusted_exactly(host: str, trusted: bool) -> None:
    rule = RULES["credentials-to-trusted-hosts"]
    config = {
        "ownHosts": ["shop.example", "smtp.shop.example"],
        "trustedHosts": [*HostSettings().trusted_hosts, "sendgrid.net"],
    }
    found = rules.check_resource(rule, rollback(SMTP_HOST=host), config)
    assert (found == []) is trusted, found


def test_a_stack_vouches_for_its_own_hosts_only(tmp_path: Path) -> None:
    """The settings the stack file resolves: its urls' and smarthost's hosts, exactly."""
    stack = {
        "environment": {"name": "staging", "kind": "staging"},
        "services": {"web": {"url": "https://shop.example"}},
        "urls": {"grafana": "https://grafana.shop.example"},
        "monitoring": {"receivers": {"smtpSmarthost": "smtp.shop.example:587"}},
    }
    path = tmp_path / "staging.yaml"
    config = policy_settings.resolve({}, stack, "staging", path).pack_config()
    hosts = config["credentials-to-trusted-hosts"]
    assert hosts["ownHosts"] == ["shop.example", "grafana.shop.example", "smtp.shop.example"]
    assert "shop.example" not in hosts["trustedHosts"]


def test_the_rollback_repository_comes_from_the_pack_config() -> None:
    rule = RULES["production-rollback-armed"]
    fork = rollback(source={"deployedBy": "acme/pipeline: .github/workflows/deploy.yml"})
    acme = CONFIG[rule.name] | {"pipelineRepository": "acme/pipeline"}
    assert rules.check_resource(rule, fork, acme) == []
    (violation,) = rules.check_resource(rule, fork, CONFIG[rule.name])
    assert "shipped from acme/pipeline" in violation.message
    # Without the stack's settings no repository is the pipeline's: no default is anybody's.
    (unset,) = rules.check_resource(rule, fork)
    assert "no pipelineRepository in the policy settings" in unset.message


def test_the_health_check_limits_come_from_the_pack_config() -> None:
    rule = RULES["production-rollback-armed"]
    config = CONFIG[rule.name]
    assert rules.check_resource(rule, rollback(), config | {"maxHealthFailures": 3}) == []
    stricter = rules.check_resource(rule, rollback(), config | {"maxHealthFailures": 2})
    assert [v.message for v in stricter] == [
        "production rolls back after 3 failed health checks, more than the spec's 2: set "
        "monitoring.triggers.healthCheck.consecutiveFailures to at most 2"
    ]
    shorter = rules.check_resource(rule, rollback(), config | {"maxHealthWindow": "1m"})
    assert any("failureWindow to at most 1m" in v.message for v in shorter)


def test_only_the_deploy_app_may_bypass_when_the_pack_names_it() -> None:
    rule = RULES["production-branch-protection"]
    app = resource(
        GITHUB_RULESET, ruleset(bypassActors=[{"actorId": 7, "actorType": "Integration"}])
    )
    assert rules.check_resource(rule, app, {"deployAppId": 7}) == []
    (violation,) = rules.check_resource(rule, app, {"deployAppId": 8})
    assert "GitHub App 7 may bypass it, not the deploy App 8" in violation.message


def test_the_advisory_says_who_may_pass_which_rule() -> None:
    rule = RULES["production-branch-bypass"]
    review = ruleset(
        rules={"pullRequest": {"requiredApprovingReviewCount": 1}},
        bypassActors=[
            {"actorId": 7, "actorType": "Integration", "bypassMode": "always"},
            {"actorId": 9, "actorType": "User", "bypassMode": "pull_request"},
        ],
    )
    messages = [v.message for v in rules.check_resource(rule, resource(GITHUB_RULESET, review))]
    assert messages[0].startswith("the GitHub App 7 may push to main past the review rule (always)")
    assert messages[1].startswith("GitHub user 9 may merge their own pull requests into main past "
                                  "the review rule")  # fmt: skip


TEAMS = next(r for r in rules.STACK_RULES if r.name == "production-reviewer-teams-have-access")


def test_a_reviewing_team_needs_the_access_the_stack_grants() -> None:
    env = resource(
        GITHUB_ENVIRONMENT,
        environment(reviewers=[{"users": [], "teams": [42]}]),
        name="github-environment",
    )
    assert rules.check_stack(TEAMS, [env, team_access(42)]) == []
    (violation,) = rules.check_stack(TEAMS, [env, team_access(42, "another-repository")])
    assert violation.resource == env
    assert "team 42 reviews production deployments but the stack grants it no access" in (
        violation.message
    )
    staging = resource(
        GITHUB_ENVIRONMENT,
        environment(environment="staging", reviewers=[{"users": [], "teams": [42]}]),
        kind="staging",
    )
    assert rules.check_stack(TEAMS, [staging]) == []


CHECKS = ruleset()["rules"]["requiredStatusChecks"]
CHECKS = {"requiredStatusChecks": CHECKS}
REVIEWS = {"pullRequest": {"requiredApprovingReviewCount": 1}}


@pytest.mark.parametrize(
    ("split", "expected"),
    [
        ([CHECKS, REVIEWS], None),  # checks in one ruleset, reviews in the other
        ([{**CHECKS, **REVIEWS}], None),
        ([REVIEWS], "no CI check"),
        (
            [{"requiredStatusChecks": {"requiredChecks": [{"context": "lint"}]}}, REVIEWS],
            "test-and",
        ),
        ([CHECKS], "0 approving reviews"),
    ],
)
def test_the_branchs_rulesets_together_require_checks_and_reviews(
    split: list[dict[str, object]], expected: str | None
) -> None:
    stack = [resource(GITHUB_ENVIRONMENT, environment())] + [
        resource(GITHUB_RULESET, ruleset(rules=r), name=f"ruleset-{i}") for i, r in enumerate(split)
    ]
    found = rules.check_stack(STACK_RULE, stack)
    if expected is None:
        assert found == []
    else:
        assert any(expected in v.message for v in found), [v.message for v in found]
        assert all(v.resource == stack[1] for v in found)
