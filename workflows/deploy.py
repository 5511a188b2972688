"""deploy-<stack>.yml: a push to the stack's branch runs CI, then one deploy job in the GitHub
environment (its reviewers, wait timer and branch policy hold), one at a time per environment and
never beside a rollback of it: the Vercel service built without any token, then each Railway
service the workflow ships and the Vercel service, each behind a fresh read of the freeze, health
checks of every service with a url, and outside production a short Locust smoke."""

from typing import Any

from workflows import e2e
from workflows.actions import checkout, job, run, secret, upload, uses, var
from workflows.ci import PATH as CI_PATH
from workflows.ci import image_steps
from workflows.config import DeployEnvironment, WorkflowsConfig
from workflows.vercel_build import isolated_build

FREEZE_GATE = ".github/scripts/freeze-gate.sh"
HEALTH_CHECK = ".github/scripts/health-check.sh"
RAILWAY_DEPLOY = ".github/scripts/railway-deploy.sh"
RAILWAY_DEPLOY_IMAGE = ".github/scripts/railway-deploy-image.sh"
RAILWAY_LIB = ".github/scripts/railway-lib.sh"  # sourced by both, from their own folder
LOCUSTFILE = ".github/smoke/locustfile.py"
DEPLOY_TOOLS = ".github/deploy-tools"

HEADER = """\
Deploys {branch} to the {environment} environment. The deploy job runs in the GitHub environment
`{github_environment}`, so its required reviewers, wait timer and branch policy apply. It reads
the freeze ({freeze}) afresh before each platform step and stops while it is 'true': a rollback
that freezes deploys halfway through a deploy stops it at the next step. It shares its concurrency
group with the rollback workflow, whose run cancels it
(https://docs.github.com/actions/using-jobs/using-concurrency).

A Vercel service is built (`vercel build`, the app's own install and build scripts) with no token
in its environment; only `vercel pull` and `vercel deploy --prebuilt` get VERCEL_TOKEN
(https://vercel.com/docs/cli/build). Railway's CLI: `railway up --service NAME --environment ENV
--detach --json` starts a deployment and prints its id without waiting; `railway deployment list
--json` shows its status (https://docs.railway.com/cli/deploying,
https://docs.railway.com/cli/deployment). The CLI reads the project token from RAILWAY_TOKEN. The
Vercel CLI reads VERCEL_TOKEN, VERCEL_ORG_ID and VERCEL_PROJECT_ID from the environment, so no
token is ever on a command line."""


def path(environment: DeployEnvironment) -> str:
    return f".github/workflows/deploy-{environment.name}.yml"


def endpoints(config: WorkflowsConfig) -> list[tuple[str, str, str]]:
    """The health endpoints: (step env name, GitHub variable with the origin, path), one for
    every service with a url and a health path."""
    return [(variable, variable, path) for variable, path in config.probed().values()]


def concurrency_group(environment: DeployEnvironment) -> str:
    """One group for the deploy and the rollback of an environment (the rollback cancels)."""
    return f"deploy-{environment.name}"


def freeze_gate(config: WorkflowsConfig, environment: DeployEnvironment, before: str) -> Any:
    """The freeze as the job started (vars) and as it is now (read with FREEZE_READ_TOKEN)."""
    return run(
        f"Deploy freeze gate{before}",
        f"bash {FREEZE_GATE}",
        env={
            "DEPLOY_FREEZE": var(config.variables.deploy_freeze),
            "DEPLOY_ENVIRONMENT": environment.github_environment,
            "FREEZE_VARIABLE": config.variables.deploy_freeze,
            "FREEZE_REASON_VARIABLE": config.variables.deploy_freeze_reason,
            "FREEZE_READ_TOKEN": secret(config.secrets.freeze_read_token),
        },
    )


def _vercel_env(config: WorkflowsConfig, *, token: bool) -> dict[str, str]:
    env = {
        "VERCEL_ORG_ID": var(config.variables.vercel_org_id),
        "VERCEL_PROJECT_ID": var(config.variables.vercel_project_id),
        "VERCEL_TELEMETRY_DISABLED": "1",
    }
    return {"VERCEL_TOKEN": secret(config.secrets.vercel_token), **env} if token else env


def _vercel_build(
    config: WorkflowsConfig, environment: DeployEnvironment, name: str
) -> list[dict[str, Any]]:
    target = environment.vercel_target
    prod = " --prod" if target == "production" else ""
    return [
        # Run from the repository root: `vercel build` builds the project's root directory.
        run(
            f"Fetch the {name}'s settings (Vercel, {target})",
            f"vercel pull --yes --environment={target}",
            env=_vercel_env(config, token=True),
        ),
        # The app's install and build scripts run here: walled off, no token in reach.
        isolated_build(
            name,
            target,
            prod,
            {**_vercel_env(config, token=False), "BUILD_IMAGE": config.app_ci.build_image},
        ),
    ]


SMOKE_REPORT = "smoke-report"


def _smoke(config: WorkflowsConfig) -> list[dict[str, Any]]:
    smoke = config.smoke_test
    command = (
        f"locust -f {LOCUSTFILE} --headless --users {smoke.users} --spawn-rate {smoke.users} "
        f"--run-time {smoke.duration_seconds}s --only-summary "
        f"--csv {SMOKE_REPORT}/locust --html {SMOKE_REPORT}/locust.html"
    )
    urls = " ".join(f"{var(name)}{health}" for _env, name, health in endpoints(config))
    return [
        uses("actions/setup-python", python_version=config.python_version),
        run("Install Locust", f"python -m pip install --quiet {config.tools.pins('locust')}"),
        run(
            "Smoke test (Locust, headless)",
            command,
            env={
                "SMOKE_URLS": urls,
                "SMOKE_MAX_FAILURE_RATIO": str(smoke.max_failure_ratio),
                "SMOKE_MAX_P95_MS": str(round(smoke.max_p95_seconds * 1000)),
            },
        ),
        upload("smoke-report", SMOKE_REPORT, when="always()"),
    ]


def _railway(config: WorkflowsConfig) -> list[str]:
    """The Railway services this workflow ships (`railway up`)."""
    return [n for n, s in config.on("railway").items() if s.deploy == "workflow"]


def built(config: WorkflowsConfig) -> list[str]:
    """The Railway services that run the image the images job pushed for this commit."""
    return [n for n, s in config.on("railway").items() if s.deploy == "built"]


def _pushed(service: str) -> str:
    """The id of the images job's step that pushes `service`, whose `digest` output names it."""
    return f"push-{service}"


def _tag(config: WorkflowsConfig, service: str) -> str:
    """The image the images job pushes for this commit, by its tag: the full commit sha."""
    return f"{config.registry}/{service}:${{{{ github.sha }}}}"


def _deploy_steps(config: WorkflowsConfig, environment: DeployEnvironment) -> list[Any]:
    """Each Railway service the workflow ships, then the Vercel service (built already), each
    behind a fresh read of the freeze."""
    railway_env = {"RAILWAY_TOKEN": secret(config.secrets.railway_token)}
    prod = " --prod" if environment.vercel_target == "production" else ""
    steps: list[Any] = []
    for service in _railway(config):
        steps += [
            freeze_gate(config, environment, f" (before the {service})"),
            run(
                f"Deploy the {service} (Railway)",
                f"bash {RAILWAY_DEPLOY} {service} {environment.name}",
                env=railway_env,
            ),
        ]
    for service in built(config):
        # By the commit's tag (Railway documents name[:tag] only), bound by the script to the
        # digest the images job pushed: the bytes CI built and tested, or no deploy.
        steps += [
            freeze_gate(config, environment, f" (before the {service})"),
            run(
                f"Deploy the {service}'s image of this commit (Railway)",
                f"bash {RAILWAY_DEPLOY_IMAGE} {service}",
                env={
                    **railway_env,
                    "IMAGE": _tag(config, service),
                    "IMAGE_DIGEST": f"${{{{ needs.images.outputs.{service} }}}}",
                    "GITHUB_TOKEN": secret("GITHUB_TOKEN"),
                },
            ),
        ]
    for service in config.on("vercel"):
        steps += [
            freeze_gate(config, environment, f" (before the {service})"),
            run(
                f"Deploy the {service} (Vercel, {environment.vercel_target})",
                f"vercel deploy --prebuilt{prod}",
                env=_vercel_env(config, token=True),
            ),
        ]
    return steps


def _site(config: WorkflowsConfig) -> str | None:
    """The variable with the url GitHub shows for the environment: the Vercel service's, else
    the first web service's with one."""
    ranked = sorted(
        config.services.values(), key=lambda s: (s.platform != "vercel", s.role != "web")
    )
    return next((s.url_variable for s in ranked if s.url_variable), None)


def _deploy_job(config: WorkflowsConfig, environment: DeployEnvironment) -> dict[str, Any]:
    check = config.health_check
    steps: list[Any] = [checkout(), freeze_gate(config, environment, "")]
    vercel = list(config.on("vercel"))
    if vercel or _railway(config) or built(config):
        steps += [
            uses(
                "actions/setup-node", node_version=config.node_version, package_manager_cache=False
            ),
            # Outside the checkout, so that `railway up` never uploads them.
            run(
                "Install the Railway and Vercel CLIs from their lockfile",
                f"""\
tools="$RUNNER_TEMP/deploy-tools"
mkdir -p "$tools"
cp {DEPLOY_TOOLS}/package.json {DEPLOY_TOOLS}/package-lock.json "$tools/"
npm ci --prefix "$tools" --no-audit --no-fund
echo "$tools/node_modules/.bin" >> "$GITHUB_PATH"
""",
            ),
        ]
    # Built before anything deploys: a Vercel service that does not build stops the deploy whole.
    for name in vercel:
        steps += _vercel_build(config, environment, name)
    steps += _deploy_steps(config, environment)
    if endpoints(config):
        steps.append(
            run(
                "Health checks",
                f"bash {HEALTH_CHECK} "
                + " ".join(f'"${env}{path}"' for env, _, path in endpoints(config)),
                env={
                    **{env: var(variable) for env, variable, _ in endpoints(config)},
                    "HEALTH_CHECK_TRIES": str(check.tries),
                    "HEALTH_CHECK_INTERVAL": str(check.interval_seconds),
                    "HEALTH_CHECK_TIMEOUT": str(check.timeout_seconds),
                },
            )
        )
    if environment.smoke_test and endpoints(config):
        steps += _smoke(config)
    # Last: the app's own test code runs here, after every step that held a token.
    steps += e2e.deployed_steps(config, environment.kind == "production")
    site = _site(config)
    return job(
        f"deploy ({environment.name})",
        60,
        steps,
        needs=["ci", "images"] if config.images() else "ci",
        # packages: read only where a built image's tag is read back (railway-deploy-image.sh).
        permissions={"contents": "read", **({"packages": "read"} if built(config) else {})},
        environment={
            "name": environment.github_environment,
            **({"url": var(site)} if site else {}),
        },
        # Never cancel a deploy for a newer push (it waits); the rollback workflow, in the same
        # group, cancels it.
        concurrency={"group": concurrency_group(environment), "cancel-in-progress": False},
    )


def deploy_workflow(config: WorkflowsConfig, environment: DeployEnvironment) -> dict[str, Any]:
    return {
        "name": f"deploy ({environment.name})",
        "on": {"push": {"branches": [environment.branch]}, "workflow_dispatch": None},
        "permissions": {"contents": "read"},
        "jobs": {
            # A reusable workflow's caller job takes no timeout: ci.yml's jobs each have one.
            "ci": {"name": "ci", "uses": f"./{CI_PATH}", "permissions": {"contents": "read"}},
            **_images(config),
            "deploy": _deploy_job(config, environment),
        },
    }


def _images(config: WorkflowsConfig) -> dict[str, Any]:
    """The services' images, built as CI built them (the same cache) and pushed to the
    registry tagged with the commit: only here, never from a pull request."""
    if not config.images():
        return {}
    login = uses(
        "docker/login-action",
        registry="ghcr.io",
        username="${{ github.actor }}",
        password=secret("GITHUB_TOKEN"),
    )
    steps: list[Any] = [checkout(), login]
    for service in config.images():
        build, push = image_steps(config, service, push=_tag(config, service))
        steps += [*([build] if len(steps) == 2 else []), {"id": _pushed(service), **push}]
    return {
        "images": job(
            "images",
            30,
            steps,
            needs="ci",
            # docker/build-push-action's `digest` output: the pushed image's digest.
            outputs={s: f"${{{{ steps.{_pushed(s)}.outputs.digest }}}}" for s in config.images()},
            permissions={"contents": "read", "packages": "write"},
            concurrency={"group": "images-${{ github.ref }}", "cancel-in-progress": False},
        )
    }


# zizmor's self-repository audit asks for `$/...`: that form is still behind a runner feature flag
# (actions/runner#4457, a draft); `./` is the documented way to call a reusable workflow of the
# same repository at the same commit.
NOTES = {
    "packages: write": "push the services' images to the repository's container registry",
    "packages: read": "read what a built image's tag points at before and after it deploys",
    f"uses: ./{CI_PATH}": "zizmor: ignore[self-repository] ./ is GitHub's documented same-commit "
    "form; $/ is not released",
}


def header(config: WorkflowsConfig, environment: DeployEnvironment) -> str:
    return HEADER.format(
        branch=environment.branch,
        environment=environment.name,
        github_environment=environment.github_environment,
        freeze=config.variables.deploy_freeze,
    )
