"""ci.yml: the checks of every pull request (one job per source folder and language, and the
security checks), ending in the one job that the branch rulesets require. The deploy workflows
call it before they deploy."""

from typing import Any

from workflows import e2e
from workflows.actions import checkout, job, run, upload, uses
from workflows.config import SECURITY_JOB, AppService, WorkflowsConfig, image_job

PATH = ".github/workflows/ci.yml"
HEADER = """\
CI of the application: runs on every pull request, and (through workflow_call) in each deploy
workflow before it deploys. Its last job is the status check the branch rulesets require: it
fails when any job before it did not succeed."""


def gate_job_id(check: str) -> str:
    """A job id for the required check's name (ids allow letters, digits, `-` and `_`)."""
    slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in check)
    return slug if slug[0].isalpha() or slug[0] == "_" else f"check-{slug}"


def _node(config: WorkflowsConfig, name: str, services: list[str]) -> dict[str, Any]:
    npx = "npx --no-install"  # only what the lockfile installed: never fetch a tool on the fly
    root = config.services[services[0]].root
    tested = config.e2e_service() in services
    return job(
        name,
        30 if tested else 20,
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
            *(e2e.local_steps(root) if tested else []),
        ],
        defaults={"run": {"working-directory": root}},
    )


def _requirements(services: list[AppService]) -> list[str]:
    """The requirements files of services sharing a folder, each once, in order."""
    return list(dict.fromkeys(p for s in services if s.python for p in s.python.requirements))


def _packages(services: list[AppService]) -> list[str]:
    return list(dict.fromkeys(s.python.package for s in services if s.python))


# The pytest markers the spec names: each job selects its own; the gate counts both.
UNIT = "not integration and not slow"
INTEGRATION = "integration or slow"
POSTGRES_URL = "postgresql://postgres@localhost:5432/test"
REDIS_URL = "redis://localhost:6379/0"


def _databases(config: WorkflowsConfig) -> tuple[dict[str, Any], dict[str, str]]:
    """The service containers (ports on the runner's loopback, health-checked before the first
    step) and the variables that point the tests at them. No password: the container takes only
    this job's connections (trust), and none appears in a file."""
    databases = config.app_ci.databases
    containers: dict[str, Any] = {}
    env: dict[str, str] = {}
    health = "--health-interval 5s --health-timeout 5s --health-retries 10"
    if databases.postgres:
        containers["postgres"] = {
            "image": databases.postgres,
            "env": {"POSTGRES_DB": "test", "POSTGRES_HOST_AUTH_METHOD": "trust"},
            "ports": ["5432:5432"],
            "options": f"--health-cmd pg_isready {health}",
        }
        env["DATABASE_URL"] = POSTGRES_URL
    if databases.redis:
        containers["redis"] = {
            "image": databases.redis,
            "ports": ["6379:6379"],
            "options": f'--health-cmd "redis-cli ping" {health}',
        }
        env["REDIS_URL"] = REDIS_URL
    return containers, env


def _setup(config: WorkflowsConfig, root: str, requirements: list[str]) -> list[dict[str, Any]]:
    return [
        checkout(),
        uses(
            "actions/setup-python",
            python_version=config.python_version,
            cache="pip",
            cache_dependency_path="\n".join(f"{root}/{path}" for path in requirements) + "\n",
        ),
    ]


def _install(requirements: list[str], pins: str) -> dict[str, Any]:
    return run(
        "Install",
        f"python -m pip install --quiet {' '.join(f'-r {p}' for p in requirements)} {pins}",
    )


def _coverage_data(name: str, root: str, kind: str) -> dict[str, Any]:
    """This job's coverage data, for the coverage job (a hidden file: uploaded on purpose)."""
    return {
        **uses(
            "actions/upload-artifact",
            name=f"coverage-{name}-{kind}",
            path=f"{root}/.coverage.{kind}",
            include_hidden_files=True,
            if_no_files_found="error",
            retention_days=1,
        ),
        "if": "${{ success() }}",
    }


def _python(config: WorkflowsConfig, name: str, services: list[AppService]) -> dict[str, Any]:
    """Lint, types, the unit tests and the wheel; the integration tests and the coverage gate
    over both are the next two jobs (`_integration`, `_coverage`)."""
    root = services[0].root
    pins = config.tools.pins("ruff", "mypy", "pytest", "pytest_cov", "coverage", "build")
    requirements = _requirements(services)
    coverage = " ".join(f"--cov={package}" for package in _packages(services))
    return job(
        name,
        30,
        [
            *_setup(config, root, requirements),
            _install(requirements, pins),
            run("Ruff", "ruff check ."),
            run("Ruff format", "ruff format --check ."),
            run("mypy", "mypy ."),
            run(
                f"Unit tests (-m '{UNIT}')",
                f'python -m pytest -m "{UNIT}" {coverage} --cov-report=',
                env={"COVERAGE_FILE": ".coverage.unit"},
            ),
            _coverage_data(name, root, "unit"),
            run("Build the Python package", "python -m build --wheel --outdir dist ."),
            upload(f"wheel-{name}", f"{root}/dist/*.whl", when="success()"),
        ],
        defaults={"run": {"working-directory": root}},
    )


def _integration(config: WorkflowsConfig, name: str, services: list[AppService]) -> dict[str, Any]:
    """The integration tests, against the stack's database containers: a job of their own, so
    the unit job never waits for the containers and each selects its tests by marker."""
    root = services[0].root
    pins = config.tools.pins("pytest", "pytest_cov", "coverage")
    requirements = _requirements(services)
    coverage = " ".join(f"--cov={package}" for package in _packages(services))
    containers, databases = _databases(config)
    against = " against PostgreSQL and Redis" if databases else ""
    return job(
        f"{name} integration",
        30,
        [
            *_setup(config, root, requirements),
            _install(requirements, pins),
            run(
                f"Integration tests{against} (-m '{INTEGRATION}')",
                f'python -m pytest -m "{INTEGRATION}" {coverage} --cov-report=',
                env={"COVERAGE_FILE": ".coverage.integration", **databases},
            ),
            _coverage_data(name, root, "integration"),
        ],
        defaults={"run": {"working-directory": root}},
        **({"services": containers} if containers else {}),
    )


def _coverage(config: WorkflowsConfig, name: str, services: list[AppService]) -> dict[str, Any]:
    """One gate over the unit and the integration tests' coverage, read against the checkout."""
    root = services[0].root
    return job(
        f"{name} coverage",
        10,
        [
            *_setup(config, root, _requirements(services)),
            run(
                "Install coverage", f"python -m pip install --quiet {config.tools.pins('coverage')}"
            ),
            uses(
                "actions/download-artifact",
                pattern=f"coverage-{name}-*",
                merge_multiple=True,
                path=root,
            ),
            run(
                f"Coverage of both, at least {config.coverage_gate}%",
                "python -m coverage combine .coverage.unit .coverage.integration\n"
                f"python -m coverage report --show-missing --fail-under={config.coverage_gate}\n",
            ),
        ],
        needs=[name, f"{name}-integration"],
        defaults={"run": {"working-directory": root}},
    )


def image_steps(config: WorkflowsConfig, service: str, *, push: str | None) -> list[Any]:
    """Buildx with GitHub's cache (one scope per service); `push`: the tag to push, else the
    image is only built. The build runs the Dockerfile's own steps inside BuildKit, not on the
    runner, and holds no token."""
    spec = config.services[service]
    build: dict[str, Any] = {
        "context": spec.root,
        "file": f"{spec.root}/{spec.dockerfile}",
        "push": push is not None,
        "cache-from": f"type=gha,scope={service}",
    }
    if push is None:
        build["cache-to"] = f"type=gha,scope={service},mode=max"
    else:
        build["tags"] = push
    return [
        uses("docker/setup-buildx-action"),
        {
            "name": f"{'Build and push' if push else 'Build'} the {service}'s image (Buildx)",
            "uses": uses("docker/build-push-action")["uses"],
            "with": build,
        },
    ]


def _image(config: WorkflowsConfig, service: str) -> dict[str, Any]:
    return job(image_job(service), 30, [checkout(), *image_steps(config, service, push=None)])


def _security(config: WorkflowsConfig) -> dict[str, Any]:
    groups = [[config.services[n] for n in names] for names in config.checked().values()]
    python = [g for g in groups if g[0].language == "python"]
    node = [g for g in groups if g[0].language == "node"]
    steps: list[dict[str, Any]] = [checkout()]
    if python:
        steps += [
            uses("actions/setup-python", python_version=config.python_version),
        ]
    if node:
        steps += [
            uses(
                "actions/setup-node",
                node_version=config.node_version,
                package_manager_cache=False,
            ),
        ]
    if python:
        steps.append(
            run(
                "Install Bandit and pip-audit",
                f"python -m pip install --quiet {config.tools.pins('bandit', 'pip_audit')}",
            )
        )
    several = len(python) > 1
    for group in python:
        root = group[0].root
        at = f" ({root})" if several else ""
        requirements = " ".join(f"-r {p}" for p in _requirements(group))
        steps += [
            run(
                f"Bandit{at}",
                "bandit -q -r . -x ./tests --severity-level medium --confidence-level medium",
                working_directory=root,
            ),
            run(
                f"pip-audit{at}",
                f"pip-audit --progress-spinner off {requirements}",
                working_directory=root,
            ),
        ]
    for group in node:
        root = group[0].root
        steps.append(
            run(
                f"npm audit{f' ({root})' if len(node) > 1 else ''}",
                f"npm audit --audit-level={config.npm_audit_level}",
                working_directory=root,
            )
        )
    return job(SECURITY_JOB, 15, steps)


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


def _check(config: WorkflowsConfig, name: str, services: list[str]) -> dict[str, Any]:
    checked = [config.services[s] for s in services]
    if checked[0].language == "node":
        return _node(config, name, services)
    return _python(config, name, checked)


def ci_workflow(config: WorkflowsConfig) -> dict[str, Any]:
    jobs = {name: _check(config, name, services) for name, services in config.checked().items()}
    for name in config.python_jobs():
        services = [config.services[s] for s in config.checked()[name]]
        jobs[f"{name}-integration"] = _integration(config, name, services)
        jobs[f"{name}-coverage"] = _coverage(config, name, services)
    jobs.update({image_job(service): _image(config, service) for service in config.images()})
    jobs[SECURITY_JOB] = _security(config)
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
