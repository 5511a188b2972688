"""What a stack still needs before `pulumi up`, each with the command that sets it
(`python -m tools.synth --missing --stack S [--project-dir D]`).

Three places hold what a deploy needs (docs/adopting.md):
- the stack file: every secret under `secrets` (encrypted), and ids the adopter had not yet when
  the file was written (`tools.adopt` writes UNSET_PROJECT_ID for a Railway project to come);
- the deployer's shell: the providers' own tokens, which never enter the state;
- the pipeline repository's GitHub environments, which its own workflows read. GitHub cannot be
  reached offline, so those are listed to confirm, never counted as found or missing.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.config import ACTING_SECRETS, Secrets, StackConfig, required_secrets
from components.config.loading import HEARTBEAT
from components.stackfile import is_secure

UNSET_PROJECT_ID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Item:
    name: str  # a key path, a variable or a GitHub secret
    why: str
    command: str


def _secret_purpose(path: str, config: StackConfig) -> str:
    top, _, env_name = path.partition(".")
    if env_name:
        readers = sorted(n for n, s in config.services.items() if env_name in s.secret_env)
        return f"secret variable {env_name} of {', '.join(readers)} (secretEnv)"
    field = next(f for f in Secrets.model_fields.values() if f.alias == top)
    return field.description or top


def _has(secrets: Any, path: str) -> bool:
    top, _, name = path.partition(".")
    if is_secure(secrets):
        return True  # the whole object encrypted: what it holds cannot be read offline
    value = secrets.get(top) if isinstance(secrets, dict) else None
    if name:
        if is_secure(value):
            return True
        value = value.get(name) if isinstance(value, dict) else None
    return value not in (None, "")


def stack_file_items(
    config: StackConfig, stack_file: Mapping[str, Any], namespace: str, where: str
) -> list[Item]:
    """What the stack file lacks: its secrets (the rollback service's tokens only while it acts)
    and ids still unset."""
    raw = {k.partition(":")[2]: v for k, v in stack_file.items() if k.startswith(f"{namespace}:")}
    needed = [
        path
        for path in required_secrets(raw)
        if not (path in ACTING_SECRETS and config.rollback.dry_run)
    ]
    items = [
        Item(
            f"secrets.{path}",
            _secret_purpose(path, config),
            f"pulumi{where} config set --secret --path 'secrets.{path}' --stack "
            f"{config.environment.name}  # the value is read from stdin",
        )
        for path in needed
        if not _has(raw.get("secrets"), path)
    ]
    if config.railway.project_id == UNSET_PROJECT_ID:
        items.append(
            Item(
                "railway.projectId",
                "the Railway project holding one environment per stack (`railway status --json`)",
                f"pulumi{where} config set --path 'railway.projectId' ID --stack "
                f"{config.environment.name}",
            )
        )
    return items


def optional_items(
    config: StackConfig, stack_file: Mapping[str, Any], namespace: str, where: str
) -> list[Item]:
    """What a stack may go without: the dead man's switch outside production."""
    raw = {k.partition(":")[2]: v for k, v in stack_file.items() if k.startswith(f"{namespace}:")}
    if config.is_production or _has(raw.get("secrets"), HEARTBEAT):
        return []
    return [
        Item(
            f"secrets.{HEARTBEAT}",
            "optional outside production (without it nobody notices that this stack's "
            "Alertmanager or Prometheus died): " + _secret_purpose(HEARTBEAT, config),
            f"pulumi{where} config set --secret --path 'secrets.{HEARTBEAT}' --stack "
            f"{config.environment.name}  # the value is read from stdin",
        )
    ]


def deployer_items(config: StackConfig, environ: Mapping[str, str]) -> list[Item]:
    """The providers' tokens `pulumi up` reads from the deployer's environment."""
    wanted = [
        ("GITHUB_TOKEN", f"administers {config.github.repository} (the first `pulumi up` of a "
         "stack is an administrator's: docs/security.md)"),
        ("RAILWAY_TOKEN", f"a project token of the Railway environment {config.environment.name}"),
        ("PULUMI_CONFIG_PASSPHRASE", "decrypts this stack's secrets (a passphrase-encrypted "
         "stack; unset with another secrets provider)"),
    ]  # fmt: skip
    if any(s.platform == "vercel" for s in config.services.values()):
        team = config.vercel.team if config.vercel else "of the stack"
        wanted.insert(1, ("VERCEL_API_TOKEN", f"a token of the Vercel team {team}"))
    return [
        Item(name, why, f"read -rs {name} && export {name}")
        for name, why in wanted
        if not environ.get(name)
    ]


def pipeline_repository_items(config: StackConfig) -> list[Item]:
    """The pipeline repository's environment secrets and variables its workflows read for this
    stack (docs/security.md, "In the pipeline repository"). No repository-wide secret: each lives
    in the environments that need it."""
    stack, repo = config.environment.name, config.rollback.repository
    deploy, preview, drift = stack, f"preview-{stack}", f"drift-{stack}"
    secrets = [
        ("PULUMI_BACKEND_URL", "the state backend", (deploy, preview, drift)),
        ("PULUMI_CONFIG_PASSPHRASE", "this stack's passphrase", (deploy, preview, drift)),
        ("PIPELINE_APP_PRIVATE_KEY", "the deploying GitHub App's key", (deploy,)),
        ("READER_APP_PRIVATE_KEY", "the read-only GitHub App's key", (preview, drift)),
        ("RAILWAY_TOKEN", "a project token of this Railway environment", (deploy, drift)),
    ]
    if any(s.platform == "vercel" for s in config.services.values()):
        secrets.append(("VERCEL_API_TOKEN", "a Vercel team token", (deploy, preview, drift)))
    variables = [
        ("PIPELINE_APP_CLIENT_ID", "the deploying GitHub App's client id", (deploy,)),
        ("READER_APP_CLIENT_ID", "the read-only GitHub App's client id", (preview, drift)),
    ]
    secrets.append(
        ("RAILWAY_SCHEMA_TOKEN", "a token of an empty Railway project", ("railway-schema",))
    )
    items = [
        Item(f"{env}: secret {name}", why, f"gh secret set {name} --env {env} --repo {repo}")
        for name, why, envs in secrets
        for env in envs
    ]
    items += [
        Item(f"{env}: variable {name}", why, f"gh variable set {name} --env {env} --repo {repo}")
        for name, why, envs in variables
        for env in envs
    ]
    return items


def _section(title: str, items: Sequence[Item]) -> list[str]:
    lines = [f"{title} ({len(items)}):"]
    for item in items:
        lines += [f"  - {item.name}: {item.why}", f"      {item.command}"]
    return [*lines, ""]


def report(
    config: StackConfig,
    stack_file: Mapping[str, Any],
    namespace: str,
    project_dir: Path,
    environ: Mapping[str, str] = os.environ,
) -> tuple[str, int]:
    """The checklist and how many of its items are missing (those that can be checked here)."""
    here = Path.cwd().resolve()
    where = "" if project_dir.resolve() == here else f" --cwd {shlex.quote(str(project_dir))}"
    stack = config.environment.name
    in_file = stack_file_items(config, stack_file, namespace, where)
    in_shell = deployer_items(config, environ)
    lines = [f"Before `pulumi up --stack {stack}` of {namespace} ({project_dir}):", ""]
    if in_file:
        lines += _section(f"Missing from Pulumi.{stack}.yaml", in_file)
    if in_shell:
        lines += _section("Missing from this shell (the deployer's environment)", in_shell)
    if optional := optional_items(config, stack_file, namespace, where):
        lines += _section(f"Optional, not counted, in Pulumi.{stack}.yaml", optional)
    lines += _section(
        "Not checked (GitHub cannot be reached offline): the pipeline repository's environment "
        "secrets and variables, set once (docs/security.md)",
        pipeline_repository_items(config),
    )
    missing = len(in_file) + len(in_shell)
    lines += [
        "The application repository's environment secrets (its deploy tokens, the freeze token) "
        "are set by `pulumi up` from secrets.*: none to set there by hand.",
        "",
    ]
    lines.append(
        f"{missing} missing: set each with its command, then run this again."
        if missing
        else "Nothing missing from the stack file or this shell."
    )
    return "\n".join(lines), missing
