"""A project's stack files taken through the documented path with the real commands (synth,
policy, app workflows, plan diff) and the real tools (promtool, amtool, check-jsonschema, zizmor,
shellcheck): for the example products and for a product adopted in a test."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import (
    ROOT,
    run_blocks,
    shellcheck_findings,
    workflow_schema_check,
    zizmor_findings,
)
from tests.monitoring.conftest import require_tool
from tools.stacks import stacks as stacks_of

EXAMPLES = ROOT / "examples"


def example_stacks() -> list[tuple[Path, str]]:
    return [(d, s) for d in sorted(EXAMPLES.iterdir()) for s in stacks_of(d)]


def command(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`python -m MODULE ARGS` as a person runs it from the repository (no CI-only variables),
    run in this process: the module's `main(argv)`, what its `python -m` entry point calls, with
    its output and exit code. Starting an interpreter for each would cost most of these tests'
    time; the entry points themselves are run as processes in tests/test_synth.py and
    tests/test_app_workflows.py."""
    module_name, *argv = map(str, args)
    module = importlib.import_module(module_name)
    if not hasattr(module, "main"):  # a package: `python -m` runs its __main__
        module = importlib.import_module(f"{module_name}.__main__")
    out, err = io.StringIO(), io.StringIO()
    saved = os.environ.pop("PIPELINE_PROJECT_DIR", None)
    try:
        with (
            contextlib.chdir(ROOT),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                code = module.main(argv)
            except SystemExit as exit_:  # argparse's usage errors
                code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        if saved is not None:
            os.environ["PIPELINE_PROJECT_DIR"] = saved
    result = subprocess.CompletedProcess(
        [sys.executable, "-m", *map(str, args)], code, out.getvalue(), err.getvalue()
    )
    if check:
        assert result.returncode == 0, (
            f"{args}: {result.returncode}\n{result.stdout}{result.stderr}"
        )
    return result


def synth(project_dir: Path, stack: str, out: Path) -> dict[str, Any]:
    """The offline synth of the stack with the policy over its plan, with the project's own
    settings file (policy/settings/<stack>.yaml): both must pass."""
    result = command(
        "tools.synth", "--project-dir", project_dir, "--stack", stack, "--out", out, "--policy"
    )
    assert "mandatory" not in result.stdout, result.stdout
    plan: dict[str, Any] = json.loads((out / "plan.json").read_text())
    return plan


def check_monitoring(tree: Path) -> None:
    """promtool and amtool accept every rendered Prometheus and Alertmanager file."""
    promtool, amtool = require_tool("promtool"), require_tool("amtool")
    rules = sorted((tree / "prometheus/rules").glob("*.yml"))
    assert rules, "no rule file rendered"
    for args in (
        [promtool, "check", "config", str(tree / "prometheus/prometheus.yml")],
        [promtool, "check", "rules", *map(str, rules)],
        [amtool, "check-config", str(tree / "alertmanager/alertmanager.yml")],
    ):
        result = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)
        assert result.returncode == 0, f"{args}:\n{result.stdout}{result.stderr}"


def check_workflows(project_dir: Path, stack: str, out: Path) -> None:
    """The application repository's files the stack renders: GitHub's workflow schema, zizmor as
    an auditor (offline), shellcheck on every script and `run:` step."""
    command("tools.app_workflows", "--project-dir", project_dir, "--stack", stack, "--out", out)
    workflows = sorted((out / ".github/workflows").glob("*.yml"))
    assert workflows
    schema = workflow_schema_check(workflows)
    assert schema.returncode == 0, schema.stdout + schema.stderr
    findings = zizmor_findings(workflows, "--persona", "auditor")
    assert [f"{f['ident']}: {f['desc']}" for f in findings] == []
    scripts = {p.name: p.read_text() for p in sorted((out / ".github/scripts").glob("*.sh"))}
    scripts |= run_blocks(workflows)
    assert scripts
    assert shellcheck_findings(scripts) == ""


def strings(value: Any) -> list[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return [value] if isinstance(value, str) else []
