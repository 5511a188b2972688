"""Offline plan diff: compares two `tools.synth` outputs and renders a pull-request comment.

`python -m tools.plandiff BASE_DIR HEAD_DIR [--out FILE]`; see docs/preview-diffs.md.
"""

from tools.plandiff.compare import StackDiff, diff_sides
from tools.plandiff.markdown import COMMENT_LIMIT, render
from tools.plandiff.plan import PlanDiffError, load_side

__all__ = ["COMMENT_LIMIT", "PlanDiffError", "StackDiff", "diff_sides", "load_side", "render"]
