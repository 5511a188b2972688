"""Rendering a plan diff as Markdown for one pull-request comment (pure functions)."""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import JsonValue

from components.railway.spec import SECRET_ENV_PREFIX
from tools.plandiff.compare import (
    Action,
    FileChange,
    Finding,
    PropertyChange,
    ResourceChange,
    StackDiff,
    unified_diff,
)

# GitHub rejects comments over 65,536 characters; stay well below it.
COMMENT_LIMIT = 60_000
MAX_PROPERTIES = 100
MAX_DIFF_LINES = 400
MAX_VALUE_CHARS = 200
MAX_WARNINGS = 20

TITLE = "## Infrastructure preview: offline plan diff"
FOOTER = (
    "<sub>Made offline from the synth of the base and head commits by "
    "`python -m tools.plandiff`. Secret values are masked, so a secret that changed "
    "but stayed secret does not show here.</sub>"
)
ICONS: dict[Action, str] = {"create": "🟢", "update": "🟡", "delete": "🔴"}
REPLACE_ICON = "🟠"

# What a reviewer must do after `pulumi up` for a change of this resource type.
AFTER_APPLY: dict[str, str] = {
    "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable": (
        "**Vercel applies an environment-variable change only to new deployments.** After "
        "`pulumi up`, redeploy the frontend: `vercel redeploy URL --scope TEAM` rebuilds the "
        "current deployment (the same commit) with the new values (`vercel list PROJECT "
        "--scope TEAM` shows the URL), or push a commit to the stack's branch. "
        "See docs/preview-diffs.md."
    ),
}

BlockKind = Literal["heading", "resource", "file", "outputs", "policy", "note"]
CUT_NAMES: dict[BlockKind, str] = {
    "heading": "headings",
    "resource": "resource details",
    "file": "monitoring file diffs",
    "outputs": "stack output lists",
    "policy": "policy lists",
    "note": "notes",
}


@dataclass(frozen=True, slots=True)
class Block:
    text: str
    kind: BlockKind
    # When the comment must be cut, lower numbers are kept first: deletes and protected changes,
    # then monitoring diffs (small, and where a threshold change shows), outputs, other resources.
    priority: int = 0


def plural(count: int, word: str, many: str = "") -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {many or word + 's'}"


def code(text: str) -> str:
    """An inline code span that survives backticks in `text`."""
    text = text.replace("\n", " ") or " "
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if text.startswith("`") or text.endswith("`"):
        text = f" {text} "
    return f"{fence}{text}{fence}"


def fenced(lines: Sequence[str], language: str = "", indent: str = "") -> str:
    """A fenced code block whose fence is longer than any backtick run inside."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    body = [f"{fence}{language}", *lines, fence]
    return "\n".join(f"{indent}{line}" if line else line for line in body)


def value(data: JsonValue, labels: Mapping[str, str] | None = None) -> str:
    """A value as inline code; an id a lookup returned shows as its login or slug."""
    scalar = isinstance(data, int | str) and not isinstance(data, bool)
    if labels and scalar and (label := labels.get(str(data))):
        return code(label)
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))
    if len(text) > MAX_VALUE_CHARS:
        text = f"{text[:MAX_VALUE_CHARS]}… ({len(text):,} chars)"
    return code(text)


def _string_diff(old: str, new: str) -> list[str]:
    # No ---/+++ header: the property path names the value.
    return unified_diff(old.splitlines(), new.splitlines(), n=2)


_SECRET_VARIABLE = re.compile(rf"^environment\.{SECRET_ENV_PREFIX}([A-Za-z0-9_]+)$")


def property_line(
    change: PropertyChange, action: Action, labels: Mapping[str, str] | None = None
) -> str:
    path = code(change.path or "(root)")
    if change.kind == "file":
        paths = ", ".join(code(p) for p in change.path.split(", "))
        return f"- monitoring file {code(change.note)} changed ({paths}): see Monitoring files"
    if change.kind == "secret":
        if variable := _SECRET_VARIABLE.match(change.path):
            path = f"{code(variable.group(1))} (secret variable)"
        note = f" ({change.note})" if change.note else ""
        return f"- {path}: [secret] changed{note}"
    if action != "update":  # every property of a created or deleted resource
        shown = change.new if change.kind == "added" else change.old
        return f"- {path}: {value(shown, labels)}"
    if change.kind == "added":
        return f"- {path}: added {value(change.new, labels)}"
    if change.kind == "removed":
        return f"- {path}: removed (was {value(change.old, labels)})"
    line = f"- {path}: {value(change.old, labels)} → {value(change.new, labels)}"
    if (
        isinstance(change.old, str)
        and isinstance(change.new, str)
        and "\n" in change.old + change.new
    ):
        line += "\n\n" + fenced(_string_diff(change.old, change.new), "diff", indent="  ")
    return line


def _verb(change: ResourceChange) -> tuple[str, str]:
    return (REPLACE_ICON, "replace") if change.replaced else (ICONS[change.action], change.action)


def _summary_label(change: ResourceChange) -> str:
    lock = " 🔒 protected" if change.protected else ""
    icon, verb = _verb(change)
    return (
        f"{icon} <b>{verb}</b> "
        f"<code>{html.escape(change.type, quote=False)}</code> "
        f"<code>{html.escape(change.name, quote=False)}</code>{lock}"
    )


def resource_block(change: ResourceChange, labels: Mapping[str, str] | None = None) -> str:
    lines = [
        f"<details><summary>{_summary_label(change)}</summary>",
        "",
        f"URN: {code(change.urn)}",
    ]
    if change.action == "delete" and change.protected:
        lines += ["", "**Protected:** `pulumi up` refuses to delete it until `protect` is removed."]
    if change.replaced:
        lines += [
            "",
            "**Replaced:** a property in its `replaceOnChanges` changes, so Pulumi deletes this "
            "resource and creates a new one.",
        ]
    if change.unprotected:
        lines += ["", "**Protection removed:** a later change can delete it."]
    if change.action == "delete" and change.retained:
        lines += ["", "`retainOnDelete`: Pulumi forgets it, the real resource stays."]
    if change.options:
        lines.append("")
        lines += [
            f"- `{name}`: `{json.dumps(old)}` → `{json.dumps(new)}`"
            for name, old, new in change.options
        ]
    shown = change.properties[:MAX_PROPERTIES]
    if shown:
        lines += ["", *(property_line(p, change.action, labels) for p in shown)]
    if len(change.properties) > MAX_PROPERTIES:
        lines.append(f"- … and {plural(len(change.properties) - MAX_PROPERTIES, 'more property')}")
    lines += ["", "</details>"]
    return "\n".join(lines)


def file_block(change: FileChange) -> str:
    header = f"**{code(change.path)}** ({change.action})"
    if change.binary:
        return f"{header}: binary file, not shown"
    shown = change.diff[:MAX_DIFF_LINES]
    text = f"{header}\n\n{fenced(shown, 'diff')}"
    if len(change.diff) > MAX_DIFF_LINES:
        text += f"\n\n_… {plural(len(change.diff) - MAX_DIFF_LINES, 'more diff line')} cut_"
    return text


def outputs_block(
    changes: Sequence[PropertyChange], labels: Mapping[str, str] | None = None
) -> str:
    lines = [property_line(change, "update", labels) for change in changes[:MAX_PROPERTIES]]
    if len(changes) > MAX_PROPERTIES:
        lines.append(f"- … and {plural(len(changes) - MAX_PROPERTIES, 'more output')}")
    return "\n".join(lines)


def _stack_cell(diff: StackDiff) -> str:
    extra = {"both": "", "new": " (new stack)", "removed": " (stack removed)"}[diff.presence]
    return code(diff.stack) + extra


def _policy_cell(findings: Sequence[Finding]) -> str:
    mandatory = sum(1 for f in findings if f.level == "mandatory")
    if mandatory:
        return f"❌ {mandatory}"
    return f"⚠️ {len(findings)}" if findings else "✅"


def _table(diffs: Sequence[StackDiff]) -> str:
    rows = [
        "| Stack | Create | Update | Delete | Unchanged | Monitoring files | Outputs | Policy |",
        "|---|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    rows += [
        f"| {_stack_cell(d)} | {d.count('create')} | {d.count('update')} | {d.count('delete')} "
        f"| {d.unchanged} | {len(d.files)} | {len(d.outputs)} | {_policy_cell(d.policy)} |"
        for d in diffs
    ]
    return "\n".join(rows)


def _warning(diffs: Sequence[StackDiff]) -> str:
    flagged = [(d.stack, c) for d in diffs for c in d.resources if c.needs_attention]
    if not flagged:
        return ""
    deletes = sum(1 for _, c in flagged if c.action == "delete")
    replaced = sum(1 for _, c in flagged if c.replaced)
    unprotected = sum(1 for _, c in flagged if c.unprotected and c.action != "delete")
    parts = []
    if deletes:
        parts.append(f"{plural(deletes, 'resource')} will be deleted")
    if replaced:
        parts.append(f"{plural(replaced, 'resource')} will be replaced")
    if unprotected:
        parts.append(f"{plural(unprotected, 'resource')} will lose `protect`")
    lines = ["> [!CAUTION]", f"> **{' and '.join(parts)}.** Check before merging:"]
    for stack, change in flagged[:MAX_WARNINGS]:
        lock = ""
        if change.protected:
            refusal = ": `pulumi up` refuses until `protect` is removed"
            lock = f" (🔒 protected{refusal if change.action == 'delete' else ''})"
        if change.unprotected and change.action != "delete":
            lock = " (🔓 protection removed)"
        icon, verb = _verb(change)
        lines.append(
            f"> - {code(stack)}: {icon} {verb} {code(change.type)} {code(change.name)}{lock}"
        )
    if len(flagged) > MAX_WARNINGS:
        lines.append(f"> - … and {len(flagged) - MAX_WARNINGS:,} more")
    return "\n".join(lines)


def summary(diffs: Sequence[StackDiff]) -> str:
    if not any(d.changed for d in diffs):
        stacks = ", ".join(code(d.stack) for d in diffs)
        return (
            f"{TITLE}\n\n**No changes.** The plans and monitoring files of {stacks} "
            f"are identical.\n\n{_table(diffs)}"
        )
    parts = [TITLE, _table(diffs), _warning(diffs)]
    return "\n\n".join(part for part in parts if part)


def _finding_line(finding: Finding) -> str:
    new = "🆕 " if finding.new else ""
    return (
        f"- {new}`[{finding.level}]` {code(finding.rule)} ({code(finding.type)} "
        f"{code(finding.name)}): {html.escape(finding.message, quote=False)}"
    )


def policy_blocks(findings: Sequence[Finding]) -> list[Block]:
    """Mandatory violations in the open, advisories folded. Offline: the policy pack's rules
    over the head's plan, with the stack's settings (`policy/settings/<stack>.yaml`)."""
    mandatory = [f for f in findings if f.level == "mandatory"]
    advisory = [f for f in findings if f.level == "advisory"]
    blocks = [Block("#### Policy", "heading")]
    if mandatory:
        new = sum(1 for f in mandatory if f.new)
        head = (
            f"❌ **{plural(len(mandatory), 'mandatory violation')}** ({new:,} new in this change):"
        )
        lines = [head, "", *(_finding_line(f) for f in mandatory[:MAX_PROPERTIES])]
        blocks.append(Block("\n".join(lines), "policy", 1))
    else:
        blocks.append(Block("✅ No mandatory violation.", "policy", 1))
    if advisory:
        summary = f"⚠️ {plural(len(advisory), 'advisory', 'advisories')}"
        lines = [f"<details><summary>{summary}</summary>", ""]
        lines += [_finding_line(f) for f in advisory[:MAX_PROPERTIES]]
        blocks.append(Block("\n".join([*lines, "", "</details>"]), "policy", 3))
    return blocks


def _after_apply(diff: StackDiff) -> list[Block]:
    types = sorted({c.type for c in diff.resources if c.type in AFTER_APPLY})
    return [Block(f"> [!NOTE]\n> {AFTER_APPLY[t]}", "note", 1) for t in types]


def detail_blocks(diffs: Sequence[StackDiff]) -> list[Block]:
    blocks: list[Block] = []
    for diff in diffs:
        if not diff.changed and not diff.policy:
            continue
        blocks.append(Block(f"### {code(diff.stack)}", "heading"))
        if diff.policy:
            blocks += policy_blocks(diff.policy)
        blocks += _after_apply(diff)
        if diff.resources:
            blocks.append(Block("#### Resources", "heading"))
            blocks += [
                Block(resource_block(c, diff.labels), "resource", 1 if c.needs_attention else 4)
                for c in diff.resources
            ]
        if diff.secrets:
            blocks.append(Block("#### Secrets in the stack file", "heading"))
            blocks.append(Block(outputs_block(diff.secrets), "outputs", 2))
        if diff.files:
            blocks.append(Block("#### Monitoring files", "heading"))
            blocks += [Block(file_block(f), "file", 2) for f in diff.files]
        if diff.outputs:
            blocks.append(Block("#### Stack outputs", "heading"))
            blocks.append(Block(outputs_block(diff.outputs, diff.labels), "outputs", 3))
    return blocks


def cut_note(cut: Counter[BlockKind], limit: int) -> str:
    what = ", ".join(f"{count:,} {CUT_NAMES[kind]}" for kind, count in sorted(cut.items()))
    return (
        "> [!WARNING]\n"
        f"> Cut to stay under GitHub's comment size ({limit:,} characters): left out {what}. "
        "The summary above is complete. The full report is the `plan-diff` artifact of this "
        "workflow run, or run `python -m tools.plandiff BASE_DIR HEAD_DIR` locally."
    )


def render(diffs: Sequence[StackDiff], limit: int = COMMENT_LIMIT) -> str:
    """The whole comment: summary first, then as many details as fit under `limit` characters,
    chosen by priority and shown in document order. What is left out is counted in a note;
    the summary always stays."""
    head = summary(diffs)
    blocks = detail_blocks(diffs)
    worst_case_note = cut_note(Counter({kind: len(blocks) for kind in CUT_NAMES}), limit)
    separator = 2  # "\n\n" between parts
    budget = limit - len(head) - len(worst_case_note) - len(FOOTER) - 3 * separator - 1
    kept: set[int] = set()
    cut: Counter[BlockKind] = Counter()
    for index in sorted(range(len(blocks)), key=lambda i: (blocks[i].priority, i)):
        block = blocks[index]
        cost = len(block.text) + separator
        if block.kind == "heading" or cost <= budget:
            kept.add(index)
            budget -= cost
        else:
            cut[block.kind] += 1
    details = [block.text for index, block in enumerate(blocks) if index in kept]
    parts = [head, cut_note(cut, limit) if cut else "", *details, FOOTER]
    return "\n\n".join(part for part in parts if part) + "\n"
