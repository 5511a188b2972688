"""The synth benchmark's lower bound registers what the program registers: every resource with
its type, name, parent, protection and inputs, and the outputs (benchmarks.replay). A replay
that dropped some would make Pulumi's share of a synth look smaller than it is."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from benchmarks import replay
from tests.conftest import CommittedPlan

SHAPE = ("type", "name", "parent", "protect", "inputs")


def _shape(resources: Iterable[Mapping[str, Any]]) -> list[str]:
    return sorted(json.dumps([r[k] for k in SHAPE], sort_keys=True) for r in resources)


def test_the_replay_registers_every_resource_and_output_of_the_plan(
    committed_plan: CommittedPlan, stack: str
) -> None:
    plan = committed_plan(stack).to_json()
    replayed = replay.run(plan).to_json()
    assert _shape(replayed["resources"]) == _shape(plan["resources"])
    assert replayed["outputs"] == plan["outputs"]
