"""A bad stack file fails with one message listing every problem, its key path and its fix."""

from __future__ import annotations

import copy
import runpy
import subprocess
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from components.config import (
    ConfigError,
    StackConfig,
    raw_project_config,
    required_secrets,
    validate,
)
from tests.conftest import ROOT, STACKS, stack_config
from tools import mockrun, synth

SECRETS = dict.fromkeys(required_secrets(), "a-placeholder-secret")


def raw(stack: str) -> dict[str, Any]:
    flat, _ = synth.pulumi_config(stack_config(stack))
    return raw_project_config(flat)


def problems(config: dict[str, Any], stack: str = "staging") -> str:
    with pytest.raises(ConfigError) as caught:
        validate(config, stack, frozenset({"secrets"}))
    return str(caught.value)


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stack_files_are_valid(stack: str) -> None:
    config = validate(raw(stack), stack, frozenset({"secrets"}))
    assert config.environment == stack


def test_spec_values_are_in_the_stack_files() -> None:
    staging = validate(raw("staging"), "staging", frozenset({"secrets"}))
    production = validate(raw("production"), "production", frozenset({"secrets"}))
    assert (staging.github.branch, production.github.branch) == ("develop", "main")
    assert (staging.github.wait_timer, production.github.wait_timer) == (0, 5)
    assert staging.urls.frontend == "https://staging.autonomica.app"
    assert production.urls.frontend == "https://autonomica.app"
    assert production.urls.api == "https://api.autonomica.app"
    for config in (staging, production):
        assert [r.model_dump() for r in config.github.reviewers] == [{"user": "jairodriguez"}]
        assert config.github.deployment_branch_policy == "custom"


def test_every_problem_is_listed_at_once_with_key_path_and_fix() -> None:
    config = raw("production")
    config["github"] |= {"waitTimer": 50000, "branch": "bad..branch", "typo": 1}
    config["urls"]["api"] = "http://api.autonomica.app"
    message = problems(config, "production")
    assert message.startswith("Stack 'production' has 4 configuration problem(s):")
    assert (
        "autonomica-pipeline:github.waitTimer: Input should be less than or equal to 43200"
        in message
    )
    assert "pulumi config set --path 'github.waitTimer' VALUE --stack production" in message
    assert (
        "autonomica-pipeline:github.branch: Value error, must be a valid git branch name" in message
    )
    assert "autonomica-pipeline:urls.api: Value error, must be an https:// origin" in message
    assert "autonomica-pipeline:github.typo: Extra inputs are not permitted" in message
    assert "pulumi config rm --path 'github.typo' --stack production" in message
    assert "Traceback" not in message


def test_missing_secrets_are_all_listed_with_the_command_that_sets_them() -> None:
    config = raw("staging")
    config["secrets"] = {}
    message = problems(config)
    for name in SECRETS:
        assert f"autonomica-pipeline:secrets.{name}: Field required" in message
        assert f"pulumi config set --secret --path 'secrets.{name}' --stack staging" in message


def test_secrets_stored_in_plain_text_are_refused_without_echoing_them() -> None:
    config = raw("staging") | {"secrets": dict(SECRETS, databaseUrl="postgres://u:hunter2@db")}
    with pytest.raises(ConfigError) as caught:
        validate(config, "staging", frozenset())
    assert "stored in plain text" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_invalid_secret_value_never_appears_in_the_message() -> None:
    config = raw("staging") | {"secrets": dict(SECRETS, databaseUrl=["hunter2"])}
    assert "hunter2" not in problems(config)


def test_more_than_six_reviewers_is_refused() -> None:
    config = raw("staging")
    config["github"]["reviewers"] = [{"user": f"user{i}"} for i in range(4)] + [
        {"team": f"team{i}"} for i in range(3)
    ]
    assert "autonomica-pipeline:github.reviewers: List should have at most 6 items" in problems(
        config
    )


def test_reviewer_must_be_a_user_or_a_team() -> None:
    config = raw("staging")
    config["github"]["reviewers"] = [{"user": "-bad-"}, {"group": "x"}]
    message = problems(config)
    assert "autonomica-pipeline:github.reviewers[0].user" in message
    assert "autonomica-pipeline:github.reviewers[1]" in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("environment", "qa", "Input should be 'staging' or 'production'"),
        ("github.environment", "has space", "String should match pattern"),
        ("github.deploymentBranchPolicy", "any", "Input should be 'custom' or 'protected'"),
        ("github.requiredChecks", [], "List should have at least 1 item"),
        ("github.waitTimer", -1, "greater than or equal to 0"),
        ("github.repository", "no-slash", "String should match pattern"),
        ("urls.frontend", "https://autonomica.app/path", "https:// origin"),
    ],
)
def test_single_bad_value(key: str, value: Any, expected: str) -> None:
    config = copy.deepcopy(raw("staging"))
    *parents, leaf = key.split(".")
    target = config
    for part in parents:
        target = target[part]
    target[leaf] = value
    message = problems(config)
    assert f"autonomica-pipeline:{key}: " in message
    assert expected in message


@given(st.integers(min_value=0, max_value=43200))
def test_any_wait_timer_in_range_is_accepted(minutes: int) -> None:
    config = raw("production")
    config["github"] = config["github"] | {"waitTimer": minutes}
    assert StackConfig.model_validate(config).github.wait_timer == minutes


@given(st.integers().filter(lambda n: n < 0 or n > 43200))
def test_any_wait_timer_out_of_range_is_refused(minutes: int) -> None:
    config = raw("production")
    config["github"] = config["github"] | {"waitTimer": minutes}
    assert "autonomica-pipeline:github.waitTimer" in problems(config, "production")


def git_accepts(branch: str) -> bool:
    result = subprocess.run(
        ["git", "check-ref-format", "--branch", branch], capture_output=True, check=False
    )
    return result.returncode == 0


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii"), min_size=1, max_size=20))
def test_every_branch_name_we_accept_git_accepts(name: str) -> None:
    config = raw("staging")
    config["github"] = config["github"] | {"branch": name}
    try:
        StackConfig.model_validate(config)
    except ValidationError:
        return
    assert git_accepts(name), name


@pytest.mark.parametrize(
    "name", ["a..b", "-x", "x.lock", "x/", "a b", "a~1", "a^", "a:b", "a?", "@{x"]
)
def test_branch_names_git_refuses_are_refused(name: str) -> None:
    assert not git_accepts(name)
    config = raw("staging")
    config["github"] = config["github"] | {"branch": name}
    assert "autonomica-pipeline:github.branch" in problems(config)


def test_bad_config_registers_no_resource() -> None:
    config = stack_config("production")
    config["autonomica-pipeline:github"]["waitTimer"] = "soon"
    flat, secret_keys = synth.pulumi_config(config)
    monitor = mockrun.RecordingMonitor(mockrun.Mocks())
    with pytest.raises(ConfigError, match=r"github\.waitTimer"):
        mockrun.run(
            lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"),
            stack="production",
            config=flat,
            secret_keys=secret_keys,
            monitor=monitor,
        )
    assert monitor.registrations == []
