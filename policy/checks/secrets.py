"""Secrets stay out of channels that are not secret: Actions variables, public Vercel
variables, command lines, plain command inputs and logs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policy.resources import (
    COMMAND,
    GITHUB_ENV_VARIABLE,
    GITHUB_REPO_VARIABLE,
    VERCEL_VARIABLE,
    Resource,
    command_input,
)
from policy.rule import NoSettings
from policy.secret_values import findings, is_secret_name

COMMAND_LINES = ("create", "update", "delete")
# Inputs that may carry a secret when marked secret (stored encrypted): checked when plain.
COMMAND_PAYLOADS = ("stdin", "environment", "triggers")


def no_secret_in_plain_channel(resource: Resource, _: NoSettings) -> Iterator[str]:
    if resource.type in (GITHUB_ENV_VARIABLE, GITHUB_REPO_VARIABLE):
        yield from _actions_variable(resource.inputs)
    elif resource.type == VERCEL_VARIABLE and resource.inputs.get("sensitive") is False:
        yield from _public_vercel_variable(resource.inputs)
    elif resource.type == COMMAND:
        yield from _command_inputs(resource)


def _actions_variable(inputs: Mapping[str, Any]) -> Iterator[str]:
    name = str(inputs.get("variableName", ""))
    if is_secret_name(name):
        yield (
            f"Actions variable {name} is named like a secret; variables are shown in plain "
            "text to everyone who can read the repository: make it an Actions secret"
        )
    for finding in findings(inputs.get("value"), name):
        yield f"Actions variable {finding}: make it an Actions secret"


def _public_vercel_variable(inputs: Mapping[str, Any]) -> Iterator[str]:
    key = str(inputs.get("key", ""))
    fix = "set it under secrets.env and name it in the service's secretEnv (sensitive)"
    if is_secret_name(key):
        yield f"Vercel variable {key} is named like a secret but sensitive=false: {fix}"
    for finding in findings(inputs.get("value"), key):
        yield f"Vercel variable {finding} with sensitive=false: {fix}"


def _command_inputs(resource: Resource) -> Iterator[str]:
    for name in COMMAND_LINES:
        for finding in findings(resource.inputs.get(name), name):
            yield f"command line {finding}: pass secrets on stdin, as an Output.secret"
    if resource.secrets_unmarked:
        return
    for name in COMMAND_PAYLOADS:
        for finding in findings(command_input(resource.inputs.get(name)), name):
            yield f"plain command input {finding}: wrap it in pulumi.Output.secret"


def vercel_sensitive_explicit(resource: Resource, _: NoSettings) -> Iterator[str]:
    if not isinstance(resource.inputs.get("sensitive"), bool):
        yield (
            f"Vercel variable {resource.inputs.get('key')} does not set `sensitive`: "
            "say true (encrypted, unreadable) or false (public) explicitly"
        )


def command_quiet_logs(resource: Resource, _: NoSettings) -> Iterator[str]:
    logging = resource.inputs.get("logging")
    if logging not in ("stderr", "none"):
        yield (
            f"command logs its stdout (logging: {logging or 'the default, stdoutAndStderr'}); "
            "set logging to stderr or none so values stay out of Pulumi's logs"
        )
