"""Pure comparison of two synthesized stacks: changed resources, properties, files, outputs."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import Enum
from functools import cache
from typing import Literal

from pydantic import JsonValue

from policy.rule import Level, Violation
from tools import policycheck
from tools.plandiff.plan import (
    RESOURCE_OPTIONS,
    SECRET,
    Plan,
    Resource,
    Snapshot,
    empty_snapshot,
)

Action = Literal["create", "update", "delete"]
# "file": the value is a monitoring file whose diff the report shows once, under its path.
PropertyKind = Literal["added", "removed", "changed", "secret", "file"]


class _Missing(Enum):
    MISSING = "missing"


MISSING = _Missing.MISSING
Value = JsonValue | _Missing


@dataclass(frozen=True, slots=True)
class PropertyChange:
    """One leaf that differs. For kind "secret" neither value is kept, only `note`; for kind
    "file", `path` lists the properties that hold the file and `note` is its path."""

    path: str
    kind: PropertyKind
    old: JsonValue = None
    new: JsonValue = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class ResourceChange:
    urn: str
    type: str
    name: str
    action: Action
    protected: bool  # protect=true on either side
    retained: bool  # retainOnDelete=true in the base: a delete leaves the real resource alone
    options: tuple[tuple[str, bool, bool], ...]  # changed resource options: (name, old, new)
    properties: tuple[PropertyChange, ...]
    replaced: bool = False  # an update of a property in the resource's replaceOnChanges

    @property
    def unprotected(self) -> bool:
        return ("protect", True, False) in self.options

    @property
    def needs_attention(self) -> bool:
        """What the CAUTION box lists: a delete, a replacement or protection removed. An
        in-place update of a protected resource is marked in its block, not in the box."""
        return self.action == "delete" or self.replaced or self.unprotected


@dataclass(frozen=True, slots=True)
class FileChange:
    path: str
    action: Action
    diff: tuple[str, ...]  # unified diff lines, empty for a binary file
    binary: bool


@dataclass(frozen=True, slots=True)
class Finding:
    """A policy violation in the head, and whether the base had it too."""

    level: Level
    rule: str
    type: str
    name: str
    message: str
    new: bool


@dataclass(frozen=True, slots=True)
class StackDiff:
    stack: str
    presence: Literal["both", "new", "removed"]
    resources: tuple[ResourceChange, ...]
    unchanged: int
    files: tuple[FileChange, ...]
    outputs: tuple[PropertyChange, ...]
    secrets: tuple[PropertyChange, ...] = ()  # secure values of the stack file set anew
    policy: tuple[Finding, ...] = ()  # mandatory first
    labels: Mapping[str, str] = dataclass_field(default_factory=dict)  # id -> "team platform"

    def count(self, action: Action) -> int:
        return sum(1 for change in self.resources if change.action == action)

    @property
    def changed(self) -> bool:
        return (
            bool(self.resources or self.files or self.outputs or self.secrets)
            or self.presence != "both"
        )


_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


def _child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENTIFIER.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def same(old: Value, new: Value) -> bool:
    """JSON equality: unlike ==, true is not 1 and key order does not matter."""
    if isinstance(old, bool) or isinstance(new, bool):
        return type(old) is type(new) and old == new
    if isinstance(old, dict):
        return (
            isinstance(new, dict)
            and old.keys() == new.keys()
            and all(same(value, new[key]) for key, value in old.items())
        )
    if isinstance(old, list):
        return (
            isinstance(new, list)
            and len(old) == len(new)
            and all(same(a, b) for a, b in zip(old, new, strict=True))
        )
    if isinstance(new, dict | list):
        return False
    return old == new


def _has_secret(value: Value) -> bool:
    if isinstance(value, dict):
        return any(_has_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secret(v) for v in value)
    return value == SECRET


def _children(value: dict[str, JsonValue] | list[JsonValue]) -> Iterator[tuple[str | int, Value]]:
    if isinstance(value, dict):
        yield from sorted(value.items())
    else:
        yield from enumerate(value)


def _secret_note(old: Value, new: Value) -> str:
    if isinstance(old, _Missing):
        return "added"
    if isinstance(new, _Missing):
        return "removed"
    if not _has_secret(old):
        return "now secret"
    if not _has_secret(new):
        return "no longer secret"
    return ""


def _leaf_change(old: Value, new: Value, path: str) -> PropertyChange:
    if _has_secret(old) or _has_secret(new):
        return PropertyChange(path, "secret", note=_secret_note(old, new))
    if isinstance(old, _Missing):
        assert not isinstance(new, _Missing)
        return PropertyChange(path, "added", new=new)
    if isinstance(new, _Missing):
        return PropertyChange(path, "removed", old=old)
    return PropertyChange(path, "changed", old=old, new=new)


def _structured(value: Value) -> Value:
    """A string that holds a JSON object or array (a command's stdin spec) as parsed JSON, so it
    is diffed key by key rather than as one long string."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if isinstance(parsed, dict | list):
            return parsed
    return value


def _diff(old: Value, new: Value, path: str, out: list[PropertyChange]) -> None:
    old, new = _structured(old), _structured(new)
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys()):
            a, b = old.get(key, MISSING), new.get(key, MISSING)
            if not same(a, b):
                _diff(a, b, _child_path(path, key), out)
    elif isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            a = old[index] if index < len(old) else MISSING
            b = new[index] if index < len(new) else MISSING
            if not same(a, b):
                _diff(a, b, _child_path(path, index), out)
    # A subtree added or removed as a whole is listed leaf by leaf, so every value is visible.
    elif isinstance(old, _Missing) and isinstance(new, dict | list) and new:
        for step, child in _children(new):
            _diff(MISSING, child, _child_path(path, step), out)
    elif isinstance(new, _Missing) and isinstance(old, dict | list) and old:
        for step, child in _children(old):
            _diff(child, MISSING, _child_path(path, step), out)
    else:
        out.append(_leaf_change(old, new, path))


def diff_values(old: Value, new: Value) -> tuple[PropertyChange, ...]:
    """Leaf-level changes from `old` to `new` (JSON values), in path order."""
    out: list[PropertyChange] = []
    if not same(old, new):
        _diff(old, new, "", out)
    return tuple(out)


@cache
def _replace_pattern(pattern: str) -> re.Pattern[str]:
    """A replaceOnChanges path (`triggers[*]`, `spec.*`) as a regex over our property paths;
    a change below the path counts too."""
    regex = re.escape(pattern).replace(r"\[\*\]", r"\[\d+\]").replace(r"\*", r"[^.\[]+")
    return re.compile(rf"{regex}(?:[.\[].*)?")


def _replaces(properties: Sequence[PropertyChange], patterns: Sequence[str]) -> bool:
    return any(
        _replace_pattern(pattern).fullmatch(part)
        for change in properties
        for part in change.path.split(", ")
        for pattern in patterns
    )


# Text (content, content without its last newline, sha256) -> path, of each changed file.
FileIndex = Mapping[str, str]


def file_index(files: Mapping[str, bytes], changed: Sequence[FileChange]) -> dict[str, str]:
    index: dict[str, str] = {}
    for change in changed:
        content = files.get(change.path)
        if content is None or change.binary:
            continue
        text = content.decode("utf-8")
        index[hashlib.sha256(content).hexdigest()] = change.path
        index[text.removesuffix("\n")] = change.path
        index[text] = change.path
    return index


def _file_of(change: PropertyChange, base: FileIndex, head: FileIndex) -> str | None:
    old = base.get(change.old) if isinstance(change.old, str) else None
    new = head.get(change.new) if isinstance(change.new, str) else None
    if change.kind == "changed":
        return old if old == new else None
    return {"added": new, "removed": old}.get(change.kind)


def fold_files(
    changes: Sequence[PropertyChange], base: FileIndex, head: FileIndex
) -> tuple[PropertyChange, ...]:
    """Values that are a changed monitoring file (its content, or its hash) become one "file"
    change per file: the report shows the file's diff once, under Monitoring files."""
    if not base and not head:
        return tuple(changes)
    folded: list[PropertyChange] = []
    holders: dict[str, list[str]] = {}
    for change in changes:
        path = _file_of(change, base, head)
        if path is None:
            folded.append(change)
        elif path in holders:
            holders[path].append(change.path)
        else:
            holders[path] = [change.path]
            folded.append(PropertyChange(path, "file", note=path))
    return tuple(
        PropertyChange(", ".join(holders[c.note]), "file", note=c.note) if c.kind == "file" else c
        for c in folded
    )


def _resource_change(
    action: Action,
    base: Resource | None,
    head: Resource | None,
    files: tuple[FileIndex, FileIndex] = ({}, {}),
) -> ResourceChange:
    present = head or base
    assert present is not None
    old_options = (base or present).options()
    new_options = (head or present).options()
    properties = fold_files(
        diff_values(base.inputs if base else {}, head.inputs if head else {}), *files
    )
    return ResourceChange(
        urn=present.urn,
        type=present.type,
        name=present.name,
        action=action,
        protected=old_options["protect"] or new_options["protect"],
        retained=old_options["retainOnDelete"],
        options=tuple(
            (name, old_options[name], new_options[name])
            for name in RESOURCE_OPTIONS
            if old_options[name] != new_options[name]
        ),
        properties=properties,
        replaced=action == "update"
        and _replaces(properties, (base or present).replaceOnChanges + present.replaceOnChanges),
    )


def _attention_order(change: ResourceChange) -> int:
    if change.action == "delete":
        return 0
    if change.needs_attention:
        return 1
    if change.action == "update":
        return 2 if change.protected else 3
    return 4


def diff_resources(
    base: tuple[Resource, ...],
    head: tuple[Resource, ...],
    files: tuple[FileIndex, FileIndex] = ({}, {}),
) -> tuple[tuple[ResourceChange, ...], int]:
    """Changed resources (deletes first, then replacements and protection removed, protected
    updates, updates, creates) and the number of unchanged ones. A head resource whose alias is
    a base resource's URN is that resource, moved (as Pulumi treats it): an update if its inputs
    changed, else unchanged."""
    base_by_urn = {r.urn: r for r in base}
    matched: set[str] = set()
    changes: list[ResourceChange] = []
    unchanged = 0
    for resource in head:
        known = [resource.urn, *resource.aliases]
        old = next((base_by_urn[u] for u in known if u in base_by_urn and u not in matched), None)
        if old is not None:
            matched.add(old.urn)
        if old is None:
            changes.append(_resource_change("create", None, resource, files))
        elif old.options() != resource.options() or not same(old.inputs, resource.inputs):
            changes.append(_resource_change("update", old, resource, files))
        else:
            unchanged += 1
    changes.extend(_resource_change("delete", r, None, files) for r in base if r.urn not in matched)
    return tuple(sorted(changes, key=_attention_order)), unchanged


def _text_lines(content: bytes | None) -> list[str] | None:
    """Lines of a UTF-8 file, [] when absent, None when binary."""
    if content is None:
        return []
    try:
        return content.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return None


def unified_diff(
    old: Sequence[str], new: Sequence[str], *, fromfile: str = "", tofile: str = "", n: int = 3
) -> list[str]:
    """difflib.unified_diff without its autojunk heuristic, which treats lines repeated in a
    long file (`for: 5m`, `labels:` in a rule file) as junk and shows whole blocks changed."""
    lines = [f"--- {fromfile}", f"+++ {tofile}"] if fromfile or tofile else []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for group in matcher.get_grouped_opcodes(n):
        (_, i1, _, j1, _), (_, _, i2, _, j2) = group[0], group[-1]
        lines.append(f"@@ -{_range(i1, i2)} +{_range(j1, j2)} @@")
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                lines += [f" {line}" for line in old[a1:a2]]
                continue
            lines += [f"-{line}" for line in old[a1:a2]]
            lines += [f"+{line}" for line in new[b1:b2]]
    return lines if len(lines) > 2 or not (fromfile or tofile) else []


def _range(start: int, stop: int) -> str:
    length = stop - start
    first = start + 1 if length else start
    return str(first) if length == 1 else f"{first},{length}"


def diff_files(base: Mapping[str, bytes], head: Mapping[str, bytes]) -> tuple[FileChange, ...]:
    changes: list[FileChange] = []
    for path in sorted(base.keys() | head.keys()):
        old, new = base.get(path), head.get(path)
        if old == new:
            continue
        action: Action = "create" if old is None else "delete" if new is None else "update"
        old_lines, new_lines = _text_lines(old), _text_lines(new)
        if old_lines is None or new_lines is None:
            changes.append(FileChange(path, action, (), binary=True))
            continue
        lines = unified_diff(
            old_lines,
            new_lines,
            fromfile="/dev/null" if old is None else f"a/{path}",
            tofile="/dev/null" if new is None else f"b/{path}",
        )
        changes.append(FileChange(path, action, tuple(lines), binary=False))
    return tuple(changes)


def diff_secrets(base: Mapping[str, str], head: Mapping[str, str]) -> tuple[PropertyChange, ...]:
    """Secure values of the stack file whose ciphertext changed: added, set anew or removed."""
    return tuple(
        PropertyChange(
            key,
            "secret",
            note="added" if key not in base else "removed" if key not in head else "set anew",
        )
        for key in sorted(base.keys() | head.keys())
        if base.get(key) != head.get(key)
    )


def _violations(plan: Plan, config: policycheck.PackConfig | None) -> list[Violation]:
    # Each resource's fields as they are (vars), without the cost of a model dump.
    return policycheck.check({"resources": [vars(r) for r in plan.resources]}, config)


def diff_policy(
    base: Plan | None, head: Plan | None, config: policycheck.PackConfig | None = None
) -> tuple[Finding, ...]:
    """The head's policy violations with the stack's settings (`config`, the pack config of
    `policy.settings`), mandatory first; `new` when the base did not have them."""
    if head is None:
        return ()

    def key(v: Violation) -> tuple[str, str, str]:
        return (v.rule, v.resource.urn, v.message)

    found = sorted(
        _violations(head, config), key=lambda v: (v.level != "mandatory", v.rule, v.resource.urn)
    )
    before = {key(v) for v in _violations(base, config)} if base and found else set()
    return tuple(
        Finding(v.level, v.rule, v.resource.type, v.resource.name, v.message, key(v) not in before)
        for v in found
    )


def diff_snapshots(
    stack: str,
    base: Snapshot | None,
    head: Snapshot | None,
    policy: bool = True,
    config: policycheck.PackConfig | None = None,
) -> StackDiff:
    present = head or base
    assert present is not None
    empty = empty_snapshot(stack, present.plan.project)
    old, new = base or empty, head or empty
    files = diff_files(old.files, new.files)
    index = (file_index(old.files, files), file_index(new.files, files))
    resources, unchanged = diff_resources(old.plan.resources, new.plan.resources, index)
    return StackDiff(
        stack=stack,
        presence="both" if base and head else "new" if head else "removed",
        resources=resources,
        unchanged=unchanged,
        files=files,
        outputs=fold_files(diff_values(old.plan.outputs, new.plan.outputs), *index),
        secrets=diff_secrets(old.plan.secretVersions, new.plan.secretVersions),
        policy=diff_policy(base.plan if base else None, head.plan if head else None, config)
        if policy
        else (),
        labels={**old.plan.lookups, **new.plan.lookups},
    )


def diff_sides(
    base: Mapping[str, Snapshot],
    head: Mapping[str, Snapshot],
    policy: bool = True,
    settings: Mapping[str, policycheck.PackConfig] | None = None,
) -> tuple[StackDiff, ...]:
    """One StackDiff per stack found on either side, by stack name; `policy`: also run the
    policy pack's rules over both plans, with each stack's settings (stack -> pack config,
    `policycheck.pack_config`; a stack without: each rule's defaults)."""
    return tuple(
        diff_snapshots(stack, base.get(stack), head.get(stack), policy, (settings or {}).get(stack))
        for stack in sorted(base.keys() | head.keys())
    )
