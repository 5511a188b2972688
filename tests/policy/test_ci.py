"""This repository's own CI runs the policy pack inside every `pulumi up` and approved
`pulumi preview`, with the settings of the stack it operates on. (The drift check's preview,
`expect-no-changes`, looks for changes only.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _operations() -> list[tuple[Path, list[dict[str, Any]], int]]:
    found = []
    for path in WORKFLOWS:
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            steps = job.get("steps", [])
            for index, step in enumerate(steps):
                given = step.get("with", {})
                if (
                    step.get("uses", "").startswith("pulumi/actions@")
                    and given["command"] in ("up", "preview")
                    and not given.get("expect-no-changes")
                ):
                    found.append((path, steps, index))
    return found


def test_every_pulumi_operation_runs_the_pack_with_its_stacks_settings() -> None:
    operations = _operations()
    assert {path.name for path, _, _ in operations} >= {"deploy.yml", "pull-request.yml"}
    for path, steps, index in operations:
        given = steps[index]["with"]
        assert given.get("policyPacks") == "policy", path.name
        config = given.get("policyPackConfigs", "").replace("${{ runner.temp }}", "$RUNNER_TEMP")
        writer = [
            s
            for s in steps[:index]
            if f'> "{config}"' in s.get("run", "") and "--pack-config" in s["run"]
        ]
        assert writer, f"{path.name}: nothing writes {config} before the operation"
        # The settings of the stack the operation runs on.
        assert writer[-1]["env"]["STACK"] == given["stack-name"], path.name
