"""One resource as a rule sees it, the resource types the rules know, and how a rule reads
what a resource carries (a Railway command's spec, a rendered file). No pulumi import."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from monitoring import yamlfile
from policy.secret_values import SECRET, UNKNOWN

Kind = Literal["production", "staging", "preview"]
PRODUCTION: Kind = "production"
# The program's root component: its inputs carry the environment's name and kind.
PIPELINE = "pipeline:index:Pipeline"

GITHUB_ENVIRONMENT = "github:index/repositoryEnvironment:RepositoryEnvironment"
GITHUB_DEPLOYMENT_POLICY = (
    "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"
)
GITHUB_RULESET = "github:index/repositoryRuleset:RepositoryRuleset"
GITHUB_BRANCH_PROTECTION = "github:index/branchProtection:BranchProtection"
GITHUB_ENV_VARIABLE = "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable"
GITHUB_REPO_VARIABLE = "github:index/actionsVariable:ActionsVariable"
GITHUB_TEAM_ACCESS = "github:index/teamRepository:TeamRepository"
GITHUB_PROVIDER = "pulumi:providers:github"
VERCEL_VARIABLE = "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable"
COMMAND = "command:local:Command"
STASH = "pulumi:index:Stash"

# What a rule says when the settings the stack file supplies did not reach it.
UNSET = (
    "run the pack with the stack's settings (`--policy-pack-config` written by "
    "`python -m tools.policycheck --pack-config --stack STACK`, docs/policy.md)"
)
ROLLBACK_SERVICE = "rollback"  # the Railway service that rolls production back


@dataclass(frozen=True)
class Resource:
    """One resource as a rule sees it.

    `secrets_unmarked`: the CrossGuard SDK hands rules secret inputs as plain values, so a
    secret cannot be told from a plain value; channels that may legitimately carry a secret
    (a command's stdin) are then left to the offline check, where plan.json keeps the mark.
    """

    type: str
    urn: str
    name: str
    inputs: Mapping[str, Any]
    secrets_unmarked: bool = False
    protect: bool | None = None  # None: not known to the caller
    retain_on_delete: bool | None = None  # None: not known (CrossGuard's Python SDK hides it)
    kind: str | None = None  # the environment's kind; None: not known, judged as production

    @property
    def in_production(self) -> bool:
        """Production's rules apply by the environment's kind, never by a name; a resource
        whose kind is unknown gets them too (the hardest reading)."""
        return self.kind in (None, PRODUCTION)


def kind_of(resources: Sequence[Resource]) -> str | None:
    """The environment kind the plan's Pipeline resource carries (its `kind` input)."""
    kinds = {r.inputs.get("kind") for r in resources if r.type == PIPELINE}
    known = [k for k in kinds if isinstance(k, str) and is_known(k)]
    return known[0] if len(known) == 1 and len(kinds) == 1 else None


def with_kind(resources: Sequence[Resource]) -> list[Resource]:
    """The resources with the kind of the plan's Pipeline: every one belongs to its environment."""
    kind = kind_of(resources)
    return [dataclasses.replace(r, kind=kind) for r in resources]


def is_known(value: Any) -> bool:
    """A value the plan holds: not a secret it masks, nor one known only once applied."""
    return value not in (SECRET, UNKNOWN)


def command_input(value: Any) -> Any:
    """A command's stdin as JSON when it is JSON, so its keys count as names. A Railway spec's
    `secretVariables` lists the names of values that travel in the secret environment."""
    if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
        return _json(value)
    return value


@lru_cache(maxsize=128)
def _json(text: str) -> Any:
    """Parsed once per text, however many rules read it (a spec holds whole monitoring files):
    callers only read the result, which every one of them shares."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    service = value.get("service") if isinstance(value, dict) else None
    if isinstance(service, dict):
        service.pop("secretVariables", None)
    return value


def railway_service(resource: Resource) -> Mapping[str, Any] | None:
    """The service of a Railway command's spec, when its stdin can be read."""
    spec = command_input(resource.inputs.get("stdin"))
    service = spec.get("service") if isinstance(spec, dict) else None
    return service if isinstance(service, dict) else None


@lru_cache(maxsize=64)
def parsed_yaml(text: str) -> Any:
    """A rendered file's YAML, parsed once however many rules and stacks read it, with libyaml's
    parser where PyYAML has it (the SLO rule files made the pure-Python one most of a plan
    diff's time). Callers only read what it returns."""
    return yamlfile.load(text)
