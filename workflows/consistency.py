"""What the rendered workflows read and use (`usage`), and every place where that disagrees with
what the GitHub component declares (`check`). Both read the rendered YAML, not the config, so
they judge what the application repository will actually run."""

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitoring import yamlfile
from workflows.ci import PATH as CI_PATH

WORKFLOWS = ".github/workflows/"
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
REFERENCE = re.compile(r"\b(secrets|vars)\.([A-Za-z_][A-Za-z0-9_]*)")
# A step that ships code: our Railway script, Railway's or Vercel's CLI deploying.
DEPLOYS = re.compile(
    r"railway-deploy(?:-image)?\.sh|\brailway\s+(?:up|redeploy)\b|\bvercel\s+(?:deploy|--prod)\b"
)
FREEZE_GATE = re.compile(r"\bfreeze-gate\.sh\b")
# A step that runs the application's own code or its dependencies' scripts (install, build,
# tests).
APP_CODE = re.compile(
    r"\bvercel\s+build\b|\bnext\s+build\b|\bnpm\s+(?:run|start|test|ci|install)\b"
    r"|\bplaywright\s+test\b"
)
# Run inside a container on a copy of the checkout (workflows/vercel_build.py): it cannot write
# the runner's $GITHUB_ENV / $GITHUB_PATH or the tools later steps run.
WALLED_OFF = re.compile(r"^docker run --rm ", re.MULTILINE)
# The pipeline's own deploy CLIs, installed from their lockfile outside the checkout: the
# packages that receive the tokens anyway, so their install is trusted as much as they are.
DEPLOY_TOOLS = re.compile(r'\bnpm ci --prefix "\$tools"')
# GitHub provides this one to every run; nothing declares it.
AUTOMATIC_SECRETS = frozenset({"GITHUB_TOKEN"})


@dataclass(frozen=True)
class Reference:
    kind: str  # "secrets" or "vars"
    name: str
    workflow: str  # path in the application repository
    key: str  # where in the workflow, e.g. jobs.deploy.steps[5].env.RAILWAY_TOKEN
    environment: str | None  # the GitHub environment of the job that reads it


@dataclass(frozen=True)
class Usage:
    ci_checks: tuple[str, ...]  # the status checks ci.yml reports: its jobs' names
    secrets: dict[str, tuple[str, ...]]  # workflow -> names of the secrets it reads
    variables: dict[str, tuple[str, ...]]  # workflow -> names of the variables it reads
    environments: dict[str, tuple[str, ...]]  # workflow -> GitHub environments its jobs use


@dataclass(frozen=True)
class DeclaredEnvironment:
    secrets: frozenset[str] = frozenset()
    variables: frozenset[str] = frozenset()  # include what is set at run time (DEPLOY_FREEZE)


@dataclass(frozen=True)
class Declared:
    """What the GitHub component (and the rollback service) provide to the workflows."""

    required_checks: tuple[str, ...]
    environments: Mapping[str, DeclaredEnvironment] = field(default_factory=dict)
    freeze_variable: str = "DEPLOY_FREEZE"  # the rollback service's ROLLBACK_FREEZE_VARIABLE
    freeze_token: str = "FREEZE_READ_TOKEN"  # the secret the gate re-reads the freeze with
    # Secrets made for the app's own code (Vercel's protection bypass for its end-to-end tests).
    app_secrets: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Problem:
    key: str  # workflow path and key path, or the stack config key
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}\n    fix: {self.fix}"


def _workflows(files: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    return {
        path: yamlfile.load(text)
        for path, text in sorted(files.items())
        if path.startswith(WORKFLOWS) and path.endswith((".yml", ".yaml"))
    }


def _strings(node: Any, key: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _strings(value, f"{key}.{name}" if key else str(name))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{key}[{index}]")
    elif isinstance(node, str):
        yield key, node


def _environment(job: dict[str, Any]) -> str | None:
    environment = job.get("environment")
    if isinstance(environment, dict):
        environment = environment.get("name")
    return environment if isinstance(environment, str) else None


def _references(path: str, workflow: dict[str, Any]) -> list[Reference]:
    found = []
    for job_id, job in workflow.get("jobs", {}).items():
        environment = _environment(job)
        for key, text in _strings(job, f"jobs.{job_id}"):
            for expression in EXPRESSION.findall(text):
                for kind, name in REFERENCE.findall(expression):
                    found.append(Reference(kind, name, path, key, environment))
    return found


def _names(references: list[Reference], kind: str) -> tuple[str, ...]:
    return tuple(sorted({r.name for r in references if r.kind == kind}))


def _ci_checks(workflows: Mapping[str, dict[str, Any]]) -> tuple[str, ...]:
    ci_jobs = workflows.get(CI_PATH, {}).get("jobs", {})
    return tuple(job.get("name", job_id) for job_id, job in ci_jobs.items())


def usage(files: Mapping[str, str]) -> Usage:
    workflows = _workflows(files)
    refs = {path: _references(path, workflow) for path, workflow in workflows.items()}
    return Usage(
        ci_checks=_ci_checks(workflows),
        secrets={path: _names(found, "secrets") for path, found in refs.items()},
        variables={path: _names(found, "vars") for path, found in refs.items()},
        environments={
            path: tuple(
                sorted({e for job in w.get("jobs", {}).values() if (e := _environment(job))})
            )
            for path, w in workflows.items()
        },
    )


def _check_required(
    workflows: Mapping[str, dict[str, Any]], declared: Declared
) -> Iterator[Problem]:
    checks = _ci_checks(workflows)
    for index, name in enumerate(declared.required_checks):
        if name not in checks:
            gate = checks[-1] if checks else "the CI gate job"
            yield Problem(
                f"github.requiredChecks[{index}]",
                f"{name!r} is not a job of the rendered CI ({CI_PATH}: {', '.join(checks)}): "
                "the ruleset would wait for a check that never reports",
                f"require {gate!r} (it fails when any CI job failed), or set the workflows' "
                f"requiredCheck to {name!r}",
            )


def check(files: Mapping[str, str], declared: Declared) -> list[Problem]:
    """Every disagreement between the rendered files and what is declared, each with its key
    path and a fix. Empty when they agree."""
    workflows = _workflows(files)
    problems = list(_check_required(workflows, declared))
    for path, workflow in workflows.items():
        problems += _check_jobs(path, workflow, declared)
        problems += _check_references(path, workflow, declared)
    return problems


def _check_jobs(path: str, workflow: dict[str, Any], declared: Declared) -> list[Problem]:
    problems = []
    for job_id, job in workflow.get("jobs", {}).items():
        environment = _environment(job)
        if environment is not None and environment not in declared.environments:
            problems.append(
                Problem(
                    f"{path}: jobs.{job_id}.environment",
                    f"uses the GitHub environment {environment!r}, which is not declared "
                    f"(declared: {', '.join(sorted(declared.environments)) or 'none'})",
                    "declare it (the stack's github.environment), or set the workflows' "
                    "environments[].githubEnvironment to a declared one",
                )
            )
        problems += _check_freeze_gate(path, job_id, job, declared)
        problems += _check_app_code(path, job_id, job, workflow, declared)
    return problems


def _check_freeze_gate(
    path: str, job_id: str, job: dict[str, Any], declared: Declared
) -> list[Problem]:
    """Each step that deploys has a gate after the step that deployed before it: the freeze is
    read again before every platform step, not once for the whole job."""
    steps = job.get("steps", [])
    runs = [str(step.get("run", "")) for step in steps]
    deploying = [i for i, script in enumerate(runs) if DEPLOYS.search(script)]
    if not deploying:
        return []
    fix = (
        f"run `bash .github/scripts/freeze-gate.sh` with DEPLOY_FREEZE: "
        f"${{{{ vars.{declared.freeze_variable} }}}} and FREEZE_READ_TOKEN: "
        f"${{{{ secrets.{declared.freeze_token} }}}} as a step right before every step that "
        "deploys, with no `if:` or `continue-on-error`"
    )
    gates = [i for i, script in enumerate(runs) if FREEZE_GATE.search(script)]
    problems = []
    for previous, index in zip([-1, *deploying], deploying, strict=False):
        where = f"{path}: jobs.{job_id}.steps[{index}]"
        before = [g for g in gates if previous < g < index]
        if not before:
            problem = (
                "deploys before any freeze gate has run"
                if previous < 0
                else "deploys without reading the freeze again since the step that deployed "
                f"before it (steps[{previous}])"
            )
            problems.append(Problem(where, problem, fix))
            continue
        problems += _gate_problems(where, steps[before[-1]], declared, fix)
    if _environment(job) is None:
        problems.append(
            Problem(
                f"{path}: jobs.{job_id}",
                "deploys outside a GitHub environment: no reviewers, no wait timer, and "
                "environment variables such as the freeze are empty",
                "give the job an `environment:`",
            )
        )
    return problems


def _gate_problems(where: str, gate: dict[str, Any], declared: Declared, fix: str) -> list[Problem]:
    env = gate.get("env", {})
    if env.get("DEPLOY_FREEZE") != f"${{{{ vars.{declared.freeze_variable} }}}}":
        message = f"the freeze gate before it does not read vars.{declared.freeze_variable}"
    elif env.get("FREEZE_READ_TOKEN") != f"${{{{ secrets.{declared.freeze_token} }}}}":
        message = (
            f"the freeze gate before it cannot read the freeze again (no "
            f"secrets.{declared.freeze_token}): it would judge the value from the job's start"
        )
    elif "if" in gate or gate.get("continue-on-error"):
        message = "the freeze gate before it may be skipped or ignored"
    else:
        return []
    return [Problem(where, message, fix)]


def _secrets_in(env: Mapping[str, Any], allowed: frozenset[str]) -> list[str]:
    """The variables of `env` that hold a secret other than the `allowed` ones."""
    return [
        name
        for name, value in env.items()
        for _kind, secret in REFERENCE.findall(" ".join(EXPRESSION.findall(str(value))))
        if _kind == "secrets" and secret not in allowed
    ]


def _runs_app_code(step: dict[str, Any]) -> bool:
    script = str(step.get("run", ""))
    return bool(APP_CODE.search(script)) and not DEPLOY_TOOLS.search(script)


def _check_app_code(
    path: str, job_id: str, job: dict[str, Any], workflow: dict[str, Any], declared: Declared
) -> list[Problem]:
    """A step that runs the application's code (its install, build and test scripts) sees no
    secret but the ones made for it: neither in its own env nor in the job's or the
    workflow's. And once such a step ran on the runner, no later step of the job holds a
    secret: the app's code could have written $GITHUB_ENV, $GITHUB_PATH or the tools those
    steps run."""
    outer = {**workflow.get("env", {}), **job.get("env", {})}
    allowed = declared.app_secrets
    inherited = [f"env.{name}" for name in _secrets_in(outer, allowed)]
    problems = []
    ran: int | None = None
    for index, step in enumerate(job.get("steps", [])):
        where = f"{path}: jobs.{job_id}.steps[{index}]"
        holds = _secrets_in({**step.get("env", {}), **step.get("with", {})}, allowed)
        if ran is not None and holds:
            problems.append(
                Problem(
                    where,
                    f"holds a secret ({', '.join(holds)}) after steps[{ran}] ran the "
                    "application's code on the runner, which could have changed this step's "
                    "environment, PATH or tools",
                    "run the app's code last in the job, in a job of its own, or walled off "
                    "(`docker run --rm` on a copy of the checkout)",
                )
            )
        if not _runs_app_code(step):
            continue
        if ran is None and not WALLED_OFF.search(str(step.get("run", ""))):
            ran = index
        own = _secrets_in(step.get("env", {}), allowed)
        for name in [*own, *inherited]:
            problems.append(
                Problem(
                    where,
                    f"runs the application's code with a secret in its environment ({name}): "
                    "a build script or a dependency could read it",
                    "give the token only to the steps that call the platform (vercel pull, "
                    "vercel deploy --prebuilt), never to the build",
                )
            )
    return problems


def _check_references(path: str, workflow: dict[str, Any], declared: Declared) -> list[Problem]:
    problems = []
    for ref in _references(path, workflow):
        if ref.kind == "secrets" and ref.name in AUTOMATIC_SECRETS:
            continue
        what = "secret" if ref.kind == "secrets" else "variable"
        if ref.environment is None:
            problems.append(
                Problem(
                    f"{path}: {ref.key}",
                    f"reads {ref.kind}.{ref.name} outside any GitHub environment; the component "
                    f"declares only environment {what}s",
                    "read it in a job that has an `environment:`, or stop reading it",
                )
            )
            continue
        holds = declared.environments.get(ref.environment, DeclaredEnvironment())
        names = holds.secrets if ref.kind == "secrets" else holds.variables
        if ref.name not in names:
            problems.append(
                Problem(
                    f"{path}: {ref.key}",
                    f"reads {ref.kind}.{ref.name}, which the environment {ref.environment!r} "
                    f"does not declare (it declares: {', '.join(sorted(names)) or 'none'})",
                    f"declare the {what} {ref.name} in {ref.environment!r}, or set the "
                    f"workflows' {ref.kind} names to declared ones",
                )
            )
    return problems
