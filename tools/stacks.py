"""The project's stacks, as the JSON list a workflow's matrix reads.

    python -m tools.stacks [--branch BRANCH] [--project-dir DIR]

Every `Pulumi.<stack>.yaml` of the project's folder, sorted by name. With `--branch`, only the
stacks that deploy from that branch (`github.branch` of the validated stack file); a stack file
that does not validate exits 2 with its message, so no deploy starts on a guess. Listing alone
needs only the standard library: a workflow lists a commit's stacks before it installs anything.

Which stacks a push deploys is read from the pushed commit's files, so it is not what keeps a
stack's credentials from a branch: each deploy job runs in the GitHub environment named after
its stack, whose deployment branch policy (and reviewers) does (docs/security.md).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Pulumi's stack names: letters, digits, hyphens, underscores and periods. Anything else in a
# file name is refused: the names go into shell loops and job names.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class StackListError(ValueError):
    """A stack that cannot be listed: its message says which and why."""


def stacks(project_dir: Path = ROOT) -> list[str]:
    names = sorted(
        path.name[len("Pulumi.") : -len(".yaml")] for path in project_dir.glob("Pulumi.*.yaml")
    )
    bad = [name for name in names if not NAME.fullmatch(name)]
    if bad:
        raise StackListError(
            f"{project_dir}: stack file names that are not Pulumi stack names: "
            + ", ".join(f"Pulumi.{name}.yaml" for name in bad)
        )
    return names


def deploying_from(branch: str, project_dir: Path = ROOT) -> list[str]:
    """The stacks whose `github.branch` is `branch`, each file checked as the synth checks it."""
    from components.config import check_namespaces, project_name
    from tools.synth import read_stack_file, validated

    project = project_name(project_dir)
    found = []
    for stack in stacks(project_dir):
        stack_file = read_stack_file(project_dir / f"Pulumi.{stack}.yaml")
        check_namespaces(stack_file, stack, project)
        if validated(stack, stack_file, project).github.branch == branch:
            found.append(stack)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.stacks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--branch", help="only the stacks that deploy from this branch")
    parser.add_argument("--project-dir", type=Path, default=ROOT, help="default: this repository")
    args = parser.parse_args(argv)
    project_dir = args.project_dir.resolve()
    try:
        if args.branch is None:
            found = stacks(project_dir)
        else:
            from components.config import ConfigError
            from components.stackfile import StackFileError

            try:
                found = deploying_from(args.branch, project_dir)
            except (ConfigError, StackFileError) as error:
                raise StackListError(str(error)) from None
    except StackListError as error:
        print(error, file=sys.stderr)
        return 2
    print(json.dumps(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
