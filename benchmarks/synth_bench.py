"""How much the program adds on top of importing pulumi and the provider SDKs, and its memory.

    .venv/bin/python -m benchmarks.synth_bench [--runs 11]

Each figure is the median wall time of fresh processes. The floor imports pulumi and every
provider SDK the program uses, and exits as the synth exits: with what it imported frozen
(`gc.freeze()`), so the interpreter's exit does not scan it. The synth freezes its imports the
same way; a floor with a plain exit pays that scan (0.1-0.2 s) and so flattered the ratio. It
is shown too, with the ratios to it, as the floor was measured before. A third row imports what
the synth imports and runs nothing: the share of the ratio that no change to the program's run
can remove. Four more rows bound the goal from below: Pulumi's runtime registering the staging
plan's resources again, alone (`benchmarks.replay`: the floor's imports, then every resource
with its inputs and nothing else); the same after pydantic's import (no model built); the same
after pydantic's and the Grafana SDK's imports (the three packages the mission chose that every
synth runs, none of the program's code); and the same after the stack file is read and
validated as the synth does it (the config models built, nothing rendered): what a synth costs
that registers through Pulumi and validates with pydantic, before it renders a file or builds a
resource's arguments. The synth runs the whole program for a stack under the mock runtime and
writes its plan. The commands take turns, run by run, so a busy machine slows them all alike.
Both sides load compiled bytecode, as on a user's second run: pip compiled the SDKs at install,
and one warm-up run compiles our modules. PYTHONDONTWRITEBYTECODE, which some machines set, is
dropped for the runs: with it, every run would recompile our modules. Peak memory is each
process's own high-water mark (VmHWM), the largest of the runs. Exits non-zero, measuring
nothing, when a synth fails. Prints a Markdown table.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from benchmarks import measure

FLOOR = "import pulumi, pulumi.runtime.mocks, pulumi_github, pulumiverse_vercel, pulumi_command"
FROZEN = f"{FLOOR}; import gc; gc.freeze()"  # exits as tools.synth does
# Everything the synth imports (pydantic, its models built, the renderers), nothing run: what the
# program costs before it registers a resource.
IMPORTS = f"{FLOOR}, pulumi_command.local, tools.synth, components.pipeline; import gc; gc.freeze()"
STACKS = ("staging", "production")
PYDANTIC = "from pydantic import BaseModel, Field"
# What monitoring/grafana.py imports of the SDK the mission chose for the dashboards.
GRAFANA = (
    "from grafana_foundation_sdk.builders import common, dashboard, prometheus, stat, timeseries; "
    "from grafana_foundation_sdk.cog.encoder import JSONEncoder"
)
VALIDATED = (
    "from tools import synth; "
    "synth.validated('staging', synth.read_stack_file(synth.ROOT / 'Pulumi.staging.yaml'), "
    "synth.project_name()); "
)


def _replay(plan: str, before: str = "") -> str:
    """Pulumi alone registering `plan`'s resources, after the floor's imports (and `before`)."""
    return (
        f"{FLOOR}, benchmarks.replay; {before}import gc; gc.freeze(); gc.disable(); "
        f"benchmarks.replay.main({plan!r}); gc.freeze()"
    )


def main() -> None:
    runs = measure.runs_wanted(__doc__)
    measure.require("pulumi", "pulumi_github", "pulumiverse_vercel", "pulumi_command", "pydantic")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as out:
        plan = f"{out}/replay/plan.json"
        synth = ["-m", "tools.synth", "--stack", "staging", "--out", f"{out}/replay"]
        measure.check(measure.run(synth, env), "the staging synth whose plan is replayed")
        count = len(json.loads(Path(plan).read_text())["resources"])
        commands = {
            "floor: the imports, exit as the synth's (`gc.freeze()`)": measure.Command(
                ["-c", FROZEN]
            ),
            f"floor, plain exit: `{FLOOR}`": measure.Command(["-c", FLOOR]),
            "the synth's imports only (`tools.synth`, `components.pipeline`), nothing run": (
                measure.Command(["-c", IMPORTS])
            ),
            f"Pulumi alone: the staging plan's {count} resources registered again "
            "(`benchmarks.replay`)": measure.Command(["-c", _replay(plan)]),
            f"the same after pydantic's import (`{PYDANTIC}`)": measure.Command(
                ["-c", _replay(plan, f"{PYDANTIC}; ")]
            ),
            "the same after pydantic's and the Grafana SDK's imports (the dashboards' builders), "
            "none of the program's code": measure.Command(
                ["-c", _replay(plan, f"{PYDANTIC}; {GRAFANA}; ")]
            ),
            "the same after the staging stack file is read and validated as the synth does (the "
            "config's models built), nothing rendered": measure.Command(
                ["-c", _replay(plan, VALIDATED)]
            ),
        }
        for stack in STACKS:
            synth = ["-m", "tools.synth", "--stack", stack, "--out", f"{out}/{stack}"]
            commands[f"`python -m tools.synth --stack {stack}`"] = measure.Command(synth)
        results = measure.interleaved(commands, runs, env)
    medians = measure.medians(results)
    peaks = {name: [r.peak_bytes for r in found] for name, found in results.items()}
    floor, plain = list(medians.values())[:2]
    print(f"| what | median of {runs} runs | ratio to floor | to plain-exit floor | peak memory |")
    print("| --- | --- | --- | --- | --- |")
    for name, median in medians.items():
        peak = measure.size(max(peaks[name]))
        ratios = f"{median / floor:.2f} | {median / plain:.2f}"
        print(f"| {name} | {median:.2f} s | {ratios} | {peak} |")


if __name__ == "__main__":
    main()
