"""RailwayService: one pulumi-command Command that runs the converge tool for one service."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_command as command

from components.railway.spec import (
    REGISTRY_PASSWORD_ENV,
    SECRET_ENV_PREFIX,
    ImageSource,
    RepoSource,
    Settings,
    Spec,
    WorkflowSource,
)

# Relative to the project directory, where pulumi-command runs commands; Pulumi.yaml's
# virtualenv is `.venv`. An absolute interpreter path would differ on every machine.
TOOL = ".venv/bin/python -m components.railway"
APPLY = f"{TOOL} apply"
DELETE = f"{TOOL} delete"
TYPE = "pipeline:railway:Service"


@dataclass(frozen=True)
class RegistryLogin:
    """The login Railway pulls a private image with: the username in the spec, the password
    only in the command's secret environment."""

    username: str
    password: pulumi.Input[str]


@dataclass(frozen=True)
class RailwayServiceArgs:
    project_id: str
    environment: str
    service: str
    product: str  # names it in Railway's commit messages
    source: RepoSource | ImageSource | WorkflowSource
    settings: Settings = field(default_factory=Settings)
    domains: Sequence[str] = ()
    service_domain: bool = False
    volumes: Sequence[str] = ()  # mount paths
    # Plain values travel in the spec on stdin, readable in every preview; secret values travel
    # only in the command's environment, each its own Pulumi secret.
    variables: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    registry: RegistryLogin | None = None
    retain_on_delete: bool = False
    protect: bool = False


def render_spec(args: RailwayServiceArgs, variables: Mapping[str, str]) -> str:
    """The JSON the converge tool reads on stdin (validated: a bad spec fails here, in Python)."""
    spec = Spec.model_validate(
        {
            "projectId": args.project_id,
            "environment": args.environment,
            "product": args.product,
            "service": {
                "name": args.service,
                "source": args.source,
                "variables": dict(variables),
                "secretVariables": sorted(args.secrets),
                "settings": args.settings,
                "domains": list(args.domains),
                "serviceDomain": args.service_domain,
                "volumes": [{"mountPath": path} for path in args.volumes],
                "registryCredentials": (
                    {"username": args.registry.username} if args.registry else None
                ),
            },
        }
    )
    # Left out when empty, so a service without volumes or secrets keeps the stdin it had before
    # they existed (a changed stdin would show every service as changed in `pulumi preview`).
    empty = {k for k in ("volumes", "secret_variables") if not getattr(spec.service, k)}
    omit = {"service": empty} if empty else None
    return spec.model_dump_json(by_alias=True, exclude_none=True, exclude=omit)


def _parse_state(stdout: str) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(stdout) if stdout.strip() else {}
    return state


class RailwayService(pulumi.ComponentResource):
    service_id: pulumi.Output[str]
    public_url: pulumi.Output[str]
    state: pulumi.Output[dict[str, Any]]

    def __init__(
        self, name: str, args: RailwayServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        # Fail at `pulumi preview` on a bad spec; values are placeholders, names are checked.
        checked = Spec.model_validate_json(
            render_spec(args, dict.fromkeys(args.variables, "placeholder"))
        )
        names = sorted(args.variables)
        stdin = pulumi.Output.all(*(args.variables[n] for n in names)).apply(
            lambda values: render_spec(args, dict(zip(names, values, strict=True)))
        )
        environment = {
            f"{SECRET_ENV_PREFIX}{name}": pulumi.Output.secret(value)
            for name, value in sorted(args.secrets.items())
        }
        if args.registry is not None:
            environment[REGISTRY_PASSWORD_ENV] = pulumi.Output.secret(args.registry.password)
        self.command = command.local.Command(
            name,
            create=APPLY,
            update=APPLY,
            delete=DELETE,
            stdin=stdin,
            environment=environment or None,
            add_previous_output_in_env=True,
            # stdout is the state (ids, names) and is kept in Pulumi's state; stderr is progress.
            logging=command.local.Logging.STDERR,
            triggers=[args.project_id, args.environment, args.service],
            opts=pulumi.ResourceOptions(
                parent=self,
                delete_before_replace=True,
                retain_on_delete=args.retain_on_delete,
                protect=args.protect,
            ),
        )
        # The converge tool prints ids and names only, so its stdout need not stay secret
        # when the provider marks it secret because an input is.
        self.state = pulumi.Output.unsecret(self.command.stdout).apply(_parse_state)
        self.service_id = self.state.apply(lambda s: str(s.get("serviceId", "")))
        if checked.service.domains:  # known at preview, before anything runs
            self.public_url = pulumi.Output.from_input(f"https://{checked.service.domains[0]}")
        else:
            self.public_url = self.state.apply(lambda s: str(s.get("url") or ""))
        self.register_outputs(
            {"service_id": self.service_id, "public_url": self.public_url, "state": self.state}
        )
