"""Write the application repository's workflows of a stack, for a team that commits them by hand
(`github.workflows: rendered`) or wants to read them.

    python -m tools.app_workflows --stack staging [--out build/staging/app-repository]
    python -m tools.app_workflows --stack staging --repository >> "$GITHUB_OUTPUT"

The files are the ones `pulumi up` commits with `github.workflows: managed`. A bad stack file, or
workflows that disagree with what the stack declares, exit 2 with the config message; an output
folder that cannot be written exits 2 in one line (each file written is whole).
`--repository` prints the stack's application repository instead, `owner=...` and `name=...`
lines, for this repository's workflows to scope the tokens they mint to it, and
`administers=true` for a production-kind stack, whose App administers that repository behind the
environment's reviewers (`false`: the App only commits the workflows; docs/security.md).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from components import app_repository
from components.config import ROOT, ConfigError, project_name
from components.stackfile import StackFileError
from tools.files import cannot_write, write_whole
from tools.synth import read_stack_file, validated


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.app_workflows", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--stack", required=True)
    parser.add_argument("--out", type=Path, help="default: build/STACK/app-repository")
    parser.add_argument(
        "--repository", action="store_true", help="print the stack's application repository"
    )
    parser.add_argument(
        "--project-dir", type=Path, default=ROOT, help="the project's folder (default: here)"
    )
    args = parser.parse_args(argv)
    out = args.out or ROOT / "build" / args.stack / "app-repository"
    try:
        project = project_name(args.project_dir.resolve())
        stack_file = read_stack_file(args.project_dir / f"Pulumi.{args.stack}.yaml")
        # Secrets are placeholders here: no workflow file holds a secret, only names.
        config = validated(args.stack, stack_file, project)
        if args.repository:
            print(f"owner={config.github.owner}\nname={config.github.name}")
            print(f"administers={str(config.is_production).lower()}")
            return 0
        files = app_repository.files(config)
        problems = app_repository.problems(config, files, project)
        if problems:
            raise ConfigError("\n".join(problems))
    except (ConfigError, StackFileError) as error:
        print(error, file=sys.stderr)
        return 2
    try:
        for path, content in files.items():
            write_whole(out / path, content)
            print(out / path)
    except OSError as error:
        print(cannot_write(error, out), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
