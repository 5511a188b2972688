"""Offline synth: run the real program under Pulumi's mock runtime and write what it would deploy.

    python -m tools.synth --stack staging [--out build/staging] [--project-dir DIR]
    python -m tools.synth --stack staging --missing [--project-dir DIR]

DIR (default: this repository) holds the project's Pulumi.yaml, whose name is the namespace of
every key, and its stack files Pulumi.STACK.yaml.

Writes DIR/plan.json (every secret as "[secret]") and prints a summary like `pulumi preview`.
Secure values cannot be decrypted offline, so they, and secrets missing from the stack file,
become secret placeholders (the summary says how many were missing; `--missing` lists everything
a stack still needs before `pulumi up`, each with its command, and exits 1 while anything is
missing: tools/missing.py). `secretVersions` in the plan names each secure value by a fingerprint
of its ciphertext (public in the stack file), so a secret set anew shows as changed in a diff.
A bad stack file exits 2 with the config message on stderr, and so does an output folder that
cannot be written (each file written is whole: a full disk leaves the one before).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import runpy
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from components.config import (
    ROOT,
    SECRET_KEYS,
    ConfigError,
    StackConfig,
    check_namespaces,
    project_name,
    raw_project_config,
    required_secrets,
    stored_in_plain,
    validate,
    validate_values,
)
from components.stackfile import StackFileError, is_secure, read
from tools import missing, mockrun
from tools.files import cannot_write, write_whole

PLACEHOLDER = "offline-synth-placeholder"
# A secret whose shape the config checks gets a placeholder of that shape (`.invalid`: RFC 2606).
PLACEHOLDERS = {"watchdogUrl": "https://offline-synth-placeholder.invalid/heartbeat"}
OUTPUT_WIDTH = 160  # characters of each output the summary shows; plan.json has them all


def read_stack_file(path: Path) -> dict[str, Any]:
    """The stack file's `config` mapping (components.stackfile reads it, strictly)."""
    return read(path)


def _placeholders(value: Any, key: str = "") -> tuple[Any, bool]:
    """The value with every `secure:` leaf replaced by a placeholder, and whether it had one."""
    if is_secure(value):
        return PLACEHOLDERS.get(key, PLACEHOLDER), True
    if isinstance(value, dict):
        found = False
        out = {}
        for name, item in value.items():
            out[name], leaf_secret = _placeholders(item, name)
            found |= leaf_secret
        return out, found
    if isinstance(value, list):
        pairs = [_placeholders(item) for item in value]
        return [item for item, _ in pairs], any(secret for _, secret in pairs)
    return value, False


def secret_versions(value: Any, path: str) -> dict[str, str]:
    """`path` -> fingerprint of the ciphertext, for every `secure:` leaf under `value`."""
    if is_secure(value):
        return {path: hashlib.sha256(str(value["secure"]).encode()).hexdigest()[:16]}
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = ((f"[{index}]", item) for index, item in enumerate(value))
    else:
        return {}
    found: dict[str, str] = {}
    for key, item in items:
        found |= secret_versions(item, f"{path}{key}" if key.startswith("[") else f"{path}.{key}")
    return found


def _missing(present: Mapping[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """A placeholder for each of `paths` (`vercelToken`, `env.DATABASE_URL`) not in `present`."""
    added: dict[str, Any] = {}
    for path in paths:
        top, _, name = path.partition(".")
        if not name and top not in present:
            added[top] = PLACEHOLDERS.get(top, PLACEHOLDER)
        elif name and name not in (present.get(top) or {}):
            added.setdefault(top, {})[name] = PLACEHOLDER
    return added


def _merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Later layers win, one level of mappings deep (`env` merges name by name)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            both = isinstance(value, dict) and isinstance(merged.get(key), dict)
            merged[key] = {**merged[key], **value} if both else value
    return merged


def pulumi_config(
    stack_config: Mapping[str, Any],
    secrets: Mapping[str, Any] | None = None,
    namespace: str | None = None,
) -> tuple[dict[str, str], list[str]]:
    """The flat config map and secret keys that `pulumi up` would hand the program.

    `secrets` (camelCase name -> value; `env` a mapping) are set as the CLI's `--secret --path
    secrets.NAME` would; secrets still missing get a placeholder so the program runs on a fresh
    clone. As the CLI does, a key is secret when any value in it is encrypted.
    """
    project = namespace or project_name()
    flat: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, raw in stack_config.items():
        value, is_secret = _placeholders(raw)
        flat[key] = value if isinstance(value, str) else json.dumps(value)
        if is_secret:
            secret_keys.append(key)
    shape = raw_project_config(flat, project)
    for key in SECRET_KEYS:
        full_key = f"{project}:{key}"
        present, _ = _placeholders(stack_config.get(full_key, {}))
        if present == PLACEHOLDER:  # the whole object encrypted: nothing to read offline
            present = {}
        if not isinstance(present, dict):
            continue  # the config validation reports a non-mapping with its key path
        added = _missing(present, required_secrets(shape))
        merged = _merge(added, present, dict(secrets or {}))
        flat[full_key] = json.dumps(merged)
        if (added or secrets) and full_key not in secret_keys:
            secret_keys.append(full_key)
    return flat, secret_keys


def validated(stack: str, stack_file: Mapping[str, Any], project: str) -> StackConfig:
    """The stack file's config, validated as the program validates it, with secret placeholders
    (for what only reads the shape: the app's workflows, the missing list, tools.adopt)."""
    flat, _ = pulumi_config(stack_file, namespace=project)
    raw = raw_project_config(flat, project)
    plain = stored_in_plain(stack_file, project)
    return validate(raw, stack, frozenset(SECRET_KEYS), plain, project)


def run_program(
    stack: str,
    stack_config: Mapping[str, Any],
    secrets: Mapping[str, Any] | None = None,
    project_dir: Path = ROOT,
) -> mockrun.Plan:
    """Run `__main__.py` for `stack` with a stack file's `config` mapping, as `pulumi up` would,
    in the project of `project_dir` (its Pulumi.yaml names the project and the namespace)."""
    project = project_name(project_dir)
    check_namespaces(stack_config, stack, project)  # as the program does, before the rest
    config, secret_keys = pulumi_config(stack_config, secrets, project)
    # The program sees only which keys hold some encrypted value; this has the file, so every
    # value under `secrets` is checked here first, as the program checks it under `pulumi up`.
    validate_values(config, secret_keys, stack, stack_config, project)

    def program() -> None:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

    plan = mockrun.run(
        program,
        stack=stack,
        config=config,
        secret_keys=secret_keys,
        project=project,
    )
    for key, value in stack_config.items():
        plan.secret_versions |= secret_versions(value, key)
    return plan


def synthesize(
    stack: str, stack_file: Path | None = None, project_dir: Path = ROOT
) -> mockrun.Plan:
    path = stack_file or project_dir / f"Pulumi.{stack}.yaml"
    return run_program(stack, read_stack_file(path), project_dir=project_dir)


def monitoring_files(plan: mockrun.Plan) -> dict[str, str]:
    """The monitoring files exactly as the program stashed them in the plan."""
    stashes = (r["inputs"]["input"] for r in plan.of_type("pulumi:index:Stash"))
    return {s["path"]: s["content"] for s in stashes if {"path", "content"} <= set(s)}


def write(plan: mockrun.Plan, out: Path) -> None:
    write_whole(out / "plan.json", json.dumps(plan.to_json(), indent=2, sort_keys=True) + "\n")
    files = {Path(path): content for path, content in monitoring_files(plan).items()}
    folder = out / "monitoring"
    # A file the program no longer renders must not linger; only our own folder is swept.
    for found in sorted(folder.rglob("*"), reverse=True):  # a folder's files before the folder
        if found.is_symlink() or found.is_file():
            if found.relative_to(folder) not in files:
                found.unlink()
        elif not any(found.iterdir()):
            found.rmdir()
    for path, content in files.items():
        write_whole(folder / path, content)


def summary(plan: mockrun.Plan, out: Path) -> str:
    counts = Counter(r["type"] for r in plan.resources)
    protected = sum(r["protect"] for r in plan.resources)
    lines = [f"Offline synth of {plan.project}/{plan.stack} (mock runtime, nothing deployed)", ""]
    lines += [f"    + {count:3d}  {type_}" for type_, count in sorted(counts.items())]
    lines += ["", f"Resources: {len(plan.resources)} to create ({protected} protected)", ""]
    lines += ["Outputs:"]
    for key, value in sorted(plan.outputs.items()):
        text = json.dumps(value, sort_keys=True)
        shown = text if len(text) <= OUTPUT_WIDTH else f"{text[:OUTPUT_WIDTH]}… (see plan.json)"
        lines.append(f"    {key}: {shown}")
    lines += ["", f"Plan written to {out / 'plan.json'}"]
    if files := monitoring_files(plan):
        lines.append(f"{len(files)} monitoring files written under {out / 'monitoring'}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.synth", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--stack", required=True, help="stack name, e.g. staging or production")
    parser.add_argument("--out", type=Path, help="output folder (default: build/STACK)")
    parser.add_argument("--stack-file", type=Path, help="default: Pulumi.STACK.yaml")
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=ROOT,
        help="the project's folder: its Pulumi.yaml and stack files (default: this repository)",
    )
    parser.add_argument(
        "--policy",
        action="store_true",
        help="also run the policy pack's rules over the plan, with the stack's settings "
        "(PROJECT_DIR/policy/settings/STACK.yaml)",
    )
    parser.add_argument(
        "--missing",
        action="store_true",
        help="list what the stack still needs before `pulumi up` (secrets, ids, tokens), each "
        "with the command that sets it, and exit 1 while anything is missing; no synth",
    )
    args = parser.parse_args(argv)
    out = args.out or ROOT / "build" / args.stack
    project_dir = args.project_dir.resolve()
    config = None
    try:
        path = args.stack_file or project_dir / f"Pulumi.{args.stack}.yaml"
        stack_file = read_stack_file(path)
        project = project_name(project_dir)
        check_namespaces(
            stack_file,
            args.stack,
            project,
            str(path),
            also=lambda: validated(args.stack, stack_file, project),
        )
        checked = validated(args.stack, stack_file, project)
        if args.missing:
            text, count = missing.report(checked, stack_file, project, args.project_dir)
            print(text)
            return 1 if count else 0
        if args.policy:  # the settings first: a bad settings file runs nothing
            from tools import policycheck  # only with --policy: keeps the plain synth lean

            config = policycheck.pack_config(args.stack, project_dir)
        plan = run_program(args.stack, stack_file, project_dir=project_dir)
    except (ConfigError, StackFileError, ValueError) as error:
        print(error, file=sys.stderr)
        return 2
    try:
        write(plan, out)
    except OSError as error:  # a full disk, a folder that cannot be written: each file stays whole
        print(cannot_write(error, out), file=sys.stderr)
        return 2
    print(summary(plan, out))
    unset = missing.stack_file_items(checked, stack_file, project, "")
    if unset:
        print(
            f"\n{len(unset)} value(s) missing from {path.name} (offline, secrets became "
            f"placeholders): `python -m tools.synth --missing --stack {args.stack}"
            + ("" if project_dir == ROOT else f" --project-dir {args.project_dir}")
            + "` lists each with its command"
        )
    if config is not None:
        print()
        if policycheck.run(plan.to_json(), config=config, out=None):
            return 1
    return 0


if __name__ == "__main__":
    # A one-shot command: what is imported by now lives until exit, so the collector need not
    # rescan it on every full collection (that was about a fifth of the synth's time); and
    # the program leaves little cyclic garbage before the process ends, so no collection runs
    # at all (another seventh; the peak memory stays the same, benchmarks/synth_bench.py).
    gc.freeze()
    gc.disable()
    code = main()
    # The interpreter's exit still collects: it would scan every object the program made only
    # to free memory the process gives back anyway (about 0.1 s). Frozen, they are left alone,
    # as the imports are; what the synth writes is written and closed by now.
    gc.freeze()
    sys.exit(code)
