"""The committed JSON Schema of the stack outputs is the model's schema."""

from __future__ import annotations

import json
from typing import Any

from components.outputs import StackOutputs
from tests.conftest import ROOT, SynthFn, key
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


def test_outputs_carry_the_feature_flags_of_the_environment(run_stack: SynthFn) -> None:
    def flip(config: dict[str, Any]) -> None:
        config[key("featureFlags")]["aiAssistance"] = True

    flags = {"newDashboard": True, "advancedAnalytics": False, "aiAssistance": False}
    assert run_stack("production").outputs["featureFlags"] == flags
    assert run_stack("production", flip).outputs["featureFlags"] == flags | {"aiAssistance": True}
    assert run_stack("staging").outputs["featureFlags"] == dict.fromkeys(flags, True)
