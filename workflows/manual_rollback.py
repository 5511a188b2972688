"""rollback-<stack>.yml: the spec's rollback workflow (workflow_dispatch: which service, and why),
acting through the rollback service's own code: it checks out the pipeline repository, renders
the stack's rollback-config.yml with the offline synth, and runs
`python -m rollback rollback --service NAME` once per service."""

from typing import Any

from workflows.actions import checkout, job, run, secret, uses, var
from workflows.config import DeployEnvironment, WorkflowsConfig
from workflows.deploy import concurrency_group

PIPELINE_PYTHON = "3.11"  # what the pipeline repository's own workflows run
AUDIT_LOG = "${{ runner.temp }}/rollback-audit.jsonl"

HEADER = """\
Manual rollback of the {environment} environment, through the same code as the automated
rollback service (`python -m rollback rollback --service NAME` from {repository}): Railway's
deploymentRollback for a Railway service (`railway rollback` does not exist), the previous
production deployment promoted for a Vercel service. The job runs in the GitHub environment
`{github_environment}` (its tokens, reviewers and wait timer), and not behind the deploy freeze:
a rollback must work while deploys are frozen. It does not freeze deploys itself. It shares the
deploy job's concurrency group and cancels a deploy in flight, so a deploy never goes on over a
rollback (https://docs.github.com/actions/using-jobs/using-concurrency)."""

# `python -m rollback` insists on a webhook token (its settings are the service's), which a
# manual rollback never uses: each run makes a throwaway one.
ROLLBACK = """\
ROLLBACK_WEBHOOK_TOKEN="$(openssl rand -hex 24)"
export ROLLBACK_WEBHOOK_TOKEN
if [ "$REQUESTED_SERVICE" = all ]; then
  services="{services}"
else
  services="$REQUESTED_SERVICE"
fi
failed=""
for service in $services; do
  if .venv/bin/python -m rollback rollback --service "$service"; then
    echo "::notice title=Rolled back::$service"
  else
    failed="$failed $service"
  fi
done
if [ -n "$failed" ]; then
  echo "::error title=Rollback failed::$failed (the audit log artifact has each attempt)"
  exit 1
fi
"""

SUMMARY = """\
{
  echo "## Rollback of $REQUESTED_SERVICE in $ENVIRONMENT"
  echo
  echo "Requested by @$ACTOR. Reason:"
  echo
  printf '> %s\\n' "$REASON"
} >> "$GITHUB_STEP_SUMMARY"
"""


# Only what the rollback runs on (requirements.txt, not the tests and linters), installed by uv,
# which does it in about a second where pip takes 10 to 15 s (docs/performance.md): every
# second counts here. pip fetches uv itself, pinned, from PyPI rather than through another
# third-party action. The virtualenv needs no pip of its own, and uv compiles no bytecode ahead
# for the modules the rollback never imports.
UV = "uv==0.13.9"
INSTALL = (
    f'python -m pip install --quiet --disable-pip-version-check --target "$RUNNER_TEMP/uv" {UV}\n'
    "python -m venv --without-pip .venv\n"
    '"$RUNNER_TEMP/uv/bin/uv" pip install --quiet --python .venv/bin/python'
    " --requirement requirements.txt\n"
)


def path(environment: DeployEnvironment) -> str:
    return f".github/workflows/rollback-{environment.name}.yml"


def rollback_workflow(config: WorkflowsConfig, environment: DeployEnvironment) -> dict[str, Any]:
    stack = environment.name
    policy = f"build/{stack}/monitoring/rollback-config.yml"
    services = [name for name, s in config.services.items() if s.rollback]
    platforms = {config.services[name].platform for name in services}
    tokens = {
        **(
            {
                "RAILWAY_PROJECT_ID": "${{ steps.policy.outputs.railway_project_id }}",
                "RAILWAY_TOKEN": secret(config.secrets.railway_token),
            }
            if "railway" in platforms
            else {}
        ),
        **(
            {
                "VERCEL_TOKEN": secret(config.secrets.vercel_token),
                "VERCEL_PROJECT_ID": var(config.variables.vercel_project_id),
                "VERCEL_TEAM_ID": var(config.variables.vercel_org_id),
            }
            if "vercel" in platforms
            else {}
        ),
    }
    project_id = (
        'import json, sys; print(json.load(open(sys.argv[1]))["outputs"]["railway"]["projectId"])'
    )
    steps = [
        run(
            "Record who asked and why",
            SUMMARY,
            env={
                "REQUESTED_SERVICE": "${{ inputs.service }}",
                "REASON": "${{ inputs.reason }}",
                "ACTOR": "${{ github.actor }}",
                "ENVIRONMENT": environment.github_environment,
            },
        ),
        checkout(repository=config.pipeline_repository, ref=config.pipeline_ref),
        uses("actions/setup-python", python_version=PIPELINE_PYTHON),
        run("Install what the rollback runs on", INSTALL),
        run(
            "Render the stack's rollback policy (offline synth, no credentials)",
            f".venv/bin/python -m tools.synth --stack {stack} --out build/{stack}\n"
            f"project_id=\"$(.venv/bin/python -c '{project_id}' build/{stack}/plan.json)\"\n"
            'echo "railway_project_id=$project_id" >> "$GITHUB_OUTPUT"\n',
            id="policy",
        ),
        run(
            "Roll back",
            ROLLBACK.replace("{services}", " ".join(services)),
            env={
                "REQUESTED_SERVICE": "${{ inputs.service }}",
                "USER": "${{ github.actor }}",  # the audit log's `by`
                "ROLLBACK_CONFIG_FILE": policy,
                "ROLLBACK_SERVICES_FILE": f"build/{stack}/monitoring/rollback-services.yml",
                "ROLLBACK_AUDIT_LOG": AUDIT_LOG,
                **tokens,
                # LiveActions needs a GitHub token; a rollback by hand never writes to GitHub.
                "GITHUB_TOKEN": "${{ github.token }}",
            },
        ),
        {
            "name": "Keep the audit log",
            "if": "${{ always() }}",
            **uses(
                "actions/upload-artifact",
                name=f"rollback-audit-{stack}",
                path=AUDIT_LOG,
                if_no_files_found="warn",
                retention_days=90,
            ),
        },
    ]
    return {
        "name": f"rollback ({stack})",
        "on": {
            "workflow_dispatch": {
                "inputs": {
                    "service": {
                        "description": "Service to roll back",
                        "required": True,
                        "type": "choice",
                        "options": ["all", *services],
                    },
                    "reason": {
                        "description": "Why (a trigger such as health_check_failure, or words)",
                        "required": True,
                        "type": "string",
                    },
                }
            }
        },
        "permissions": {"contents": "read"},
        "jobs": {
            "rollback": job(
                f"rollback ({stack})",
                30,
                steps,
                environment=environment.github_environment,
                # A deploy in flight is cancelled: it would go on over the rollback.
                concurrency={"group": concurrency_group(environment), "cancel-in-progress": True},
            )
        },
    }


def header(config: WorkflowsConfig, environment: DeployEnvironment) -> str:
    return HEADER.format(
        environment=environment.name,
        repository=config.pipeline_repository,
        github_environment=environment.github_environment,
    )
