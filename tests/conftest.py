"""Shared fixtures: every test that runs the program gets a fresh mock runtime (tools.mockrun)."""

from __future__ import annotations

import copy
import functools
import gc
import json
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import yaml

import components.monitoring
from components.config import ConfigError, StackConfig, project_name, raw_project_config, validate
from monitoring import MonitoringConfig, Target
from tools import mockrun, synth

# Speed is measured in benchmarks/, never asserted: no per-example deadline for property tests
# (on a loaded machine it fails correct code).
hypothesis.settings.register_profile("pipeline", deadline=None)
hypothesis.settings.load_profile("pipeline")

ROOT = Path(__file__).resolve().parent.parent
# The project whose stack files the tests read: this repository's, or an adopter's
# (`PIPELINE_PROJECT_DIR=examples/shop pytest ...`: its Pulumi.yaml and Pulumi.<stack>.yaml).
PROJECT_DIR = (ROOT / os.environ.get("PIPELINE_PROJECT_DIR", ".")).resolve()
# Staging first, then the rest by name: the stacks the project has a file for.
STACKS = tuple(
    sorted(
        (
            path.name.removeprefix("Pulumi.").removesuffix(".yaml")
            for path in PROJECT_DIR.glob("Pulumi.*.yaml")
        ),
        key=lambda stack: (stack != "staging", stack),
    )
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test marked `committed_stacks("why")` is about this repository's own stack files (their
    content, the upgrade of their state), not behaviour: on another project's stack files it is
    skipped with its reason, never counted as passed (docs/adopting.md, "The suite on your stack
    files")."""
    if OWN_STACKS:
        return
    project = PROJECT_DIR.relative_to(ROOT) if PROJECT_DIR.is_relative_to(ROOT) else PROJECT_DIR
    where = "" if PROJECT_DIR == ROOT else f" in {project}"
    for item in items:
        marker = item.get_closest_marker("committed_stacks")
        if marker is not None:
            why = marker.args[0] if marker.args else marker.kwargs["why"]
            item.add_marker(
                pytest.mark.skip(
                    reason=f"about the stacks this repository was written for, not "
                    f"{NAMESPACE}'s{where}: {why}"
                )
            )


def pytest_collection_finish() -> None:
    """What collection imported (pulumi and the provider SDKs, pydantic's models, the schemas)
    lives until the worker exits: frozen, the garbage collector stops walking it again at every
    full collection. Measured on the synth-heavy tests: about a quarter less CPU, the same peak
    memory (docs/performance.md, "The test command")."""
    gc.collect()
    gc.freeze()


def skip_or_fail(reason: str) -> None:
    """Skip a test whose tool or file is missing; in CI a missing tool is a failure, not a skip."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing prerequisite fails the run)")
    pytest.skip(reason)


def tool(name: str) -> str:
    """An external tool: from the project's virtualenv first, then PATH."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        skip_or_fail(f"{name} not installed (pip install {name}, or apt-get install {name})")
    assert found is not None
    return found


def schema_check(schema: str, files: Iterable[Path]) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with one of the schemas it ships (`vendor.github-workflows`, ...)."""
    return subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def workflow_schema_check(files: Iterable[Path]) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with the GitHub workflow schema it ships."""
    return schema_check("vendor.github-workflows", files)


def run_blocks(workflows: Iterable[Path]) -> dict[str, str]:
    """Every `run:` step of the workflow files, labelled `file: jobs.ID.steps[N]`."""
    return {
        f"{path.name}: jobs.{job_id}.steps[{index}]": step["run"]
        for path in workflows
        for job_id, job in yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"].items()
        for index, step in enumerate(job.get("steps", []))
        if "run" in step
    }


def shellcheck_findings(scripts: Mapping[str, str], folder: Path | None = None) -> str:
    """shellcheck's findings over every script (label -> text) in one process, as bash (GitHub runs
    a step as `bash -e {file}`), each named by its label; "" when there is none. `folder`: the
    scripts are the files of that folder, labelled by file name, checked there with `-x` so
    that what one sources (railway-lib.sh) is followed."""
    with tempfile.TemporaryDirectory() as temp:
        where = folder or Path(temp)
        files = {
            label if folder else str(where / f"{n}.sh"): label for n, label in enumerate(scripts)
        }
        if folder is None:
            for name, label in files.items():
                Path(name).write_text(scripts[label], encoding="utf-8")
        result = subprocess.run(
            [tool("shellcheck"), "-s", "bash", *(["-x"] if folder else []), *files],
            cwd=where, capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
    if result.returncode == 0:
        return ""
    found = result.stdout + result.stderr
    for name, label in files.items():
        found = found.replace(f"In {name} ", f"In {label} ")
    return found or f"shellcheck exited {result.returncode}"


def zizmor_findings(files: Iterable[Path], *options: str) -> list[dict[str, Any]]:
    """zizmor's findings, offline (no GitHub API), as JSON objects."""
    result = subprocess.run(
        [tool("zizmor"), "--offline", "--format", "json", *options, *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    findings: list[dict[str, Any]] = json.loads(result.stdout)
    return findings


NAMESPACE = project_name(PROJECT_DIR)  # the project's, from its Pulumi.yaml
# Whether the stack files under test are the ones this repository was written for: the project
# its frozen plans of before 2.0.0 were made of (tests/plandiff/frozen), at the repository root.
# In an adopter's copy (another name) or on examples/shop they are not.
_FROZEN = ROOT / "tests" / "plandiff" / "frozen" / "production" / "plan.json"
OWN_STACKS = PROJECT_DIR == ROOT and json.loads(_FROZEN.read_text())["project"] == NAMESPACE


def key(name: str) -> str:
    """A stack file key of the project: `services` -> `<project>:services`."""
    return f"{NAMESPACE}:{name}"


# An explicit fixture product of a fixed shape (a Vercel frontend, a critical Railway backend, a
# non-critical worker) for tests about that shape rather than about the stack under test.
THREE_SERVICES = ROOT / "tests" / "fixtures" / "three_services"


def stack_config(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """A project's stack file's config, a copy of its own for each caller to change."""
    return copy.deepcopy(_stack_config(stack, project_dir))


@functools.cache
def _stack_config(stack: str, project_dir: Path) -> dict[str, Any]:
    # Read once per process: the strict reader is pure Python, and hundreds of tests start
    # from the same stack files.
    return synth.read_stack_file(project_dir / f"Pulumi.{stack}.yaml")


def merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `changes` merged in, mapping by mapping (a non-mapping value replaces)."""
    out = dict(base)
    for name, value in changes.items():
        if isinstance(value, Mapping) and isinstance(out.get(name), Mapping):
            out[name] = merged(out[name], value)
        else:
            out[name] = value
    return out


def monitoring_config(
    changes: Mapping[str, Any] | None = None,
    stack: str = "staging",
    project_dir: Path = PROJECT_DIR,
) -> MonitoringConfig:
    """The stack's monitoring settings as the program derives them (components.monitoring:
    runbooks, the rollback webhook, the servers' addresses), with `changes` (camelCase) merged
    in: what a test renders is what the stack would render."""
    derived = components.monitoring.settings(validated_stack(stack, project_dir))
    base = derived.model_dump(by_alias=True, mode="json", exclude_none=True)
    return MonitoringConfig.model_validate(merged(base, changes or {}))


def target_of(
    stack: str = "staging", project_dir: Path = PROJECT_DIR, **services: Mapping[str, Any]
) -> Target:
    """The stack's monitoring target as the program derives it, each named service changed by
    its mapping (snake_case fields of MonitoredService)."""
    target = components.monitoring.target(validated_stack(stack, project_dir))
    changed = {
        name: target.services[name].model_copy(update=dict(update))
        for name, update in services.items()
    }
    return target.model_copy(update={"services": {**target.services, **changed}})


def config_error(stack: str, edit: Callable[[dict[str, Any]], None]) -> str:
    """The config error of the committed stack file changed by `edit`, as the program raises it
    under the mock runtime, checking that no resource was registered before it."""
    config = copy.deepcopy(stack_config(stack))
    edit(config)
    flat, secret_keys = synth.pulumi_config(config, namespace=NAMESPACE)
    monitor = mockrun.RecordingMonitor(mockrun.Mocks())
    with pytest.raises(ConfigError) as caught:
        mockrun.run(
            lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"),
            stack=stack,
            config=flat,
            secret_keys=secret_keys,
            monitor=monitor,
            project=NAMESPACE,
        )
    assert monitor.registrations == []
    return str(caught.value)


def validated_stack(stack: str, project_dir: Path = PROJECT_DIR) -> StackConfig:
    """The committed stack file, validated as the program does (placeholder secrets)."""
    return _validated(stack, project_dir)


def built_service(stack: str, project_dir: Path = PROJECT_DIR) -> tuple[str, dict[str, Any]] | None:
    """A Railway service of the stack made to run the image CI builds (`deploy: built`): its
    name and stack-file entry; one with a Dockerfile, else the first that runs no fixed image,
    given the Dockerfile at its root. None where every Railway service runs a fixed image."""
    services = stack_config(stack, project_dir)[key("services")]
    own = {n: s for n, s in services.items() if s["platform"] == "railway" and not s.get("image")}
    name = next((n for n, s in own.items() if s.get("dockerfile")), next(iter(own), None))
    return (
        None
        if name is None
        else (name, {"dockerfile": "Dockerfile", **own[name], "deploy": "built"})
    )


def business_metrics(stack: str = "staging", project_dir: Path = PROJECT_DIR) -> dict[str, str]:
    """The names of the business metrics the stack exports (camelCase keys), or the fixture
    product's where it exports none: what a test of the business alerts gives such a stack."""
    business = (
        validated_stack(stack, project_dir).monitoring.business
        or validated_stack("staging", THREE_SERVICES).monitoring.business
    )
    assert business is not None, "the fixture product exports business metrics"
    names: dict[str, str] = business.metrics.model_dump(by_alias=True, exclude_none=True)
    return names


@functools.cache
def _validated(stack: str, project_dir: Path) -> StackConfig:
    namespace = project_name(project_dir)
    flat, _ = synth.pulumi_config(stack_config(stack, project_dir), namespace=namespace)
    return validate(
        raw_project_config(flat, namespace), stack, frozenset({"secrets"}), (), namespace
    )


SynthFn = Callable[..., mockrun.Plan]
CommittedPlan = Callable[[str], mockrun.Plan]


@pytest.fixture(scope="session")
def committed_plan() -> CommittedPlan:
    """The committed stack file's plan: the program runs once per stack and test run (per
    xdist worker); each caller gets its own copy to change. Both run here, when the session
    fixture is set up, before any test body can patch the program."""
    plans = {
        stack: synth.run_program(stack, stack_config(stack), project_dir=PROJECT_DIR)
        for stack in STACKS
    }
    return lambda stack: copy.deepcopy(plans[stack])


@pytest.fixture
def run_stack(committed_plan: CommittedPlan, request: pytest.FixtureRequest) -> SynthFn:
    """Run the real program for a stack, optionally editing its config and setting secrets.

    `edit(config)` receives the stack file's `config` mapping (namespaced keys) to mutate.
    Without either, the plan is the committed stack's, synthesized once per test run, unless
    the test uses `monkeypatch` (it changes the program: the program runs again).
    """
    patched = "monkeypatch" in request.fixturenames

    def _run(
        stack: str,
        edit: Callable[[dict[str, Any]], None] | None = None,
        secrets: Mapping[str, str] | None = None,
    ) -> mockrun.Plan:
        if edit is None and secrets is None and not patched:
            return committed_plan(stack)
        config = copy.deepcopy(stack_config(stack))
        if edit:
            edit(config)
        return synth.run_program(stack, config, secrets, PROJECT_DIR)

    return _run


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def dump_yaml(config: Mapping[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump({"config": dict(config)}, sort_keys=False))
    return path
