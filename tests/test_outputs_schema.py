"""The committed JSON Schema of the stack outputs is the model's schema."""

from __future__ import annotations

import json
from typing import Any

from components.outputs import StackOutputs
from tests.conftest import ROOT, SynthFn, key, validated_stack
from tools import schemas


def test_committed_schema_matches_the_model() -> None:
    committed = json.loads(schemas.SCHEMA_FILE.read_text())
    assert committed == schemas.stack_outputs_schema(), (
        "schemas/stack-outputs.schema.json is stale: run `python -m tools.schemas --write` "
        "and bump SCHEMA_VERSION in components/outputs.py"
    )


def test_schema_version_is_pinned_in_the_schema() -> None:
    schema = schemas.stack_outputs_schema()
    assert (
        schema["properties"]["schemaVersion"]["const"]
        == StackOutputs.model_fields["schema_version"].default
    )
    assert (ROOT / "schemas" / "stack-outputs.schema.json").is_file()


def test_outputs_carry_the_feature_flags_of_the_environment(run_stack: SynthFn, stack: str) -> None:
    flags = dict(validated_stack(stack).feature_flags)
    assert flags, "the stack sets no feature flag"
    assert run_stack(stack).outputs["featureFlags"] == flags
    name = sorted(flags)[0]

    def flip(config: dict[str, Any]) -> None:
        config[key("featureFlags")][name] = not flags[name]

    assert run_stack(stack, flip).outputs["featureFlags"] == flags | {name: not flags[name]}
