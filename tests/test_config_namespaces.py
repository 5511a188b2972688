"""Config keys that nothing reads are errors before any resource is registered (issue 19.2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.config import ConfigError, check_namespaces
from tests.conftest import (
    NAMESPACE,
    PROJECT_DIR,
    SynthFn,
    dump_yaml,
    key,
    stack_config,
    validated_stack,
)
from tools import mockrun, synth


def fails(stack: str, edit: Any) -> tuple[str, list[dict[str, Any]]]:
    """The config message and what was registered before it."""
    config = stack_config(stack)
    edit(config)
    monitor = mockrun.RecordingMonitor(mockrun.Mocks())
    flat, secret_keys = synth.pulumi_config(config, namespace=NAMESPACE)
    with pytest.raises(ConfigError) as caught:
        mockrun.run(
            lambda: synth.runpy.run_path(str(synth.ROOT / "__main__.py"), run_name="__main__"),
            stack=stack, config=flat, secret_keys=secret_keys, monitor=monitor, project=NAMESPACE,
        )  # fmt: skip
    return str(caught.value), monitor.registrations


TYPO = NAMESPACE[:-1]  # the project's name, its last letter left out


@pytest.mark.parametrize(
    ("stack", "key", "expected"),
    [
        (
            "production",
            f"{TYPO}:monitoring",
            [
                f"{TYPO}:monitoring: unknown namespace '{TYPO}'",
                f"fix: rename it to {NAMESPACE}:monitoring in Pulumi.production.yaml, or "
                f"pulumi config rm '{TYPO}:monitoring' --stack production",
            ],
        ),
        (
            "staging",
            "monitoring",
            [
                "  - monitoring: has no namespace, so nothing reads this key",
                f"rename it to {NAMESPACE}:monitoring in Pulumi.staging.yaml",
            ],
        ),
    ],
)
def test_a_key_nothing_reads_is_an_error_with_the_fix_before_anything_registers(
    stack: str, key: str, expected: list[str]
) -> None:
    def add(config: dict[str, Any]) -> None:
        config[key] = {"scrapeInterval": "30s"}

    message, registered = fails(stack, add)
    assert registered == []
    for line in expected:
        assert line in message


def test_every_unknown_key_is_listed_at_once_with_provider_keys_checked() -> None:
    with pytest.raises(ConfigError) as caught:
        check_namespaces(
            ["github:tokn", "vercel:team", "githb:owner", key("x"), "pulumi:tags"],
            "production",
            NAMESPACE,
        )
    message = str(caught.value)
    assert message.startswith("Stack 'production' has 2 configuration problem(s):")
    assert "github:tokn: the github provider reads only " in message
    assert "rename it to github:token in Pulumi.production.yaml" in message
    assert "githb:owner: unknown namespace 'githb'" in message
    assert "rename it to github:owner" in message


def test_known_provider_keys_pass(run_stack: SynthFn) -> None:
    def providers(config: dict[str, Any]) -> None:
        config["github:owner"] = validated_stack("staging").github.owner
        config["vercel:team"] = "any-team"  # a key the provider reads: its value is not ours
        config["command:anything"] = "x"
        config["pulumi:tags"] = {"team": "platform"}

    assert run_stack("staging", providers).resources


def _project(tmp_path: Path, name: str, namespace: str) -> Path:
    """A project folder: a Pulumi.yaml named `name`, the staging stack file with its keys under
    `namespace`."""
    tmp_path.mkdir()
    (tmp_path / "Pulumi.yaml").write_text(f"name: {name}\nruntime: python\n")
    config = stack_config("staging")
    renamed = {f"{namespace}:{k.partition(':')[2]}": v for k, v in config.items()}
    dump_yaml(renamed, tmp_path / "Pulumi.staging.yaml")
    return tmp_path


def test_the_namespace_is_the_name_in_the_projects_pulumi_yaml(tmp_path: Path) -> None:
    project = _project(tmp_path / "renamed", "renamed-pipeline", "renamed-pipeline")
    plan = synth.synthesize("staging", project_dir=project)
    assert plan.project == "renamed-pipeline"
    assert all(
        r["urn"].startswith("urn:pulumi:staging::renamed-pipeline::") for r in plan.resources
    )


def test_keys_under_another_projects_name_say_so_once_each(tmp_path: Path) -> None:
    """A renamed project with its old keys: every key named with the rename that fixes it, not a
    "Field required" for each key the model then misses."""
    project = _project(tmp_path / "renamed", "renamed-pipeline", NAMESPACE)
    with pytest.raises(ConfigError) as caught:
        synth.synthesize("staging", project_dir=project)
    message = str(caught.value)
    assert "Field required" not in message
    assert f"{NAMESPACE}:services: unknown namespace '{NAMESPACE}'" in message
    assert "rename it to renamed-pipeline:services in Pulumi.staging.yaml" in message


def test_a_key_nothing_reads_is_listed_with_every_other_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The program and the synth alike: one message, the namespace and the values together."""

    def edit(config: dict[str, Any]) -> None:
        config[f"{TYPO}:foo"] = 1
        config[key("github")]["waitTimer"] = 50_000

    message, registered = fails("production", edit)
    assert registered == []
    assert message.startswith("Stack 'production' has 2 configuration problem(s):")
    assert f"{TYPO}:foo: unknown namespace '{TYPO}'" in message
    assert f"{key('github')}.waitTimer: Input should be less than or equal to" in message
    config = stack_config("production")
    edit(config)
    stack_file = dump_yaml(config, tmp_path / "edited.yaml")
    args = ["--stack", "production", "--stack-file", str(stack_file), "--out", str(tmp_path)]
    assert synth.main([*args, "--project-dir", str(PROJECT_DIR)]) == 2
    assert capsys.readouterr().err.strip() == message.replace(
        "Pulumi.production.yaml", str(stack_file)
    )
