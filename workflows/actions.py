"""The actions the rendered workflows use, each pinned to the full commit SHA of a release.

checkout, setup-python and the artifact actions are the pins of this repository's own workflows;
setup-node v5.0.0 and the three docker/ actions were cross-checked in several unrelated public
repositories that pin the same SHA with the same version comment (docs/app-workflows.md). The
YAML writer puts the version in a comment after each `uses:`."""

from typing import Any

# name -> (commit SHA, release tag)
PINS: dict[str, tuple[str, str]] = {
    "actions/checkout": ("08c6903cd8c0fde910a37f88322edcfb5dd907a8", "v5.0.0"),
    "actions/download-artifact": ("d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0"),
    "actions/setup-node": ("a0853c24544627f65ddf259abe73b1d18a591444", "v5.0.0"),
    "actions/setup-python": ("a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
    "actions/upload-artifact": ("ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
    "docker/setup-buildx-action": ("e468171a9de216ec08956ac3ada2f0791b6bd435", "v3.11.1"),
    "docker/build-push-action": ("263435318d21b8e681c14492fe198d362a7d2c83", "v6.18.0"),
    "docker/login-action": ("184bdaa0721073962dff0199f1fb9940f07167d1", "v3.5.0"),
}


def uses(action: str, **inputs: Any) -> dict[str, Any]:
    """A step running a pinned action; `inputs` become its `with:` (underscores -> dashes)."""
    sha, _tag = PINS[action]
    step: dict[str, Any] = {"uses": f"{action}@{sha}"}
    if inputs:
        step["with"] = {key.replace("_", "-"): value for key, value in inputs.items()}
    return step


def checkout(**inputs: Any) -> dict[str, Any]:
    """Never leaves the token in .git/config for later steps (zizmor: artipacked)."""
    return uses("actions/checkout", persist_credentials=False, **inputs)


RUNNER = "ubuntu-24.04"


def var(name: str) -> str:
    """The expression of a GitHub Actions variable (repository or environment)."""
    return f"${{{{ vars.{name} }}}}"


def secret(name: str) -> str:
    return f"${{{{ secrets.{name} }}}}"


READ = {"contents": "read"}


def run(name: str, script: str, env: dict[str, str] | None = None, **keys: Any) -> dict[str, Any]:
    """A shell step; `keys` (id, if, working_directory, ...) go before `run` (underscores ->
    dashes). Values reach the script through `env`, never as `${{ }}` inside it."""
    step: dict[str, Any] = {"name": name}
    step.update({key.replace("_", "-"): value for key, value in keys.items()})
    if env:
        step["env"] = env
    step["run"] = script
    return step


def job(name: str, timeout: int, steps: list[dict[str, Any]], **keys: Any) -> dict[str, Any]:
    """A job on GitHub's runner; `keys` (needs, if, environment, ...) go before its steps.
    Permissions default to reading the repository."""
    spec: dict[str, Any] = {"name": name}
    spec.update({key.replace("_", "-"): value for key, value in keys.items()})
    spec.setdefault("permissions", READ)
    spec["runs-on"] = RUNNER
    spec["timeout-minutes"] = timeout
    spec["steps"] = steps
    return spec


def upload(name: str, path: str, *, when: str, days: int = 14) -> dict[str, Any]:
    """Keep files of the run as an artifact; `when`: the step's `if:` (failure(), always())."""
    step = uses(
        "actions/upload-artifact",
        name=name,
        path=path,
        if_no_files_found="ignore" if when != "success()" else "error",
        retention_days=days,
    )
    return {"if": f"${{{{ {when} }}}}", **step}
