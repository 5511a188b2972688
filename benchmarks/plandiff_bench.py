"""The pull request's plan diff of both real stacks, against its own start-up.

    .venv/bin/python -m benchmarks.plandiff_bench [--runs 11]

Synthesizes both committed stacks (base) and both again with one change (head), as the pull
request workflow does, then times the whole command `python -m tools.plandiff base head --out
FILE` in fresh processes: the real plans, their Railway command specs (which carry the
monitoring files), the monitoring files, and the policy pack's rules over each head (and each
base, when a head fails the policy). Its start-up is the same command's `--help`: the
interpreter and every module the command imports. The runs take turns; medians. A last row
diffs 2,000 generated resources, every one changed, in process, for scale. Exits non-zero,
measuring nothing, when a synth or a diff fails. Goal: the diff at most 2x its start-up.
"""

from __future__ import annotations

import copy
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import measure

STACKS = ("staging", "production")
Edit = Callable[[dict[str, Any]], None]


def stricter_errors(config: dict[str, Any]) -> None:
    """production's error-rate trigger from 5% to 2%: alert rules, and the command specs and
    stashes that carry them, change."""
    monitoring = config.setdefault(f"{measure.namespace()}:monitoring", {})
    monitoring.setdefault("triggers", {}).setdefault("performance", {})["errorRate"] = 0.02


def no_wait(config: dict[str, Any]) -> None:
    """production deploys without a wait: the head fails the policy, so the base is checked too."""
    config[f"{measure.namespace()}:github"]["waitTimer"] = 0


CHANGES: dict[str, Edit] = {
    "production's error-rate threshold": stricter_errors,
    "production's wait timer to 0 (fails the policy)": no_wait,
}


def synthesize(out: Path, edit: Edit | None = None) -> Path:
    from tools import synth

    for stack in STACKS:
        config = copy.deepcopy(synth.read_stack_file(measure.ROOT / f"Pulumi.{stack}.yaml"))
        if edit and stack == "production":
            edit(config)
        synth.write(synth.run_program(stack, config), out / stack)
    return out


def make_plan(count: int, revision: int) -> dict[str, Any]:
    """`count` resources with nested inputs, each differing by `revision`."""
    resources = [
        {
            "urn": f"urn:pulumi:staging::pipeline::t:index:T::res-{index:05d}",
            "type": "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable",
            "name": f"res-{index:05d}",
            "parent": None,
            "custom": True,
            "protect": index % 50 == 0,
            "inputs": {
                "variableName": f"VARIABLE_{index}",
                "value": f"value-{index}-r{revision}",
                "token": "[secret]" if index % 10 == 0 else f"public-{index}",
                "spec": {"replicas": 1 + revision, "env": [{"name": "E", "value": revision}]},
            },
        }
        for index in range(count)
    ]
    return {"project": "pipeline", "stack": "staging", "resources": resources, "outputs": {}}


def scale(count: int) -> float:
    from tools.plandiff import diff_sides, load_side, render

    with tempfile.TemporaryDirectory() as tmp:
        sides = {}
        for revision in (1, 2):
            side = Path(tmp) / str(revision)
            side.mkdir()
            (side / "plan.json").write_text(json.dumps(make_plan(count, revision)))
            sides[revision] = side
        start = time.perf_counter()
        render(diff_sides(load_side(sides[1]), load_side(sides[2])))
        return time.perf_counter() - start


def main() -> None:
    runs = measure.runs_wanted(__doc__)
    measure.require("pulumi", "pulumi_github", "pulumiverse_vercel", "pulumi_command", "pydantic")
    with tempfile.TemporaryDirectory() as tmp:
        base = synthesize(Path(tmp) / "base")
        commands = {
            "start-up: `python -m tools.plandiff --help`": measure.Command(
                ["-m", "tools.plandiff", "--help"]
            )
        }
        for label, edit in CHANGES.items():
            head = synthesize(Path(tmp) / label.replace(" ", "-"), edit)
            argv = [str(base), str(head), "--out", str(head / "plan-diff.md")]
            # exit 2: changes
            commands[f"both stacks, {label}"] = measure.Command(["-m", "tools.plandiff", *argv], 2)
        medians = measure.medians(measure.interleaved(commands, runs))
    start_up = next(iter(medians.values()))
    print(f"| what | median of {runs} runs | ratio to start-up |")
    print("| --- | --- | --- |")
    for name, median in medians.items():
        print(f"| {name} | {median:.2f} s | {median / start_up:.2f} |")
    took = statistics.median(scale(2000) for _ in range(3))
    print(f"| 2,000 generated resources, every one changed (in process) | {took:.2f} s | |")


if __name__ == "__main__":
    main()
