"""Offline policy check: the rules of the CrossGuard pack (policy/rules.py) over a synth plan.

    python -m tools.policycheck build/production/plan.json [--policy-config FILE]

Prints violations the way `pulumi preview --policy-pack policy` does and exits 1 when a
mandatory rule fails. FILE has the format of `--policy-pack-config`: rule name -> settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml

from policy.rules import PACK_NAME, Resource, Violation, check_all

ROOT = Path(__file__).resolve().parent.parent
PACK_DIR = ROOT / "policy"


def pack_version() -> str:
    document = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    return str(document["version"])


def resources_of(plan: Mapping[str, Any]) -> list[Resource]:
    """The plan's resources as the rules see them; secrets keep their "[secret]" mark."""
    return [
        Resource(
            type=r["type"],
            urn=r["urn"],
            name=r["name"],
            inputs=r.get("inputs") or {},
            protect=r.get("protect"),
            retain_on_delete=r.get("retainOnDelete"),
        )
        for r in plan.get("resources", [])
    ]


def check(
    plan: Mapping[str, Any], config: Mapping[str, Mapping[str, Any]] | None = None
) -> list[Violation]:
    return check_all(resources_of(plan), config)


def report(violations: Sequence[Violation]) -> str:
    """The violations laid out like the Pulumi CLI's "Policies:" section."""
    failed = any(v.level == "mandatory" for v in violations)
    mark = "❌" if failed else ("⚠️" if violations else "✅")
    lines = ["Policies:", f"    {mark} {PACK_NAME}@v{pack_version()} (offline: policy)"]
    order = sorted(violations, key=lambda v: (v.level != "mandatory", v.rule, v.resource.urn))
    for v in order:
        lines += [
            f"        - [{v.level}]  {v.rule}  ({v.resource.type}: {v.resource.name})",
            f"          {v.description}",
            f"          {v.message}",
            f"          {v.resource.urn}",
        ]
    return "\n".join(lines)


def run(
    plan: Mapping[str, Any],
    config: Mapping[str, Mapping[str, Any]] | None = None,
    out: TextIO | None = None,
) -> bool:
    """Check `plan` (plan.json's content), print the report; True when a mandatory rule failed."""
    violations = check(plan, config)
    print(report(violations), file=out or sys.stdout)
    return any(v.level == "mandatory" for v in violations)


def read_config(path: Path | None) -> dict[str, dict[str, Any]]:
    if path is None:
        return {}
    loaded = json.loads(path.read_text())
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected an object of rule name -> settings")
    return loaded


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.policycheck", description=__doc__.split("\n")[0]
    )
    parser.add_argument("plan", type=Path, help="a plan.json written by tools.synth")
    parser.add_argument("--policy-config", type=Path, help="JSON: rule name -> settings")
    args = parser.parse_args(argv)
    try:
        plan = json.loads(args.plan.read_text())
        config = read_config(args.policy_config)
        failed = run(plan, config)
    except (OSError, ValueError) as error:  # pydantic's ValidationError is a ValueError
        print(error, file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
