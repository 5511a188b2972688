"""Drift in Railway, which `pulumi preview --refresh` cannot see (command resources have no read):
the read-only `python -m components.railway check` of every Railway service of a stack, against
the spec the program sends.

    python -m tools.railway_drift --stack staging [--report FILE]

Exit 0 when every service is as its spec says, 3 on drift, 1 when Railway cannot be read, 2 on a
bad stack file. The Railway token comes from the environment (RAILWAY_API_TOKEN or RAILWAY_TOKEN).
Secret variables are checked for presence only: the offline synth never holds their values.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from components.config import ROOT, ConfigError
from components.railway.spec import SECRET_ENV_PREFIX
from components.stackfile import StackFileError
from tools import synth
from tools.files import write_whole

COMMAND = "command:local:Command"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.railway_drift", description=__doc__)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--report", type=Path, help="also write the drift lines here")
    parser.add_argument(
        "--project-dir", type=Path, default=ROOT, help="the project's folder (default: here)"
    )
    args = parser.parse_args(argv)
    try:
        plan = synth.synthesize(args.stack, project_dir=args.project_dir.resolve())
    except (ConfigError, StackFileError) as error:
        print(error, file=sys.stderr)
        return 2
    lines: list[str] = []
    worst = 0
    for command in sorted(plan.of_type(COMMAND), key=lambda c: str(c["name"])):
        spec = json.loads(command["inputs"]["stdin"])
        env = {k: v for k, v in os.environ.items() if not k.startswith(SECRET_ENV_PREFIX)}
        done = subprocess.run(
            [sys.executable, "-m", "components.railway", "check"],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            check=False,
        )
        sys.stderr.write(done.stderr)
        lines += done.stdout.splitlines()
        if done.returncode not in (0, 3):
            lines.append(f"{spec['service']['name']}: Railway could not be read (see the log)")
        worst = max(worst, 1 if done.returncode not in (0, 3) else done.returncode)
    for line in lines:
        print(line)
    if args.report:
        write_whole(args.report, "".join(f"{line}\n" for line in lines))
    return worst


if __name__ == "__main__":
    sys.exit(main())
