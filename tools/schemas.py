"""The committed JSON Schema of the stack outputs.

python -m tools.schemas --write    # after changing components/outputs.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from components.outputs import StackOutputs
from tools.files import write_whole

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schemas" / "stack-outputs.schema.json"


def stack_outputs_schema() -> dict[str, Any]:
    schema = StackOutputs.model_json_schema(by_alias=True, mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.schemas", description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite the committed schema file")
    text = json.dumps(stack_outputs_schema(), indent=2, sort_keys=True) + "\n"
    if parser.parse_args().write:
        write_whole(SCHEMA_FILE, text)
        print(f"wrote {SCHEMA_FILE}")
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
