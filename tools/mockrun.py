"""Run the real Pulumi program under Pulumi's mock runtime and record what it registers.

The tests and `tools.synth` share this. Each `run` gets a fresh runtime. Secret values are
recorded as the string "[secret]": the harness never holds a plaintext secret in what it returns.

What is secret is what the program made secret. Provider SDKs wrap every input their schema calls
secret in `Output.secret`, whatever the program passed (pulumiverse-vercel does it to every
environment variable's `value`), which would hide a public feature flag from every reviewer. While
the program runs here, that wrap is left out, so a plain value the program passed shows as it is,
and a value the program made secret, or derived from a secret, stays "[secret]". A resource that
says `sensitive: true` keeps every input its provider declares secret masked, whatever it holds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pulumi
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime.proto import resource_pb2, source_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

SECRET = "[secret]"
UNKNOWN = "[unknown]"


def mock_id(*parts: str) -> int:
    """A stable fake numeric id (GitHub user or team ids) for the offline plan."""
    return int(hashlib.sha256("/".join(parts).encode()).hexdigest()[:8], 16)


def _plain(value: Any, reveal: bool = False) -> Any:
    """A wire value with Pulumi's special objects made readable, secrets masked unless `reveal`."""
    if isinstance(value, dict):
        sig = value.get(rpc._special_sig_key)
        if sig == rpc._special_secret_sig:
            return _plain(value.get("value"), reveal) if reveal else SECRET
        if sig == rpc._special_resource_sig:
            return value.get("urn")
        if sig == rpc._special_output_value_sig:
            if value.get("secret") and not reveal:
                return SECRET
            return _plain(value.get("value", UNKNOWN), reveal)
        return {k: _plain(v, reveal) for k, v in value.items() if k != rpc._special_sig_key}
    if isinstance(value, list):
        return [_plain(v, reveal) for v in value]
    if value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf's Struct carries every number as a double
    return value


class Mocks(pulumi.runtime.Mocks):
    """Provider behaviour offline: resources echo their inputs, lookups return stable fake ids.

    `labels` names each id a lookup handed out (`"user jairodriguez"`), so a diff can show the
    login or slug a reviewer knows instead of a placeholder number.
    """

    def __init__(self) -> None:
        self.labels: dict[str, str] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == "command:local:Command":
            # What the Railway converge tool prints: ids and names, never a value.
            state["stdout"] = json.dumps({"serviceId": f"{args.name}-service-id"})
        if args.typ == "vercel:index/project:Project":
            state.setdefault("teamId", "team_offline")
        if args.typ == "pulumi:pulumi:StackReference":
            # The production stack's outputs as its own offline synth reports them: each Vercel
            # service of this stack's shape, with the ids the mocks give its project there.
            services = pulumi.Config().get_object("services") or {}
            state["outputs"] = {
                "services": {
                    name: {"projectId": f"{name}-project-id", "teamId": "team_offline"}
                    for name, service in services.items()
                    if isinstance(service, dict) and service.get("platform") == "vercel"
                }
            }
        return f"{args.name}-id", state

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == "github:index/getUser:getUser":
            login = args.args["username"]
            return {"id": self._id("user", login), "login": login}, []
        if args.token == "github:index/getTeam:getTeam":
            slug = args.args["slug"]
            return {"id": self._id("team", slug), "slug": slug}, []
        return {}, []

    def _id(self, kind: str, name: str) -> str:
        id_ = str(mock_id(kind, name))
        self.labels[id_] = f"{kind} {name}"
        return id_


def _urn(like: str, parent: str | None, type_: str, name: str) -> str:
    """The URN of a resource of `type_` and `name` under `parent`, in the stack and project of
    the URN `like`, as the mock monitor makes them (`MockMonitor.make_urn`: the parent's own
    type before `$`, where the engine puts the parent's whole chain)."""
    prefix = like.split("::")[:2]
    qualified = f"{parent.split('::')[2].split('$')[-1]}${type_}" if parent else type_
    return "::".join([*prefix, qualified, name])


class RecordingMonitor(mocks.MockMonitor):
    """The mock monitor, also keeping every registration with its parent, options and inputs.

    `plaintext` keeps each resource's inputs with secrets revealed, for assertions in tests
    only: providers mark some inputs secret themselves (a Vercel variable's `value`), and a
    test must still see the value of a public one. It is never written anywhere.
    """

    def __init__(self, mock: pulumi.runtime.Mocks) -> None:
        super().__init__(mock)
        self.registrations: list[dict[str, Any]] = []
        self.plaintext: dict[str, dict[str, Any]] = {}
        self.aliases: dict[str, list[str]] = {}  # urn -> the urns it was known by

    def _aliases(self, urn: str, request: Any) -> list[str]:
        """Every URN the resource had before, as the engine works them out from its alias specs
        and its parent's aliases (a child of a renamed component is renamed too)."""
        specs = [a.spec for a in getattr(request, "aliases", ()) if a.HasField("spec")]
        own = [(request.type, request.name, request.parent or None)]
        own += [
            (
                spec.type or request.type,
                spec.name or request.name,
                None if spec.noParent else spec.parentUrn or request.parent or None,
            )
            for spec in specs
        ]
        found = set()
        for type_, name, parent in own:
            parents = [parent, *self.aliases.get(parent or "", [])] if parent else [None]
            for candidate in parents:
                found.add(_urn(urn, candidate, type_, name))
        found.discard(urn)
        return sorted(found)

    def _record(self, urn: str, request: Any, properties: Any, custom: bool) -> None:
        wire = json_format.MessageToDict(properties)
        inputs = _plain(wire)
        if inputs.get("sensitive") is True:
            declared = getattr(request, "additionalSecretOutputs", ())
            inputs.update({name: SECRET for name in declared if name in inputs})
        aliases = self._aliases(urn, request)
        self.aliases[urn] = aliases
        self.registrations.append(
            {
                "urn": urn,
                "type": request.type,
                "name": request.name,
                "parent": request.parent or None,
                "custom": custom,
                "protect": bool(getattr(request, "protect", False)),
                "deleteBeforeReplace": bool(getattr(request, "deleteBeforeReplace", False)),
                "retainOnDelete": bool(getattr(request, "retainOnDelete", False)),
                "replaceOnChanges": sorted(getattr(request, "replaceOnChanges", ())),
                **({"aliases": aliases} if aliases else {}),
                "inputs": inputs,
            }
        )
        self.plaintext[urn] = _plain(wire, reveal=True)

    def RegisterResource(self, request: Any) -> Any:
        """`MockMonitor.RegisterResource`, answering with the request's own struct of inputs
        and, serialized anew, only what `Mocks.new_resource` added or changed. The mock
        monitor serialized the whole state back, input by input: work a deployment never does
        in Python (the engine answers), a tenth of the program's run under mocks."""
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        _ensure_event_loop()  # type: ignore[no-untyped-call]  # resource references need one
        inputs = rpc.deserialize_properties(request.object)
        args = mocks.MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=inputs,
            provider=request.provider,
            resource_id=request.importId,
            custom=request.custom or False,
            transforms=mocks._resolve_callbacks(request.transforms),
        )
        found_id, state = self.mocks.new_resource(args)
        id_ = found_id or ""  # what the response carries for no id (proto3's default)
        state_proto = struct_pb2.Struct()
        state_proto.CopyFrom(request.object)
        for name in inputs.keys() - state.keys():
            del state_proto[name]
        changed = {k: v for k, v in state.items() if k not in inputs or v is not inputs[k]}
        if changed:
            state_proto.MergeFrom(_sync_await(rpc.serialize_properties(changed, {})))
        self.resources[urn] = mocks.MockMonitor.ResourceRegistration(urn, id_, state)
        self._record(urn, request, request.object, bool(request.custom))
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=state_proto)

    def ReadResource(self, request: Any) -> Any:
        response = super().ReadResource(request)  # type: ignore[no-untyped-call]
        self._record(response.urn, request, request.properties, custom=True)
        return response


@contextmanager
def program_secrecy() -> Iterator[None]:
    """Leave out the `Output.secret` that provider SDKs wrap around inputs their schema calls
    secret (see the module's docstring). Generated SDKs do it in `_internal_init`."""
    original = vars(pulumi.Output)["secret"]

    def secret(val: Any) -> pulumi.Output[Any]:
        caller = sys._getframe(1)
        if caller.f_code.co_name == "_internal_init" and isinstance(
            caller.f_locals.get("__self__"), pulumi.Resource
        ):
            return pulumi.Output.from_input(val)
        return original.__func__(val)  # type: ignore[no-any-return]

    pulumi.Output.secret = staticmethod(secret)  # type: ignore[method-assign]
    try:
        yield
    finally:
        pulumi.Output.secret = original  # type: ignore[method-assign]


@contextmanager
def no_source_positions() -> Iterator[None]:
    """Skip the stack trace the SDK takes at every registration (every frame's source line
    read, its path made a URI): it tells the engine which line declared a resource, which the
    mock monitor drops, and it was a sixth of a synth's run, more under pytest's deep stacks.
    """
    original = pulumi_resource._get_stack_trace
    pulumi_resource._get_stack_trace = source_pb2.StackTrace
    try:
        yield
    finally:
        pulumi_resource._get_stack_trace = original


class InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs each call at once in the calling thread, starting no thread (asyncio takes only a
    ThreadPoolExecutor as the default one). Pulumi sends every call to its monitor
    through the loop's executor (a thread each); the mock monitor answers in microseconds, so
    the threads only added handoffs and waits (a tenth of the synth's run)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as error:  # delivered to the awaiting coroutine, as a thread would
            done.set_exception(error)
        return done


@dataclass
class Plan:
    stack: str
    project: str
    resources: list[dict[str, Any]]
    outputs: dict[str, Any] = field(default_factory=dict)
    lookups: dict[str, str] = field(default_factory=dict)  # id -> "user login" / "team slug"
    # config key path -> fingerprint of its ciphertext in the stack file, never of a value
    secret_versions: dict[str, str] = field(default_factory=dict)
    plaintext: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

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
            "lookups": dict(sorted(self.lookups.items())),
            "secretVersions": dict(sorted(self.secret_versions.items())),
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
    project: str | None = None,
) -> Plan:
    """Run `program` under mocks (preview=False, so every apply runs) and return what it did.

    `config` is the flat Pulumi config map (`namespace:key` -> string, objects as JSON);
    `project` the project's name (default: this repository's Pulumi.yaml).
    Exceptions from the program propagate, so a config error reaches the caller unchanged;
    pass your own `monitor` to see what was registered before it.
    """
    loop = asyncio.new_event_loop()
    loop.set_default_executor(InlineExecutor())
    asyncio.set_event_loop(loop)
    settings.reset_options()
    monitor = monitor or RecordingMonitor(Mocks())
    labels = monitor.mocks.labels if isinstance(monitor.mocks, Mocks) else {}
    if project is None:
        # Here, not at the top: without it this module imports no config model, so
        # benchmarks.replay times Pulumi's runtime alone.
        from components.config.loading import project_name

        project = project_name()
    pulumi.runtime.set_mocks(
        monitor.mocks,
        project=project,
        stack=stack,
        preview=False,
        monitor=monitor,
        organization="organization",  # what self-managed backends call every organization
    )
    pulumi.runtime.set_all_config(dict(config), list(secret_keys))
    try:
        with program_secrecy(), no_source_positions():
            _sync_await(run_pulumi_func(program))
        root = settings.get_root_resource()
        outputs = _sync_await(_resolve_outputs(getattr(root, "outputs", {}) or {}))
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    return Plan(
        stack=stack,
        project=project,
        resources=monitor.registrations,
        outputs=outputs,
        lookups=dict(labels),
        plaintext=monitor.plaintext,
    )
