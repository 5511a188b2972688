"""ci.yml: the frontend, backend and security checks of every pull request, ending in the one job
that the branch rulesets require. The deploy workflows call it before they deploy."""

from typing import Any

from workflows.actions import checkout, job, run, uses
from workflows.config import CI_JOBS, WorkflowsConfig

PATH = ".github/workflows/ci.yml"
HEADER = """\
CI of the application: runs on every pull request, and (through workflow_call) in each deploy
workflow before it deploys. Its last job is the status check the branch rulesets require: it
fails when any job before it did not succeed."""


def gate_job_id(check: str) -> str:
    """A job id for the required check's name (ids allow letters, digits, `-` and `_`)."""
    slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in check)
    return slug if slug[0].isalpha() or slug[0] == "_" else f"check-{slug}"


def _frontend(config: WorkflowsConfig) -> dict[str, Any]:
    root = config.frontend_root
    npx = "npx --no-install"  # only what the lockfile installed: never fetch a tool on the fly
    return job(
        "frontend",
        20,
        [
            checkout(),
            uses(
                "actions/setup-node",
                node_version=config.node_version,
                cache="npm",
                cache_dependency_path=f"{root}/package-lock.json",
            ),
            run("Install", "npm ci"),
            run("ESLint", f"{npx} eslint ."),
            run("Prettier", f"{npx} prettier --check ."),
            run("Type check", f"{npx} tsc --noEmit"),
            run("Jest with coverage", f"{npx} jest --ci --coverage"),
            run("Next.js build", f"{npx} next build", env={"NEXT_TELEMETRY_DISABLED": "1"}),
        ],
        defaults={"run": {"working-directory": root}},
    )


def _requirements(config: WorkflowsConfig) -> str:
    return " ".join(f"-r {path}" for path in config.backend_requirements)


def _backend(config: WorkflowsConfig) -> dict[str, Any]:
    root = config.backend_root
    pins = config.tools.pins("ruff", "mypy", "pytest", "pytest_cov")
    return job(
        "backend",
        20,
        [
            checkout(),
            uses(
                "actions/setup-python",
                python_version=config.python_version,
                cache="pip",
                cache_dependency_path="\n".join(
                    f"{root}/{path}" for path in config.backend_requirements
                )
                + "\n",
            ),
            run("Install", f"python -m pip install --quiet {_requirements(config)} {pins}"),
            run("Ruff", "ruff check ."),
            run("Ruff format", "ruff format --check ."),
            run("mypy", "mypy ."),
            run(
                f"pytest, coverage at least {config.coverage_gate}%",
                f"pytest --cov={config.backend_package} --cov-report=term-missing "
                f"--cov-fail-under={config.coverage_gate}",
            ),
        ],
        defaults={"run": {"working-directory": root}},
    )


def _security(config: WorkflowsConfig) -> dict[str, Any]:
    return job(
        "security",
        15,
        [
            checkout(),
            uses("actions/setup-python", python_version=config.python_version),
            uses(
                "actions/setup-node",
                node_version=config.node_version,
                package_manager_cache=False,
            ),
            run(
                "Install Bandit and pip-audit",
                f"python -m pip install --quiet {config.tools.pins('bandit', 'pip_audit')}",
            ),
            run(
                "Bandit",
                "bandit -q -r . -x ./tests --severity-level medium --confidence-level medium",
                working_directory=config.backend_root,
            ),
            run(
                "pip-audit",
                f"pip-audit --progress-spinner off {_requirements(config)}",
                working_directory=config.backend_root,
            ),
            run(
                "npm audit",
                f"npm audit --audit-level={config.npm_audit_level}",
                working_directory=config.frontend_root,
            ),
        ],
    )


def _gate(config: WorkflowsConfig, needed: list[str]) -> dict[str, Any]:
    env = {name.upper().replace("-", "_"): f"${{{{ needs.{name}.result }}}}" for name in needed}
    pairs = " ".join(f'"{name}=${var}"' for name, var in zip(needed, env, strict=True))
    script = f"""\
status=0
for outcome in {pairs}; do
  job="${{outcome%%=*}}"
  result="${{outcome#*=}}"
  if [ "$result" = success ]; then
    echo "$job: success"
  else
    echo "::error title=$job did not succeed::$job ended with '$result'"
    status=1
  fi
done
exit "$status"
"""
    return job(
        config.required_check,
        5,
        [run("Every job before this one succeeded", script, env=env)],
        needs=needed,
        permissions={},
        **{"if": "${{ always() }}"},
    )


def ci_workflow(config: WorkflowsConfig) -> dict[str, Any]:
    jobs = dict(zip(CI_JOBS, (_frontend(config), _backend(config), _security(config)), strict=True))
    jobs[gate_job_id(config.required_check)] = _gate(config, list(jobs))
    return {
        "name": "ci",
        "on": {"pull_request": None, "workflow_call": None},
        "permissions": {"contents": "read"},
        "concurrency": {
            "group": "ci-${{ github.workflow }}-"
            "${{ github.event.pull_request.number || github.ref }}",
            # Superseded pull request runs stop; a deploy's CI always finishes.
            "cancel-in-progress": "${{ github.event_name == 'pull_request' }}",
        },
        "jobs": jobs,
    }
