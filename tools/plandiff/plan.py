"""Reading the offline synth's output: plan.json and the rendered monitoring files."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

# The synth's mask for a secret value, not a secret itself.
SECRET = "[secret]"

RESOURCE_OPTIONS = ("protect", "retainOnDelete", "deleteBeforeReplace")

StackName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)]


class PlanDiffError(Exception):
    """A problem with the input that the user must fix; printed without a traceback."""


class Resource(BaseModel):
    # extra="forbid": a field the synth adds later would otherwise be left out of the diff silently.
    model_config = ConfigDict(frozen=True, extra="forbid")

    urn: str = Field(min_length=1)
    type: str = Field(min_length=1)
    name: str
    parent: str | None
    custom: bool
    protect: bool = False
    retainOnDelete: bool = False
    deleteBeforeReplace: bool = False
    # Property paths whose change replaces the resource (the SDK's replace_on_changes).
    replaceOnChanges: tuple[str, ...] = ()
    # The URNs it had before (its aliases, its parents' included): the same resource under
    # another URN, which Pulumi moves instead of replacing.
    aliases: tuple[str, ...] = ()
    inputs: dict[str, JsonValue]

    def options(self) -> dict[str, bool]:
        """Resource options a reviewer must see change (names as in plan.json)."""
        return {name: getattr(self, name) for name in RESOURCE_OPTIONS}


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    project: str
    stack: StackName
    resources: tuple[Resource, ...]
    outputs: dict[str, JsonValue]
    # id a lookup returned -> what a person calls it ("team platform"); older synths have none.
    lookups: dict[str, str] = {}
    # config key path -> fingerprint of its ciphertext in the stack file.
    secretVersions: dict[str, str] = {}

    @model_validator(mode="after")
    def _urns_are_unique(self) -> Plan:
        counts = Counter(r.urn for r in self.resources)
        duplicates = sorted(urn for urn, count in counts.items() if count > 1)
        if duplicates:
            raise ValueError(f"duplicate resource URNs: {', '.join(duplicates)}")
        return self


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One stack as synthesized: its plan and its monitoring files (path -> bytes)."""

    plan: Plan
    files: dict[str, bytes]


def empty_snapshot(stack: str, project: str) -> Snapshot:
    """The stand-in for a stack that exists on one side only."""
    return Snapshot(Plan(project=project, stack=stack, resources=(), outputs={}), {})


def load_snapshot(directory: Path) -> Snapshot:
    plan_path = directory / "plan.json"
    try:
        plan = Plan.model_validate_json(plan_path.read_bytes())
    except OSError as err:
        raise PlanDiffError(f"{plan_path}: cannot read: {err.strerror}") from err
    except ValidationError as err:
        errors = err.errors()
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in errors[:5]
        )
        if len(errors) > 5:
            problems += f"; and {len(errors) - 5} more"
        raise PlanDiffError(f"{plan_path}: not a synth plan: {problems}") from err
    return Snapshot(plan, _monitoring_files(directory))


def _monitoring_files(directory: Path) -> dict[str, bytes]:
    root = directory / "monitoring"
    if not root.is_dir():
        return {}
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def load_side(directory: Path) -> dict[str, Snapshot]:
    """All stacks under DIR: DIR/plan.json (one stack) or DIR/<stack>/plan.json (several)."""
    if not directory.is_dir():
        raise PlanDiffError(f"{directory}: not a directory")
    if (directory / "plan.json").is_file():
        snapshots = [load_snapshot(directory)]
    else:
        snapshots = [
            load_snapshot(child)
            for child in sorted(directory.iterdir())
            if (child / "plan.json").is_file()
        ]
    if not snapshots:
        raise PlanDiffError(
            f"{directory}: no plan.json found (expected {directory}/plan.json or "
            f"{directory}/<stack>/plan.json, as written by `python -m tools.synth --out`)"
        )
    by_stack: dict[str, Snapshot] = {}
    for snapshot in snapshots:
        stack = snapshot.plan.stack
        if stack in by_stack:
            raise PlanDiffError(f"{directory}: stack {stack!r} appears twice")
        by_stack[stack] = snapshot
    return by_stack
