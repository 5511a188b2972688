"""Offline policy check: the rules of the CrossGuard pack (policy/rules.py) over a synth plan.

    python -m tools.policycheck build/production/plan.json [--project-dir DIR]
    python -m tools.policycheck --pack-config --stack production [--project-dir DIR]

Prints violations the way `pulumi preview --policy-pack policy` does and exits 1 when a
mandatory rule fails. The settings are the stack's `policy/settings/<stack>.yaml` (the plan names
its stack); `--pack-config` prints them as the JSON `pulumi ... --policy-pack-config` reads.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from monitoring import yamlfile
from policy import settings as policy_settings
from policy.resources import Resource, with_kind
from policy.rule import Violation
from policy.rules import PACK_NAME, check_all

PackConfig = Mapping[str, Mapping[str, Any]]

ROOT = Path(__file__).resolve().parent.parent
PACK_DIR = ROOT / "policy"


def pack_version() -> str:
    document = yamlfile.load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    return str(document["version"])


def resources_of(plan: Mapping[str, Any]) -> list[Resource]:
    """The plan's resources as the rules see them; secrets keep their "[secret]" mark."""
    return with_kind(
        [
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
    )


def pack_config(stack: str, project_dir: Path = ROOT) -> dict[str, dict[str, Any]]:
    """The stack's settings file, resolved against its stack file: the pack config every tool
    runs the rules with (SettingsError, a ValueError, lists every problem)."""
    return policy_settings.load(project_dir, stack).pack_config()


def check(plan: Mapping[str, Any], config: PackConfig | None = None) -> list[Violation]:
    """The rules over the plan with `config`; without one, each rule's defaults, which know
    nothing of the stack (no repository, only the platforms' hosts): pass `pack_config`."""
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
    plan: Mapping[str, Any], config: PackConfig | None = None, out: TextIO | None = None
) -> bool:
    """Check `plan` (plan.json's content), print the report; True when a mandatory rule failed."""
    violations = check(plan, config)
    print(report(violations), file=out or sys.stdout)
    return any(v.level == "mandatory" for v in violations)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.policycheck", description=__doc__.split("\n")[0]
    )
    parser.add_argument("plan", type=Path, nargs="?", help="a plan.json written by tools.synth")
    parser.add_argument("--stack", help="default: the stack the plan names")
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=ROOT,
        help="its policy/settings (default: this repository)",
    )
    parser.add_argument(
        "--pack-config",
        action="store_true",
        help="print the stack's settings as --policy-pack-config JSON and check nothing",
    )
    args = parser.parse_args(argv)
    if args.pack_config == (args.plan is not None) or (args.pack_config and not args.stack):
        parser.error("give a plan.json to check, or --pack-config with --stack")
    try:
        if args.pack_config:
            print(json.dumps(pack_config(args.stack, args.project_dir), indent=2))
            return 0
        plan = json.loads(args.plan.read_text())
        config = pack_config(args.stack or str(plan.get("stack")), args.project_dir)
        failed = run(plan, config)
    except (OSError, ValueError) as error:  # pydantic's ValidationError is a ValueError
        print(error, file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
