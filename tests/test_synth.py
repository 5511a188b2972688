"""The offline synth: the README's main command for a newcomer without credentials."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from components.outputs import SCHEMA_VERSION
from tests.conftest import (
    NAMESPACE,
    PROJECT_DIR,
    ROOT,
    STACKS,
    SynthFn,
    dump_yaml,
    key,
    stack_config,
    validated_stack,
)
from tests.policy.weakenings import WEAKENINGS
from tools import synth

CANARY = "canary-3f9c1b7e-do-not-leak"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m tools.synth` on the project under test."""
    return subprocess.run(
        [sys.executable, "-m", "tools.synth", "--project-dir", str(PROJECT_DIR), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_synth_writes_plan_and_prints_summary(tmp_path: Path, stack: str) -> None:
    result = run_cli("--stack", stack, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["project"] == NAMESPACE
    assert plan["stack"] == stack
    assert plan["outputs"]["schemaVersion"] == SCHEMA_VERSION
    assert {"urn", "type", "name", "parent", "custom", "protect", "inputs"} <= set(
        plan["resources"][0]
    )
    urns = {r["urn"] for r in plan["resources"]}
    assert all(
        r["parent"] in urns or r["parent"].endswith(f"{NAMESPACE}-{stack}")
        for r in plan["resources"]
    )
    assert f"Offline synth of {NAMESPACE}/{stack}" in result.stdout
    assert f"Resources: {len(plan['resources'])} to create" in result.stdout
    assert "github:index/repositoryEnvironment:RepositoryEnvironment" in result.stdout


def test_synth_is_deterministic(tmp_path: Path) -> None:
    for out in ("a", "b"):
        assert run_cli("--stack", "production", "--out", str(tmp_path / out)).returncode == 0
    assert (tmp_path / "a" / "plan.json").read_bytes() == (
        tmp_path / "b" / "plan.json"
    ).read_bytes()


def test_bad_stack_file_exits_non_zero_without_traceback(tmp_path: Path) -> None:
    config = stack_config("staging")
    config[key("github")]["waitTimer"] = 99999
    config[key("urls")]["grafana"] = "ftp://x"
    stack_file = dump_yaml(config, tmp_path / "Pulumi.staging.yaml")
    result = run_cli(
        "--stack", "staging", "--stack-file", str(stack_file), "--out", str(tmp_path / "o")
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{key('github')}.waitTimer" in result.stderr
    assert f"{key('urls')}.grafana" in result.stderr
    assert not (tmp_path / "o").exists()


def test_unknown_stack_names_the_stack_files(tmp_path: Path) -> None:
    result = run_cli("--stack", "qa", "--out", str(tmp_path))
    assert result.returncode == 2
    files = sorted(f"Pulumi.{s}.yaml" for s in STACKS)
    assert f"stack files there: {', '.join(files)}" in result.stderr


def test_secure_values_become_placeholders(tmp_path: Path) -> None:
    config = stack_config("staging")
    config[key("secrets")] = {
        "slackApiUrl": {"secure": "v1:AAAABBBBCCCC"},
        "env": {"ANY_NAME": {"secure": "v1:DDDDEEEEFFFF"}},
    }
    flat, secret_keys = synth.pulumi_config(config, namespace=NAMESPACE)
    assert key("secrets") in secret_keys
    assert "v1:AAAABBBBCCCC" not in json.dumps(flat)
    assert "v1:DDDDEEEEFFFF" not in json.dumps(flat)
    secrets = json.loads(flat[key("secrets")])
    assert secrets["slackApiUrl"] == secrets["env"]["ANY_NAME"] == synth.PLACEHOLDER


def test_every_secret_the_shape_needs_gets_a_placeholder() -> None:
    """A fresh clone has no secret at all: the synth still runs, each needed one a placeholder,
    the services' secretEnv names included."""
    config = stack_config("staging")
    flat, _ = synth.pulumi_config(config, namespace=NAMESPACE)
    secrets = json.loads(flat[key("secrets")])
    listed = {n for s in validated_stack("staging").services.values() for n in s.secret_env}
    assert set(secrets["env"]) == listed
    assert set(secrets["env"].values()) == {synth.PLACEHOLDER}


def test_canary_secrets_never_leave_the_secret_channel(
    run_stack: SynthFn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = validated_stack("production")
    env = {name: CANARY for s in config.services.values() for name in s.secret_env}
    secrets = {"railwayToken": CANARY, "vercelToken": CANARY, "env": env}
    plan = run_stack("production", secrets=secrets)
    synth.write(plan, tmp_path)
    print(synth.summary(plan, tmp_path))
    captured = capsys.readouterr()
    written = "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    assert CANARY not in written
    assert CANARY not in captured.out + captured.err
    assert '"[secret]"' in written  # the secrets are there, masked


def test_a_rerun_leaves_exactly_the_files_the_program_renders(
    run_stack: SynthFn, tmp_path: Path
) -> None:
    plan = run_stack("staging")
    folder = tmp_path / "monitoring"
    stale = folder / "gone" / "old.yml"  # from an older program: no longer rendered
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    outside = tmp_path / "outside.yml"
    outside.write_text("not ours")
    rendered = sorted(synth.monitoring_files(plan))
    (folder / rendered[0]).parent.mkdir(parents=True, exist_ok=True)
    (folder / rendered[0]).symlink_to(outside)  # a link where a rendered file goes
    synth.write(plan, tmp_path)
    found = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert found == rendered
    assert not (folder / "gone").exists()
    assert not (folder / rendered[0]).is_symlink()
    assert outside.read_text() == "not ours"


def test_a_full_disk_leaves_the_plan_before_whole(
    run_stack: SynthFn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = run_stack("staging")
    synth.write(plan, tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    write_text = Path.write_text

    def full(path: Path, content: str, **options: Any) -> int:
        write_text(path, content[: len(content) // 2], **options)  # what fitted
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError, match="No space left"):
        synth.write(plan, tmp_path)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_an_output_folder_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file where the folder would go")
    result = run_cli("--stack", "staging", "--out", str(tmp_path / "file" / "out"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    blocked = tmp_path / "file"
    assert (
        result.stderr.strip()
        == f"cannot write {blocked / 'out'}: {blocked} is a file, not a folder"
    )


def test_outputs_hold_no_secret(run_stack: SynthFn) -> None:
    outputs: dict[str, Any] = run_stack("staging").outputs
    assert "[secret]" not in json.dumps(outputs)
    assert outputs["github"]["branch"] == validated_stack("staging").github.branch


def test_policy_flag_fails_a_weakened_production_stack(tmp_path: Path) -> None:
    config = stack_config("production")
    for weakening in ("no-reviewer", "wait-timer-0"):
        edit, *_ = WEAKENINGS[weakening]
        edit(config)
    stack_file = dump_yaml(config, tmp_path / "Pulumi.production.yaml")
    weakened = run_cli(
        "--stack", "production", "--stack-file", str(stack_file), "--out", str(tmp_path / "w"),
        "--policy",
    )  # fmt: skip
    assert weakened.returncode == 1
    assert "[mandatory]" in weakened.stdout
    assert "github-environment" in weakened.stdout
    clean = run_cli("--stack", "production", "--out", str(tmp_path / "c"), "--policy")
    assert clean.returncode == 0, clean.stdout
    assert "[mandatory]" not in clean.stdout


def test_a_namespace_typo_in_a_given_stack_file_is_to_be_renamed_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = f"{NAMESPACE[:-1]}:github"  # the project's namespace without its last letter
    stack_file = dump_yaml({typo: {"waitTimer": 5}}, tmp_path / "edited.yaml")
    args = ["--stack", "production", "--stack-file", str(stack_file), "--out", str(tmp_path)]
    assert synth.main([*args, "--project-dir", str(PROJECT_DIR)]) == 2
    assert f"rename it to {NAMESPACE}:github in {stack_file}, or " in capsys.readouterr().err
