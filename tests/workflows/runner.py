"""Runs a rendered job's `run:` steps the way a GitHub runner does, as far as these workflows
need: in order, each as `bash -e` in the checkout, with the step's env (expressions filled in
from the given contexts), $GITHUB_PATH and $GITHUB_OUTPUT honoured, stopping at the first
failure. `uses:` steps are skipped (the test lays out the checkout itself). Fake CLIs in a bin
folder record what they were called with."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


@dataclass
class StepResult:
    name: str
    returncode: int
    stdout: str
    stderr: str


@dataclass
class JobRun:
    contexts: dict[str, str]  # with the steps' outputs
    steps: list[StepResult] = field(default_factory=list)

    @property
    def failed(self) -> StepResult | None:
        return next((s for s in self.steps if s.returncode != 0), None)

    @property
    def output(self) -> str:
        return "".join(s.stdout + s.stderr for s in self.steps)


def fill(text: str, contexts: dict[str, str]) -> str:
    """`${{ vars.X }}` -> contexts["vars.X"]; an unknown vars/secrets reference is empty, as on
    GitHub; any other unknown expression fails the test."""

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in contexts:
            return contexts[key]
        if key.startswith(("vars.", "secrets.")):
            return ""
        raise AssertionError(f"the test runner cannot evaluate ${{{{ {key} }}}}")

    return EXPRESSION.sub(value, text)


def run_job(
    job: dict[str, Any],
    checkout: Path,
    contexts: dict[str, str],
    *,
    bin_dir: Path,
    temp: Path,
    runner_env: dict[str, str] | None = None,
    timeout: float = 60,
) -> JobRun:
    """`runner_env`: what the runner itself sets (GITHUB_REPOSITORY, ...), and test overrides."""
    result = JobRun({**contexts, "runner.temp": str(temp)})
    contexts = result.contexts
    github_path = temp / "github_path"
    github_path.touch()
    for index, step in enumerate(job["steps"]):
        if "run" not in step:
            continue
        outputs = temp / f"output-{step.get('id', index)}"
        outputs.touch()
        extra = [line for line in github_path.read_text().splitlines() if line]
        env = {
            "PATH": os.pathsep.join([*reversed(extra), str(bin_dir), "/usr/bin", "/bin"]),
            "HOME": str(temp),
            "RUNNER_TEMP": str(temp),
            "GITHUB_PATH": str(github_path),
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(temp / "summary.md"),
            "CI": "true",
            **(runner_env or {}),
            **{name: fill(str(v), contexts) for name, v in step.get("env", {}).items()},
        }
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        result.steps.append(StepResult(step["name"], done.returncode, done.stdout, done.stderr))
        for line in outputs.read_text().splitlines():
            key, _, value = line.partition("=")
            if "id" in step:  # `steps.<id>.outputs.<key>` for the steps after it
                contexts[f"steps.{step['id']}.outputs.{key}"] = value
        if done.returncode != 0:
            break
    return result


def fake_cli(bin_dir: Path, name: str, body: str) -> Path:
    """An executable `name` in bin_dir: records its arguments (one call a line), whether the
    tokens it needs were in its environment, and the names of every credential-like variable it
    could read, then runs `body` (bash)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    log, seen = bin_dir / f"{name}.calls", bin_dir / f"{name}.credentials"
    credential = r"s/^\([A-Za-z_]*\(TOKEN\|SECRET\|KEY\)[A-Za-z_]*\)=.*/\1/p"
    path.write_text(
        "#!/usr/bin/env bash\nset -euo pipefail\n"
        f'printf "%s\\n" "$*" >> "{log}"\n'
        'printf "RAILWAY_TOKEN=%s VERCEL_TOKEN=%s\\n" "${RAILWAY_TOKEN:-}" "${VERCEL_TOKEN:-}" '
        f'>> "{bin_dir / (name + ".env")}"\n'
        f"echo $(env | sed -n '{credential}' | sort) >> \"{seen}\"\n"
        f"{body}\n"
    )
    path.chmod(0o755)
    return path


def credentials(bin_dir: Path, name: str) -> list[list[str]]:
    """Per call of the fake CLI `name`: the names of the credential-like variables it saw."""
    log = bin_dir / f"{name}.credentials"
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def calls(bin_dir: Path, name: str) -> list[str]:
    log = bin_dir / f"{name}.calls"
    return log.read_text().splitlines() if log.exists() else []


def fake_railway(bin_dir: Path, statuses: list[str], deployment: str = "dep-1") -> None:
    """`railway up` answers the deployment id; each `railway deployment list` the next status
    (the last one again once they run out)."""
    answers = bin_dir / "answers"
    answers.mkdir(parents=True)
    (answers / "up.json").write_text(json.dumps({"deploymentId": deployment, "logsUrl": "x"}))
    for number, status in enumerate(statuses, 1):
        listed = [{"id": "older", "status": "SUCCESS"}, {"id": deployment, "status": status}]
        (answers / f"list-{number}.json").write_text(json.dumps(listed))
    fake_cli(
        bin_dir,
        "railway",
        f"""\
case "$1" in
  up) cat "{answers}/up.json" ;;
  deployment)
    n=$(( $(cat "{answers}/count" 2>/dev/null || echo 0) + 1 )); echo "$n" > "{answers}/count"
    cat "{answers}/list-$(( n < {len(statuses)} ? n : {len(statuses)} )).json" ;;
esac""",
    )


_DOCKER = '''\
#!/usr/bin/env python3
"""A stand-in for `docker run --rm [-e NAME]... [-v HOST:PATH[:ro]]... [-w PATH] IMAGE CMD...`:
runs CMD on this machine with, as a container would, only the variables passed with -e (a bare
`-e NAME` copies the client's value, and one the client lacks is set empty: docker/cli#1780) and
the mounted folders only, at their host paths (a read-only mount is copied, so a write to it
changes nothing the host keeps). Records each call, and the image."""
import os, shutil, subprocess, sys, tempfile
log = os.path.join(os.path.dirname(os.path.abspath(__file__)), "docker.calls")
args = sys.argv[1:]
with open(log, "a") as out:
    out.write(" ".join(args) + "\\n")
assert args[:2] == ["run", "--rm"], args
env = {"PATH": "/usr/bin:/bin", "HOME": tempfile.mkdtemp()}
mounts, cwd, rest = {}, None, args[2:]
while rest[0].startswith("-"):
    flag, value, rest = rest[0], rest[1], rest[2:]
    if flag == "-e":
        name, equals, given = value.partition("=")
        env[name] = given if equals else os.environ.get(name, "")
    elif flag == "-v":
        host, path, *mode = value.split(":")
        if mode == ["ro"]:
            copy = tempfile.mkdtemp()
            shutil.copytree(host, copy, dirs_exist_ok=True, symlinks=True)
            host = copy
        mounts[path] = host
    elif flag == "-w":
        cwd = value
image, command = rest[0], rest[1:]
def host(path):
    for inside, outside in sorted(mounts.items(), key=lambda m: -len(m[0])):
        if path == inside or path.startswith(inside + "/"):
            return outside + path[len(inside):]
    raise SystemExit(f"docker stand-in: {path} is not mounted")
sys.exit(subprocess.run([host(command[0]), *command[1:]], cwd=host(cwd), env=env).returncode)
'''


def fake_docker(bin_dir: Path) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "docker"
    path.write_text(_DOCKER)
    path.chmod(0o755)
