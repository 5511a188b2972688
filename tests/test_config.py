"""A bad stack file fails with one message listing every problem, its key path and its fix."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import components.config.loading as config_module
from components.config import (
    ACTING_SECRETS,
    ConfigError,
    StackConfig,
    raw_project_config,
    required_secrets,
    validate,
)
from tests.conftest import (
    NAMESPACE,
    PROJECT_DIR,
    STACKS,
    SynthFn,
    business_metrics,
    config_error,
    dump_yaml,
    stack_config,
    validated_stack,
)
from tools import synth

PROJECT = NAMESPACE


def raw(stack: str) -> dict[str, Any]:
    flat, _ = synth.pulumi_config(stack_config(stack), namespace=PROJECT)
    return raw_project_config(flat, PROJECT)


def secrets_of(paths: list[str], value: Any) -> dict[str, Any]:
    """`value` at each path under `secrets` (`vercelToken`, `env.DATABASE_URL`)."""
    found: dict[str, Any] = {}
    for path in paths:
        top, _, name = path.partition(".")
        if name:
            found.setdefault(top, {})[name] = copy.deepcopy(value)
        else:
            found[top] = copy.deepcopy(value)
    return found


def secret_paths(stack: str = "staging") -> list[str]:
    """The `--path` of every secret the stack file must set, as `pulumi config set` spells it."""
    return [f"secrets.{path}" for path in required_secrets(raw(stack))]


SECRETS = secrets_of(required_secrets(raw("staging")), "a-placeholder-secret")


def problems(config: dict[str, Any], stack: str = "staging") -> str:
    with pytest.raises(ConfigError) as caught:
        validate(config, stack, frozenset({"secrets"}), (), PROJECT)
    return str(caught.value)


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stack_files_are_valid(stack: str) -> None:
    config = validate(raw(stack), stack, frozenset({"secrets"}), (), PROJECT)
    assert config.environment.name == stack


@pytest.mark.committed_stacks("the pipeline spec's wait timers (0 and 5 minutes)")
def test_spec_values_are_in_the_stack_files() -> None:
    staging = validate(raw("staging"), "staging", frozenset({"secrets"}), (), PROJECT)
    production = validate(raw("production"), "production", frozenset({"secrets"}), (), PROJECT)
    assert (staging.environment.kind, production.environment.kind) == ("staging", "production")
    assert (staging.github.wait_timer, production.github.wait_timer) == (0, 5)
    assert staging.services.keys() == production.services.keys()  # one shape, two environments
    for config in (staging, production):
        assert config.github.deployment_branch_policy == "custom"


def test_every_problem_is_listed_at_once_with_key_path_and_fix() -> None:
    config = raw("production")
    config["github"] |= {"waitTimer": 50000, "branch": "bad..branch", "typo": 1}
    config["urls"]["grafana"] = "http://grafana.example.test"
    message = problems(config, "production")
    assert message.startswith("Stack 'production' has 4 configuration problem(s):")
    assert f"{PROJECT}:github.waitTimer: Input should be less than or equal to 43200" in message
    assert "pulumi config set --path 'github.waitTimer' VALUE --stack production" in message
    assert f"{PROJECT}:github.branch: Value error, must be a valid git branch name" in message
    assert f"{PROJECT}:urls.grafana: Value error, must be an https:// origin" in message
    assert f"{PROJECT}:github.typo: Extra inputs are not permitted" in message
    assert "pulumi config rm --path 'github.typo' --stack production" in message
    assert "Traceback" not in message


def test_missing_secrets_are_all_listed_with_the_command_that_sets_them() -> None:
    config = raw("production")  # its rollback service acts, so it needs its tokens too
    config["secrets"] = {}
    message = problems(config, "production")
    for path in secret_paths("production"):
        name = path.removeprefix("secrets.")
        why = "required while rollback.dryRun is false" if name in ACTING_SECRETS else ""
        assert f"{PROJECT}:{path}: {why}" in message
        assert f"pulumi config set --secret --path '{path}' --stack production" in message


def test_a_dry_run_rollback_service_needs_no_platform_token() -> None:
    config = raw("staging")
    assert config["rollback"]["dryRun"] is True
    config["secrets"] = {k: v for k, v in SECRETS.items() if k not in ACTING_SECRETS}
    assert (
        validate(config, "staging", frozenset({"secrets"}), (), PROJECT).secrets.railway_token
        is None
    )
    config["rollback"]["dryRun"] = False
    message = problems(config)
    assert message.count("required while rollback.dryRun is false") == len(ACTING_SECRETS)


def test_secrets_stored_in_plain_text_are_refused_without_echoing_them() -> None:
    config = raw("staging") | {"secrets": dict(SECRETS, slackApiUrl="https://u:hunter2@hooks")}
    with pytest.raises(ConfigError) as caught:
        validate(config, "staging", frozenset(), (), PROJECT)
    assert "stored in plain text" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_invalid_secret_value_never_appears_in_the_message() -> None:
    config = raw("staging") | {"secrets": dict(SECRETS, slackApiUrl=["hunter2"])}
    assert "hunter2" not in problems(config)


def test_more_than_six_reviewers_is_refused() -> None:
    config = raw("staging")
    config["github"]["reviewers"] = [{"user": f"user{i}"} for i in range(4)] + [
        {"team": f"team{i}"} for i in range(3)
    ]
    assert f"{PROJECT}:github.reviewers: List should have at most 6 items" in problems(config)


def test_reviewer_must_be_a_user_or_a_team() -> None:
    config = raw("staging")
    config["github"]["reviewers"] = [{"user": "-bad-"}, {"group": "x"}]
    message = problems(config)
    assert f"{PROJECT}:github.reviewers[0].user" in message
    assert f"{PROJECT}:github.reviewers[1]" in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("environment.kind", "qa", "Input should be 'production', 'staging' or 'preview'"),
        ("environment.name", "Has Caps", "String should match pattern"),
        ("github.environment", "has space", "String should match pattern"),
        ("github.deploymentBranchPolicy", "any", "Input should be 'custom' or 'protected'"),
        ("github.requiredChecks", [], "List should have at least 1 item"),
        ("github.waitTimer", -1, "greater than or equal to 0"),
        ("github.repository", "no-slash", "String should match pattern"),
        ("urls.grafana", "https://grafana.example.test/path", "https:// origin"),
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
    assert f"{PROJECT}:{key}: " in message
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
    assert f"{PROJECT}:github.waitTimer" in problems(config, "production")


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
    assert f"{PROJECT}:github.branch" in problems(config)


def test_bad_config_registers_no_resource() -> None:
    def soon(config: dict[str, Any]) -> None:
        config[f"{PROJECT}:github"]["waitTimer"] = "soon"

    assert "github.waitTimer" in config_error("production", soon)


# --- Every value under `secrets` is encrypted, on every path ---------------------------------

ENCRYPTED = {"secure": "v1:c2VjdXJlLWJ5LXB1bHVtaQ=="}
CANARY = "canary-5d2e-hunter2-do-not-leak"


def _with_secrets(stack: str, **values: Any) -> dict[str, Any]:
    """The stack file's config with every required secret encrypted, but for `values`."""
    config = stack_config(stack)
    # A copy each: yaml.safe_dump writes an object met twice as an alias.
    config[f"{PROJECT}:secrets"] = secrets_of(required_secrets(raw(stack)), ENCRYPTED) | values
    return config


def _gate(config: dict[str, Any], stack: str, tmp_path: Path) -> tuple[int, str]:
    """The CI gate (`python -m tools.synth --stack-file`): exit code and stderr."""
    stack_file = dump_yaml(config, tmp_path / f"Pulumi.{stack}.yaml")
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
        code = synth.main(
            [
                *("--project-dir", str(PROJECT_DIR), "--stack", stack),
                *("--stack-file", str(stack_file), "--out", str(tmp_path)),
            ]
        )
    return code, errors.getvalue()


def test_the_gate_refuses_a_plain_secret_beside_encrypted_ones(tmp_path: Path) -> None:
    config = _with_secrets("staging", slackApiUrl=f"https://hooks.example.test/{CANARY}")
    code, message = _gate(config, "staging", tmp_path)
    assert code == 2
    assert f"{PROJECT}:secrets.slackApiUrl: stored in plain text" in message
    assert "fix: pulumi config set --secret --path 'secrets.slackApiUrl' --stack staging" in message
    assert "secrets.smtpPassword" not in message  # encrypted: not a problem
    assert CANARY not in message


def test_the_gate_refuses_a_plain_service_secret(tmp_path: Path) -> None:
    config = _with_secrets("staging")
    [name, *_] = config[f"{PROJECT}:secrets"]["env"]
    config[f"{PROJECT}:secrets"]["env"][name] = CANARY
    code, message = _gate(config, "staging", tmp_path)
    assert code == 2
    assert f"{PROJECT}:secrets.env.{name}: stored in plain text" in message
    assert CANARY not in message


def test_the_gate_lists_every_plain_secret_with_the_rest(tmp_path: Path) -> None:
    config = stack_config("production")
    config[f"{PROJECT}:secrets"] = secrets_of(required_secrets(raw("production")), CANARY)
    config[f"{PROJECT}:github"]["waitTimer"] = -1
    code, message = _gate(config, "production", tmp_path)
    assert code == 2
    for path in secret_paths("production"):
        assert f"{PROJECT}:{path}: stored in plain text" in message
    assert f"{PROJECT}:github.waitTimer" in message  # every problem, in one message
    assert CANARY not in message


def test_a_secrets_object_encrypted_whole_passes_the_gate(tmp_path: Path) -> None:
    # `pulumi config set --secret secrets '{...}'` encrypts the object as one value.
    config = stack_config("staging") | {f"{PROJECT}:secrets": ENCRYPTED}
    assert _gate(config, "staging", tmp_path) == (0, "")


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Run `load()` as under `pulumi up`: the CLI's environment, no mock runtime, the stack
    file beside Pulumi.yaml (here in tmp_path)."""
    from pulumi.runtime import config as runtime_config
    from pulumi.runtime import settings

    monkeypatch.setattr(config_module.pulumi, "get_root_directory", lambda: str(tmp_path))

    def start(stack: str, stack_file: dict[str, Any] | None, values: dict[str, Any]) -> Any:
        """`values`: the config decrypted; secret keys as the CLI marks them in its file."""
        if stack_file is not None:
            dump_yaml(stack_file, tmp_path / f"Pulumi.{stack}.yaml")
        flat, _ = synth.pulumi_config(values, namespace=PROJECT)
        _, secret_keys = synth.pulumi_config(
            values if stack_file is None else stack_file, namespace=PROJECT
        )
        monkeypatch.setenv("PULUMI_CONFIG", json.dumps(flat))
        monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(secret_keys))
        settings.reset_options(project=PROJECT, stack=stack)
        # What the language host's exec script does before it runs the program.
        runtime_config.set_all_config(
            runtime_config.get_config_env(), runtime_config.get_config_secret_keys_env()
        )
        return config_module.load()

    yield start
    settings.reset_options()
    runtime_config.set_all_config({}, [])


def _decrypted(config: dict[str, Any]) -> dict[str, Any]:
    """The config as the CLI hands it to the program: every secure value decrypted."""

    def plain(value: Any) -> Any:
        if value == ENCRYPTED:
            return "decrypted-value-of-16+"
        return {k: plain(v) for k, v in value.items()} if isinstance(value, dict) else value

    return config | {f"{PROJECT}:secrets": plain(config[f"{PROJECT}:secrets"])}


def test_pulumi_up_refuses_a_plain_secret_beside_an_encrypted_one(engine: Any) -> None:
    stack_file = _with_secrets("staging", smtpPassword=CANARY)
    values = _decrypted(stack_file)
    with pytest.raises(ConfigError) as caught:
        engine("staging", stack_file, values)
    message = str(caught.value)
    assert f"{PROJECT}:secrets.smtpPassword: stored in plain text" in message
    assert "pulumi config set --secret --path 'secrets.smtpPassword' --stack staging" in message
    assert "secrets.slackApiUrl" not in message
    assert CANARY not in message


def test_pulumi_up_passes_when_every_secret_is_encrypted(engine: Any) -> None:
    stack_file = _with_secrets("staging")
    assert engine("staging", stack_file, _decrypted(stack_file)).environment.name == "staging"


def test_pulumi_up_without_the_stack_file_refuses_a_plain_secrets_key(engine: Any) -> None:
    """Config from elsewhere (`--config-file`): the CLI's secret keys are all there is to go on."""
    values = stack_config("staging") | {
        f"{PROJECT}:secrets": secrets_of(required_secrets(raw("staging")), CANARY + "-16chars")
    }
    with pytest.raises(ConfigError) as caught:
        engine("staging", None, values)
    message = str(caught.value)
    for path in secret_paths():
        assert f"{PROJECT}:{path}: stored in plain text" in message
    assert CANARY not in message


# --- Errors never echo what might be a secret, and echo little ------------------------------


def test_a_secret_under_a_misspelled_key_is_named_never_shown() -> None:
    config = raw("staging") | {"secret": {"slackApiUrl": f"https://u:{CANARY}@hooks"}}
    config["github"] = config["github"] | {"token": CANARY}
    message = problems(config)
    assert f"{PROJECT}:secret: Extra inputs are not permitted (did you mean secrets?)" in message
    assert "fix: pulumi config rm --path 'secret' --stack staging" in message
    assert f"{PROJECT}:github.token: Extra inputs are not permitted" in message
    assert CANARY not in message


def test_a_secret_looking_value_under_a_known_key_is_not_shown() -> None:
    token = "ghp_" + "Zk3qP9vX2mL8wR4tY7nB" * 2
    config = raw("staging")
    config["github"] = config["github"] | {"repository": token}
    message = problems(config)
    assert f"{PROJECT}:github.repository: String should match pattern" in message
    assert token[:12] not in message


def test_an_echoed_value_is_cut_short() -> None:
    config = raw("staging")
    config["github"] = config["github"] | {"environment": "x y" * 5000}
    message = problems(config)
    (line,) = [line for line in message.splitlines() if f"- {PROJECT}:github" in line]
    assert len(line) < 300
    assert line.endswith("…)")


def test_a_flood_of_problems_is_counted_not_listed() -> None:
    config = raw("staging")
    config["github"] = config["github"] | {"requiredChecks": list(range(100))}
    message = problems(config)
    assert message.startswith("Stack 'staging' has 100 configuration problem(s):")
    assert message.count("Input should be a valid string") == 30
    assert message.endswith("  ... and 70 more")


# --- Vercel secrets and ports fail in validation, before any resource -----------------------

VERCEL = next(iter(validated_stack("production").of("vercel")))  # the stack's Vercel service


def _vercel_secret(name: str) -> Any:
    """An edit: the Vercel service lists `name` in secretEnv, and secrets.env holds it."""

    def edit(config: dict[str, Any]) -> None:
        service = config[f"{PROJECT}:services"][VERCEL]
        service["secretEnv"] = [*service.get("secretEnv", []), name]
        config[f"{PROJECT}:secrets"] = {"env": {name: ENCRYPTED}}

    return edit


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("NEXT_PUBLIC_SENTRY_DSN", "inlined into the browser bundle"),
        ("NEXT_PUBLIC_API_URL", "inlined into the browser bundle"),
        ("NODE_ENV", "the stack sets this variable itself"),
        ("TZ", "Vercel reserves this name"),
    ],
)
def test_a_vercel_secret_with_a_dangerous_name_is_refused(name: str, why: str) -> None:
    message = config_error("production", _vercel_secret(name))
    assert f"{PROJECT}:services.{VERCEL}.secretEnv: {name}: " in message
    assert why in message
    assert f"--path 'services.{VERCEL}.secretEnv'" in message


def test_every_variable_the_stack_sets_on_a_vercel_service_is_refused_as_a_secret(
    run_stack: SynthFn,
) -> None:
    plan = run_stack("production")
    public = [
        r["inputs"]["key"]
        for r in plan.of_type("vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable")
        if r["inputs"]["sensitive"] is False
    ]
    assert "NODE_ENV" in public
    for name in public:
        config = raw("production")
        service = config["services"][VERCEL]
        service["secretEnv"] = [name]
        config["secrets"] = config["secrets"] | {"env": {name: "a-value"}}
        assert f"services.{VERCEL}.secretEnv: {name}: " in problems(config, "production")


def test_a_secret_env_name_is_an_environment_variable_name() -> None:
    config = raw("production")
    config["secrets"] = config["secrets"] | {"env": {"lower-case": "a-value"}}
    message = problems(config, "production")
    assert f"{PROJECT}:secrets.env.lower-case.[key]: String should match pattern" in message
    assert "fix: pulumi config rm --path 'secrets.env.lower-case' --stack production" in message


def test_a_secret_no_service_lists_and_one_missing_are_both_named() -> None:
    config = raw("staging")
    [name, *_] = [n for s in config["services"].values() for n in s.get("secretEnv", [])]
    env = {k: v for k, v in config["secrets"]["env"].items() if k != name}
    config["secrets"] = config["secrets"] | {"env": {**env, "FORGOTTEN": "a-value"}}
    message = problems(config)
    assert f"{PROJECT}:secrets.env.{name}: missing: " in message
    assert f"pulumi config set --secret --path 'secrets.env.{name}' --stack staging" in message
    assert f"{PROJECT}:secrets.env.FORGOTTEN: no service lists it in secretEnv" in message
    assert "pulumi config rm --path 'secrets.env.FORGOTTEN' --stack staging" in message


@pytest.mark.parametrize(
    ("key", "edit"),
    [
        (
            f"services.{VERCEL}.url",
            lambda c: c[f"{PROJECT}:services"][VERCEL].update(url="https://a.app:99999"),
        ),
        ("urls.grafana", lambda c: c[f"{PROJECT}:urls"].update(grafana="https://g.app:0")),
        (
            "monitoring.receivers.smtpSmarthost",
            lambda c: c[f"{PROJECT}:monitoring"]["receivers"].update(
                smtpSmarthost="smtp.a.app:99999"
            ),
        ),
    ],
)
def test_a_port_out_of_range_fails_before_any_resource(key: str, edit: Any) -> None:
    message = config_error("production", edit)
    assert f"{PROJECT}:{key}: " in message
    assert "port outside 1..65535" in message
    assert "Traceback" not in message


def test_a_decimal_set_with_the_cli_is_read_as_its_number_but_a_boolean_is_no_number() -> None:
    """`pulumi config set --path KEY 0.02` stores the text "0.02" (only integers become numbers)."""
    config = raw("production")
    config["monitoring"] = config["monitoring"] | {
        "triggers": {"performance": {"errorRate": "0.02"}}
    }
    parsed = validate(config, "production", frozenset({"secrets"}), (), PROJECT)
    assert parsed.monitoring.triggers.performance.error_rate == 0.02
    config["monitoring"]["triggers"]["performance"]["errorRate"] = True
    assert "performance.errorRate: Input should be a valid number (got true)" in problems(
        config, "production"
    )


def test_a_branch_no_one_can_merge_into_is_refused_with_the_ways_out() -> None:
    """One reviewer, one approval required, no bypass: GitHub never counts the author's own
    approval, so that reviewer's own pull requests could never merge."""
    config = raw("production")
    maintainers = ["a-maintainer"]
    alone = {"reviewers": [{"user": maintainers[0]}], "codeOwners": [{"user": maintainers[0]}]}
    github = {k: v for k, v in config["github"].items() if k != "mergeBypass"}
    config["github"] = github | alone | {"requiredApprovingReviews": 1, "enforceAdmins": True}
    message = problems(config, "production")
    branch = config["github"]["branch"]
    assert f"{PROJECT}:github.mergeBypass: Value error, no one could merge into {branch}" in message
    assert "pulumi config set --path 'github.mergeBypass[0]' VALUE --stack production" in message
    for enough in (
        {"mergeBypass": maintainers},
        {"reviewers": [*config["github"]["reviewers"], {"user": "second-maintainer"}]},
        {"reviewers": [{"team": "platform"}]},
        {"requiredApprovingReviews": 0},
    ):
        validate(
            {**config, "github": {**config["github"], **enough}},
            "production",
            frozenset({"secrets"}),
            (),
            PROJECT,
        )


# --- The shape's rules, and keys of the stack files before 2.0.0 --------------------------------


@pytest.mark.parametrize(
    ("old", "value", "now"),
    [
        ("urls.frontend", "https://www.example.test", "services.<name>.url of the Vercel service"),
        ("railway.appPort", 8000, "services.<name>.port"),
        ("railway.backendRootDirectory", "api", "services.<name>.root"),
        ("vercel.project", "web", "services.<name>.vercel.project"),
        ("secrets.databaseUrl", "x", "secrets.env.DATABASE_URL"),
        ("monitoring.services", {}, "services.<name>.healthPath, metricsPath and critical"),
        ("monitoring.grafana.folder", "Shop", "product.title"),
    ],
)
def test_a_key_of_the_file_before_2_0_0_says_where_it_went(old: str, value: Any, now: str) -> None:
    config = raw("staging")
    *parents, leaf = old.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    message = problems(config)
    assert f"{PROJECT}:{old}: Extra inputs are not permitted (moved in 2.0.0: set {now}" in message
    assert "docs/migration-2.0.md" in message


def test_the_environment_as_a_name_says_it_is_a_mapping_now() -> None:
    config = raw("staging") | {"environment": "staging"}
    message = problems(config)
    assert f"{PROJECT}:environment: " in message
    assert "since 2.0.0 a mapping {name, kind}" in message


def _problems_of(edit: Any, stack: str = "staging") -> str:
    config = raw(stack)
    edit(config)
    return problems(config, stack)


def _first(config: dict[str, Any], platform: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        s for s in config["services"].values() if s["platform"] == platform
    )
    return found


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda c: _first(c, "vercel")["vercel"]["publicUrls"].update(X_URL="nowhere"),
            "publicUrls.X_URL: names 'nowhere', which is not a service",
        ),
        (
            lambda c: c["monitoring"].update(
                business={"service": "nowhere", "metrics": business_metrics()}
            ),
            "monitoring.business.service: names 'nowhere', which is not a service",
        ),
        (
            lambda c: c["services"].update(rollback=_first(c, "railway")),
            "services.rollback: the pipeline's own service or scrape job has this name",
        ),
        (
            lambda c: c["services"].update(second=_first(c, "vercel")),
            "run on Vercel: one Vercel service per stack",
        ),
        (
            lambda c: _first(c, "railway").update(urlVariable="ENVIRONMENT"),
            "ENVIRONMENT is set by the stack itself",
        ),
        (
            lambda c: c["product"].update(name="a-product-name-that-is-too-long"),
            "over 40 characters: shorten one of the two",
        ),
        (
            lambda c: _first(c, "railway").update(url=None),
            "a web service needs url and healthPath",
        ),
        (
            lambda c: _first(c, "railway").update(role="cron"),
            "a cron service runs and exits: no url, healthPath or metricsPath",
        ),
        (
            lambda c: _first(c, "railway").update(port=None),
            "a Railway web or worker service needs port",
        ),
        (
            lambda c: _first(c, "vercel").update(language="python"),
            "a vercel service is web and node",
        ),
    ],
)
def test_the_rules_between_keys_name_the_key_to_change(edit: Any, expected: str) -> None:
    assert expected in _problems_of(edit)


# --- The dead man's switch URL is a secret, and production never deploys without one ----------


def test_a_heartbeat_url_in_plain_config_is_refused_with_where_it_goes(tmp_path: Path) -> None:
    config = _with_secrets("staging")
    config[f"{PROJECT}:monitoring"]["receivers"]["watchdogUrl"] = f"https://hc-ping.com/{CANARY}"
    code, message = _gate(config, "staging", tmp_path)
    assert code == 2
    assert f"{PROJECT}:monitoring.receivers.watchdogUrl: Extra inputs" in message
    assert "move it to secrets.watchdogUrl with `pulumi config set --secret" in message
    assert "fix: pulumi config rm --path 'monitoring.receivers.watchdogUrl'" in message
    assert CANARY not in message


def test_production_does_not_deploy_without_its_heartbeat_url() -> None:
    without = raw("production")
    del without["secrets"]["watchdogUrl"]
    with pytest.raises(ConfigError) as caught:
        validate(without, "production", ["secrets"], (), PROJECT)
    assert f"{PROJECT}:secrets.watchdogUrl: missing: a production stack's dead man's switch" in (
        str(caught.value)
    )
    assert "fix: pulumi config set --secret --path 'secrets.watchdogUrl' --stack production" in (
        str(caught.value)
    )
    staging = raw("staging")
    assert "watchdogUrl" not in staging["secrets"]  # optional there: the Watchdog goes nowhere
    assert validate(staging, "staging", ["secrets"], (), PROJECT).secrets.watchdog_url is None


@pytest.mark.parametrize("stack", STACKS)
def test_the_pagerduty_key_is_needed_where_alerts_page_and_refused_elsewhere(stack: str) -> None:
    config = raw(stack)
    pages = validated_stack(stack).pages
    assert ("pagerdutyRoutingKey" in config["secrets"]) is pages
    config["monitoring"]["receivers"]["pagerduty"] = not pages
    with pytest.raises(ConfigError) as caught:
        validate(config, stack, ["secrets"], (), PROJECT)
    message = str(caught.value)
    key = f"{PROJECT}:secrets.pagerdutyRoutingKey"
    if pages:  # paging turned off, the key kept: nothing would read it
        assert f"{key}: nothing pages PagerDuty here" in message
        assert f"fix: pulumi config rm --path 'secrets.pagerdutyRoutingKey' --stack {stack}" in (
            message
        )
    else:  # paging turned on without a key
        assert f"{key}: missing: critical alerts page PagerDuty here" in message
        assert (
            f"fix: pulumi config set --secret --path 'secrets.pagerdutyRoutingKey' --stack {stack}"
            in message
        )


@pytest.mark.parametrize(
    "url",
    [
        f"https://hc-ping.com/{CANARY}\n",
        f" https://hc-ping.com/{CANARY}",
        f"https://hc-ping.com/{CANARY}'",
        f"https://hc-ping.com/{CANARY} x",
        f"http://hc-ping.com/{CANARY}",
        f"hc-ping.com/{CANARY}",
    ],
)
def test_a_heartbeat_url_alertmanager_would_not_get_byte_exact_is_refused(url: str) -> None:
    config = raw("production")
    config["secrets"]["watchdogUrl"] = url
    with pytest.raises(ConfigError) as caught:
        validate(config, "production", ["secrets"], (), PROJECT)
    assert f"{PROJECT}:secrets.watchdogUrl: Value error" in str(caught.value)
    assert CANARY not in str(caught.value)


def test_missing_lists_the_heartbeat_url_with_its_secret_command(tmp_path: Path) -> None:
    for stack, section in (("production", "Missing from"), ("staging", "Optional, not counted")):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = synth.main(["--missing", "--stack", stack])
        text = out.getvalue()
        assert code == 1
        listed = text.index("  - secrets.watchdogUrl:")
        assert text.rindex(section, 0, listed) > text.rindex("\n\n", 0, listed)
        command = f"pulumi config set --secret --path 'secrets.watchdogUrl' --stack {stack}"
        assert command in text


def test_a_list_key_is_fixed_item_by_item() -> None:
    """`pulumi config set --path KEY VALUE` stores a string, which a list refuses again."""
    config = raw("staging")
    config["monitoring"]["receivers"]["emailTo"] = "oncall@example.test"
    message = problems(config)
    assert "monitoring.receivers.emailTo: Input should be a valid" in message
    rm = "pulumi config rm --path 'monitoring.receivers.emailTo' --stack staging, then "
    assert f"{rm}pulumi config set --path 'monitoring.receivers.emailTo[0]' VALUE" in message


def test_a_problem_of_a_whole_service_is_fixed_by_the_key_it_names() -> None:
    config = raw("staging")
    web = ((n, s) for n, s in config["services"].items() if s["role"] == "web")
    name, service = next(web)  # a web service needs its health path
    del service["healthPath"]
    message = problems(config)
    assert f"services.{name}: Value error, a web service needs url and healthPath " in message
    assert "(its probe, its health check): set healthPath" in message
    assert "go together" not in message  # one problem, told once
    assert f"pulumi config set --path 'services.{name}.KEY' VALUE" in message
