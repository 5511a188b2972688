"""Pulumi's runtime alone: a synth's plan registered again, under the same mock runtime.

    .venv/bin/python -m benchmarks.replay PLAN_JSON

Every resource of the plan (`tools.synth` writes it) is registered again with its type, name,
parent, protection and inputs (a "[secret]" input as an `Output.secret`), and the stack's
outputs with it; nothing else runs: no config read or validated, no file rendered, no provider
SDK's argument handling, no lookup. `benchmarks.synth_bench` times it in a fresh process: the
part of a synth's time that no change to the program can remove while it registers those
resources through Pulumi (tests/test_replay.py: it registers what the program did).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi

from tools import mockrun


def _inputs(value: Any) -> Any:
    if value == mockrun.SECRET:
        return pulumi.Output.secret("replayed")
    if isinstance(value, dict):
        return {key: _inputs(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_inputs(item) for item in value]
    return value


def _depth(resource: Mapping[str, Any], by_urn: Mapping[str, Mapping[str, Any]]) -> int:
    parent = by_urn.get(resource.get("parent") or "")
    return 0 if parent is None else 1 + _depth(parent, by_urn)


def register(resources: list[Mapping[str, Any]], outputs: Mapping[str, Any]) -> None:
    """Each resource after its parent, as the program registered them, then the outputs."""
    by_urn = {r["urn"]: r for r in resources}
    made: dict[str, pulumi.Resource] = {}
    for r in sorted(resources, key=lambda r: _depth(r, by_urn)):
        opts = pulumi.ResourceOptions(parent=made.get(r.get("parent") or ""), protect=r["protect"])
        if r["custom"]:
            made[r["urn"]] = pulumi.CustomResource(r["type"], r["name"], _inputs(r["inputs"]), opts)
        else:
            component = pulumi.ComponentResource(r["type"], r["name"], _inputs(r["inputs"]), opts)
            component.register_outputs({})
            made[r["urn"]] = component
    for key, value in outputs.items():
        pulumi.export(key, _inputs(value))


def run(plan: Mapping[str, Any]) -> mockrun.Plan:
    """`plan` (plan.json's form) registered again under the mock runtime."""
    return mockrun.run(
        lambda: register(plan["resources"], plan["outputs"]),
        stack=plan["stack"],
        config={},
        project=plan["project"],
    )


def main(path: str) -> None:
    plan = json.loads(Path(path).read_text())
    replayed = run(plan)
    if len(replayed.resources) != len(plan["resources"]):
        sys.exit(f"replayed {len(replayed.resources)} of the plan's {len(plan['resources'])}")


if __name__ == "__main__":
    main(sys.argv[1])
