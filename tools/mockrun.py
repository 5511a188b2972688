"""Run the real Pulumi program under Pulumi's mock runtime and record what it registers.

The tests and `tools.synth` share this. Each `run` gets a fresh runtime. Secret values are
recorded as the string "[secret]": the harness never holds a plaintext secret in what it returns.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

PROJECT = "autonomica-pipeline"
SECRET = "[secret]"
UNKNOWN = "[unknown]"


def mock_id(*parts: str) -> int:
    """A stable fake numeric id (GitHub user or team ids) for the offline plan."""
    return int(hashlib.sha256("/".join(parts).encode()).hexdigest()[:8], 16)


def _plain(value: Any) -> Any:
    """A wire value with Pulumi's special objects made readable, secrets masked."""
    if isinstance(value, dict):
        sig = value.get(rpc._special_sig_key)
        if sig == rpc._special_secret_sig:
            return SECRET
        if sig == rpc._special_resource_sig:
            return value.get("urn")
        if sig == rpc._special_output_value_sig:
            return SECRET if value.get("secret") else _plain(value.get("value", UNKNOWN))
        if sig is not None:
            return {k: _plain(v) for k, v in value.items() if k != rpc._special_sig_key}
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf's Struct carries every number as a double
    return value


class Mocks(pulumi.runtime.Mocks):
    """Provider behaviour offline: resources echo their inputs, lookups return stable fake ids."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == "github:index/getUser:getUser":
            login = args.args["username"]
            return {"id": str(mock_id("user", login)), "login": login}, []
        if args.token == "github:index/getTeam:getTeam":
            slug = args.args["slug"]
            return {"id": str(mock_id("team", slug)), "slug": slug}, []
        return {}, []


class RecordingMonitor(mocks.MockMonitor):
    """The mock monitor, also keeping every registration with its parent, options and inputs."""

    def __init__(self, mock: pulumi.runtime.Mocks) -> None:
        super().__init__(mock)
        self.registrations: list[dict[str, Any]] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(
                {
                    "urn": response.urn,
                    "type": request.type,
                    "name": request.name,
                    "parent": request.parent or None,
                    "custom": bool(request.custom),
                    "protect": bool(request.protect),
                    "inputs": _plain(json_format.MessageToDict(request.object)),
                }
            )
        return response


@dataclass
class Plan:
    stack: str
    resources: list[dict[str, Any]]
    outputs: dict[str, Any] = field(default_factory=dict)
    project: str = PROJECT

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type"] == type_]

    def one(self, type_: str) -> dict[str, Any]:
        found = self.of_type(type_)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_}, found {len(found)}")
        return found[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "resources": sorted(self.resources, key=lambda r: str(r["urn"])),
            "outputs": self.outputs,
        }


async def _resolve_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    resolved: dict[str, Any] = {}
    for key, value in outputs.items():
        output = pulumi.Output.from_input(value)
        known = await output.is_known()
        if await output.is_secret():
            resolved[key] = SECRET
        else:
            resolved[key] = await output.future() if known else UNKNOWN
    return resolved


def run(
    program: Callable[[], None],
    *,
    stack: str,
    config: Mapping[str, str],
    secret_keys: list[str] | tuple[str, ...] = (),
    monitor: RecordingMonitor | None = None,
) -> Plan:
    """Run `program` under mocks (preview=False, so every apply runs) and return what it did.

    `config` is the flat Pulumi config map (`namespace:key` -> string, objects as JSON).
    Exceptions from the program propagate, so a config error reaches the caller unchanged;
    pass your own `monitor` to see what was registered before it.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    settings.reset_options()
    monitor = monitor or RecordingMonitor(Mocks())
    pulumi.runtime.set_mocks(
        monitor.mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor
    )
    pulumi.runtime.set_all_config(dict(config), list(secret_keys))
    try:
        _sync_await(run_pulumi_func(program))
        root = settings.get_root_resource()
        outputs = _sync_await(_resolve_outputs(getattr(root, "outputs", {}) or {}))
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    return Plan(stack=stack, resources=monitor.registrations, outputs=outputs)
