"""Synth outputs for the plan diff tests: small realistic stacks and changes to them.

A side is {stack: Stack}; `write_side` lays it out as `tools.synth --out` does. They are the
fixture product's (tests/fixtures/three_services: its namespace, repository, addresses and
Railway project), whose policy settings the reports are checked with.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from components.config import project_name
from components.pipeline import TYPE as PIPELINE_TYPE
from tests.conftest import THREE_SERVICES, validated_stack

PROJECT_DIR = THREE_SERVICES
PROJECT = project_name(PROJECT_DIR)
SECRET = "[secret]"
_STACKS = {env: validated_stack(env, PROJECT_DIR) for env in ("production", "staging")}
APP_REPOSITORY = _STACKS["production"].github.repository
REPOSITORY = APP_REPOSITORY.partition("/")[2]  # GitHub's resources take the name only
RAILWAY_PROJECT = _STACKS["production"].railway.project_id
OTHER_RAILWAY_PROJECT = "0b6d4c1e-2f3a-4e5b-8c7d-9e0f1a2b3c4d"  # the stack moved to another one

RULES = """groups:
  - name: backend
    rules:
      - alert: BackendHighErrorRate
        expr: |
          sum(rate(http_requests_total{job="backend",status="5xx"}[5m]))
            / sum(rate(http_requests_total{job="backend"}[5m])) > 0.05
          and sum(rate(http_requests_total{job="backend"}[5m])) > 0.1
        for: 5m
        labels:
          service: backend
          environment: {env}
          severity: critical
          rollback_strategy: immediate
        annotations:
          summary: Backend 5xx ratio above 5%
          description: More than 5% of backend requests failed for 5 minutes.
          runbook_url: https://runbooks.example.test/backend-errors
"""

ALERTMANAGER = """route:
  receiver: slack-default
  group_by: [alertname, service, severity]
  routes:
    - matchers: ['severity="critical"']
      receiver: pagerduty-critical
      continue: true
receivers:
  - name: slack-default
    slack_configs:
      - api_url_file: /etc/alertmanager/secrets/slack_url
  - name: pagerduty-critical
    pagerduty_configs:
      - routing_key_file: /etc/alertmanager/secrets/pagerduty_key
"""


@dataclass
class Stack:
    name: str
    resources: list[dict[str, Any]]
    outputs: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)

    def plan(self) -> dict[str, Any]:
        return {
            "project": PROJECT,
            "stack": self.name,
            "resources": self.resources,
            "outputs": self.outputs,
        }

    def find(self, name: str) -> dict[str, Any]:
        return next(r for r in self.resources if r["name"] == name)


def urn(stack: str, type_chain: str, name: str) -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{type_chain}::{name}"


def resource(
    stack: str,
    type_: str,
    name: str,
    inputs: dict[str, Any],
    *,
    parent_type: str | None = PIPELINE_TYPE,
    protect: bool = False,
    custom: bool = True,
) -> dict[str, Any]:
    chain = f"{parent_type}${type_}" if parent_type else type_
    parent = urn(stack, parent_type, "pipeline") if parent_type else None
    return {
        "urn": urn(stack, chain, name),
        "type": type_,
        "name": name,
        "parent": parent,
        "custom": custom,
        "protect": protect,
        "inputs": inputs,
    }


def make_stack(env: str) -> Stack:
    domain = urlsplit(_STACKS[env].services["backend"].url).hostname
    branch = "main" if env == "production" else "develop"
    resources = [
        resource(env, PIPELINE_TYPE, "pipeline", {}, parent_type=None, custom=False),
        resource(
            env,
            "github:index/repositoryEnvironment:RepositoryEnvironment",
            env,
            {
                "repository": REPOSITORY,
                "environment": env,
                "waitTimer": 0,
                "deploymentBranchPolicy": {
                    "customBranchPolicies": True,
                    "protectedBranches": False,
                },
                "reviewers": [{"teams": [4242]}] if env == "production" else [],
            },
            protect=env == "production",
        ),
        resource(
            env,
            "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy",
            f"{env}-branch",
            {"repository": REPOSITORY, "environment": env, "branchPattern": branch},
        ),
        resource(
            env,
            "github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret",
            f"{env}-railway-token",
            {
                "repository": REPOSITORY,
                "environment": env,
                "secretName": "RAILWAY_TOKEN",
                "value": SECRET,
            },
        ),
        resource(
            env,
            "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable",
            f"{env}-api-url",
            {
                "repository": REPOSITORY,
                "environment": env,
                "variableName": "API_URL",
                "value": f"https://{domain}",
            },
        ),
        resource(
            env,
            "command:local:Command",
            f"{env}-backend",
            {
                "create": ".venv/bin/python -m components.railway apply",
                "update": ".venv/bin/python -m components.railway apply",
                "delete": ".venv/bin/python -m components.railway delete",
                "stdin": json.dumps(
                    {
                        "environment": env,
                        "service": {
                            "name": "backend",
                            "source": {"repo": APP_REPOSITORY, "branch": branch},
                            "variables": {"PORT": "8000", "ROLLBACK_DRY_RUN": "false"},
                            "secretVariables": ["DATABASE_URL"],
                        },
                    }
                ),
                "environment": {"PIPELINE_SECRET_DATABASE_URL": SECRET},
                "triggers": [RAILWAY_PROJECT, env, "backend"],
                "logging": "none",
            },
        ),
    ]
    resources[-1]["replaceOnChanges"] = ["triggers[*]"]
    outputs = {
        "schemaVersion": 1,
        "apiUrl": f"https://{domain}",
        "environment": env,
        "monitoring": {"files": {}},
    }
    stack = Stack(env, resources, outputs, {"monitoring/alertmanager.yml": ALERTMANAGER})
    set_file(stack, "rules/backend.yml", RULES.replace("{env}", env))
    return stack


def set_file(stack: Stack, path: str, text: str) -> None:
    """A rendered monitoring file, everywhere the synth puts it: the file, a Stash, the output."""
    sha = hashlib.sha256(text.encode()).hexdigest()
    stack.files[f"monitoring/{path}"] = text
    stack.outputs["monitoring"]["files"][path] = sha
    name = f"monitoring-{path}"
    stash = {"input": {"path": path, "content": text, "sha256": sha}}
    if any(r["name"] == name for r in stack.resources):
        stack.find(name)["inputs"] = stash
    else:
        stack.resources.append(resource(stack.name, "pulumi:index:Stash", name, stash))


def base_side() -> dict[str, Stack]:
    return {env: make_stack(env) for env in ("production", "staging")}


def write_stack(stack: Stack, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "plan.json").write_text(json.dumps(stack.plan(), indent=2), encoding="utf-8")
    for relative, text in stack.files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return directory


def write_side(side: dict[str, Stack], directory: Path) -> Path:
    for name, stack in side.items():
        write_stack(stack, directory / name)
    return directory


# The cases of issue 6. Each returns (base, head).

Case = tuple[dict[str, Stack], dict[str, Stack]]

# Appears in the base as a plain value and becomes a secret in the head: it must never be shown.
CANARY = "sentry-dsn-canary-3f9a"


def no_change() -> Case:
    return base_side(), base_side()


def added_resource() -> Case:
    base, head = base_side(), base_side()
    head["staging"].resources.append(
        resource(
            "staging",
            "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable",
            "staging-feature-flags",
            {
                "repository": REPOSITORY,
                "environment": "staging",
                "variableName": "FEATURE_FLAGS",
                "value": '{"newCheckout": true}',
            },
        )
    )
    return base, head


def deleted_protected() -> Case:
    base, head = base_side(), base_side()
    production = head["production"]
    production.resources.remove(production.find("production"))
    return base, head


def secret_change() -> Case:
    base, head = base_side(), base_side()
    old, new = base["staging"], head["staging"]
    old.find("staging-api-url")["inputs"]["sentryDsn"] = CANARY
    new.find("staging-api-url")["inputs"]["sentryDsn"] = SECRET
    backend = new.find("staging-backend")["inputs"]
    backend["environment"]["PIPELINE_SECRET_REDIS_URL"] = SECRET
    spec = json.loads(backend["stdin"])
    spec["service"]["secretVariables"].append("REDIS_URL")
    backend["stdin"] = json.dumps(spec)
    new.find("staging-railway-token")["inputs"].pop("value")
    return base, head


def replace_and_unprotect() -> Case:
    """A Command's trigger changes (Pulumi replaces it) and an environment loses `protect`;
    a plain setting in a command's stdin shows per key."""
    base, head = base_side(), base_side()
    production = head["production"]
    backend = production.find("production-backend")["inputs"]
    backend["triggers"][0] = OTHER_RAILWAY_PROJECT
    spec = json.loads(backend["stdin"])
    spec["service"]["variables"]["ROLLBACK_DRY_RUN"] = "true"
    backend["stdin"] = json.dumps(spec)
    production.find("production")["protect"] = False
    return base, head


def threshold_change() -> Case:
    base, head = base_side(), base_side()
    production = head["production"]
    rules = production.files["monitoring/rules/backend.yml"]
    changed = rules.replace("> 0.05", "> 0.02").replace("for: 5m", "for: 2m").replace("5%", "2%")
    set_file(production, "rules/backend.yml", changed)
    return base, head


def generated_stack(env: str, count: int, revision: int) -> Stack:
    """`count` resources; every input that depends on `revision` changes between revisions."""
    resources = [
        resource(
            env,
            "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable",
            f"variable-{index:04d}",
            {
                "repository": REPOSITORY,
                "environment": env,
                "variableName": f"VARIABLE_{index:04d}",
                "value": f"value-{index}-r{revision}",
                "labels": {"team": "platform", "tier": ["a", "b", "c"][index % 3]},
                "token": SECRET if index % 10 == 0 else f"public-{index}",
            },
        )
        for index in range(count)
    ]
    rules = RULES.replace("{env}", env)
    if revision > 1:
        rules = rules.replace("> 0.05", "> 0.02")
    return Stack(
        env,
        resources,
        {"schemaVersion": 1, "revision": revision},
        {"monitoring/rules/backend.yml": rules},
    )


def large_change(count: int = 2000) -> Case:
    """Every resource changes, and so does a rule threshold that must survive the cut."""
    base = {"staging": generated_stack("staging", count, revision=1)}
    head = {"staging": generated_stack("staging", count, revision=2)}
    return base, head


CASES = {
    "no_change": no_change,
    "added_resource": added_resource,
    "deleted_protected": deleted_protected,
    "secret_change": secret_change,
    "threshold_change": threshold_change,
    "replace_and_unprotect": replace_and_unprotect,
    "large_change_cut": large_change,
}
