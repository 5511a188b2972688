"""Command line: `python -m tools.plandiff BASE_DIR HEAD_DIR [--out FILE]`.

Exit codes follow `terraform plan -detailed-exitcode`: 0 no change, 2 changes, 1 error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from policy.settings import SettingsError
from tools.files import write_whole
from tools.plandiff.compare import StackDiff, diff_sides
from tools.plandiff.markdown import COMMENT_LIMIT, render
from tools.plandiff.plan import PlanDiffError, load_side
from tools.policycheck import ROOT, pack_config

EXIT_NO_CHANGES = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse exits with 2 on a usage error, which here would mean "changes".
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m tools.plandiff",
        description="Compare two offline synth outputs and write a Markdown report. "
        "Each directory holds plan.json (one stack) or <stack>/plan.json (several). "
        "Exit code: 0 no change, 2 changes, 1 error.",
    )
    parser.add_argument("base", type=Path, help="synth output of the base commit")
    parser.add_argument("head", type=Path, help="synth output of the head commit")
    parser.add_argument("--out", type=Path, help="write the Markdown here instead of stdout")
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=ROOT,
        help="the project whose policy/settings/<stack>.yaml the head's plans are checked with "
        "(default: this repository)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=COMMENT_LIMIT,
        help=f"maximum characters of Markdown (default {COMMENT_LIMIT:,})",
    )
    return parser


def _one_line(diff: StackDiff) -> str:
    return (
        f"{diff.stack}: {diff.count('create')} to create, {diff.count('update')} to update, "
        f"{diff.count('delete')} to delete, {len(diff.files)} monitoring files changed"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        head = load_side(args.head)
        # The head's settings for every stack it holds: a bad or missing file stops here.
        settings = {stack: pack_config(stack, args.project_dir) for stack in head}
        diffs = diff_sides(load_side(args.base), head, settings=settings)
        markdown = render(diffs, args.limit)
        if args.out:
            write_whole(args.out, markdown)
            print("\n".join(_one_line(diff) for diff in diffs))
        else:
            sys.stdout.write(markdown)
    except (PlanDiffError, SettingsError) as err:
        print(f"plandiff: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as err:
        print(f"plandiff: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_CHANGES if any(diff.changed for diff in diffs) else EXIT_NO_CHANGES


if __name__ == "__main__":
    sys.exit(main())
