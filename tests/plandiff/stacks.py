"""The real program's plans for the plan diff tests: a stack file, edited as a reviewer would
edit it, synthesized in process (as `tools.synth` does, without writing files) and diffed."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from policy import settings as policy_settings
from tests.conftest import NAMESPACE as PROJECT
from tests.conftest import PROJECT_DIR, stack_config
from tools import synth
from tools.mockrun import Plan as MockPlan
from tools.plandiff import StackDiff, diff_sides, render
from tools.plandiff.plan import Plan, Snapshot

__all__ = ["Plan", "Snapshot", "diff", "edited", "set_key", "snapshot", "snapshot_of"]

Edit = Callable[[dict[str, Any]], None]


def snapshot(stack: str, config: dict[str, Any]) -> Snapshot:
    return snapshot_of(synth.run_program(stack, config, project_dir=PROJECT_DIR))


def snapshot_of(plan: MockPlan) -> Snapshot:
    files = synth.monitoring_files(plan)
    return Snapshot(
        Plan.model_validate(plan.to_json()),
        {f"monitoring/{path}": content.encode() for path, content in files.items()},
    )


def edited(stack: str, edit: Edit | None = None) -> dict[str, Any]:
    config = copy.deepcopy(stack_config(stack))
    if edit:
        edit(config)
    return config


def set_key(config: dict[str, Any], path: str, value: Any) -> None:
    """Set `a.b.c` (camelCase, below the project namespace) in a stack file's config."""
    top, *rest = path.split(".")
    if not rest:
        config[f"{PROJECT}:{top}"] = value
        return
    node = config.setdefault(f"{PROJECT}:{top}", {})
    for part in rest[:-1]:
        node = node.setdefault(part, {})
    node[rest[-1]] = value


def diff(stack: str, base: Snapshot, edit: Edit, policy: bool = True) -> tuple[StackDiff, str]:
    """The diff of `base` and the stack file as `edit` leaves it, and its rendered comment."""
    config = edited(stack, edit)
    head = snapshot(stack, config)
    # The head's policy settings, as the CLI resolves them against its stack file.
    settings = policy_settings.load(
        PROJECT_DIR, stack, policy_settings.stack_values(config, PROJECT)
    )
    diffs = diff_sides({stack: base}, {stack: head}, policy, {stack: settings.pack_config()})
    return diffs[0], render(diffs)
