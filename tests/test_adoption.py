"""A team adopts the pipeline for its own product by the documented path only (docs/adopting.md):
the page's commands as written, in a copy of this repository (step 1 removes this product's files,
step 2's `tools.adopt` writes the new ones in place); and, for another product adopted into an
empty folder, `tools.synth --missing` lists what is still to set, then the synth, the policy, the
plan diff and the real tools pass on what it wrote, and nothing of this repository's product
reaches a resource it would deploy. A bad answer is told by its option, and a folder that cannot
be written in one line."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import components.monitoring
from components.config import ROOT, project_name
from tests.conftest import validated_stack
from tests.monitoring.promtool import run_promtool
from tests.projects import check_monitoring, check_workflows, command, strings, synth
from tools.adopt import OPTIONS, deploy_branches
from tools.synth import read_stack_file, validated

# The answers of a team with another product: its own namespace, repository, domains, services,
# flags and receivers, one reviewer; an environment of each kind, two of kind production.
ANSWERS = [
    "--product", "bakery",
    "--title", "Corner Bakery",
    "--repository", "corner/bakery",
    "--pipeline-repository", "corner/bakery-pipeline",
    "--environment", "staging=staging.corner-bakery.org",
    "--environment", "production=corner-bakery.org",
    "--environment", "production-us:production=us.corner-bakery.org",
    "--environment", "review:preview:preview=review.corner-bakery.org",
    "--service", "storefront=vercel:web:web",
    "--service", "orders=railway:web:backend/orders:python:orders",
    "--service", "ovens=railway:worker:backend/ovens:python:ovens",
    "--service", "bake-plan=railway:cron:backend/ovens:python:ovens",
    "--schedule", "bake-plan=15 4 * * *",
    "--secret-env", "orders=ORDERS_DB,PAYMENTS_KEY",
    "--secret-env", "ovens=ORDERS_DB",
    "--reviewer", "corner-baker",
    "--vercel-team", "corner",
    "--email-to", "ovens@corner-bakery.org",
    "--smtp", "mail.corner-bakery.org:587",
    "--flag", "sourdoughSubscriptions",
    "--no-input",
]  # fmt: skip
KINDS = {"staging": "staging", "production": "production", "production-us": "production",
         "review": "preview"}  # fmt: skip
STACKS = tuple(KINDS)


def files(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): p.read_text() for p in directory.rglob("*") if p.is_file()
    }


def adopt(directory: Path) -> str:
    """What the command printed: the files written and the next steps."""
    return command("tools.adopt", "--dir", directory, *ANSWERS).stdout


def test_adoption_writes_stack_files_that_synth_pass_the_policy_and_render_valid_files(
    tmp_path: Path,
) -> None:
    project = tmp_path / "bakery-pipeline"
    told = adopt(project)
    assert sorted(files(project)) == sorted(
        [
            "Pulumi.yaml",
            *(f"Pulumi.{stack}.yaml" for stack in STACKS),
            *(f"policy/settings/{stack}.yaml" for stack in STACKS),
            ".pulumi-state/.gitkeep",  # Pulumi.yaml's file backend refuses a missing folder
        ]
    )
    assert project_name(project) == "bakery-pipeline"
    # What stays to do in the pipeline repository: its environments, and a branch its deploy
    # workflow is not pushed on (the review stack's), or no such step where it is.
    assert f"for each stack S ({', '.join(STACKS)}): S, drift-S, preview-S" in told
    branches = deploy_branches()
    assert branches, "the deploy workflow's push trigger was not read"
    trigger = "preview in the push trigger of .github/workflows/deploy.yml"
    assert (trigger in told) == ("preview" not in branches), told
    # The product this repository's own stacks are for: none of its names may reach the plans.
    former = validated_stack("production", ROOT).product.name.lower()
    for stack in STACKS:
        out = tmp_path / "build" / stack
        plan = synth(project, stack, out)
        inputs = [s for r in plan["resources"] for s in strings(r["inputs"])]
        assert inputs and not [s for s in inputs if former in s.lower()]
        assert not [s for s in strings(plan["outputs"]) if former in s.lower()]
        check_monitoring(out / "monitoring")
        check_workflows(project, stack, tmp_path / "app" / stack)
        config = validated(
            stack, read_stack_file(project / f"Pulumi.{stack}.yaml"), "bakery-pipeline"
        )
        assert config.environment.kind == KINDS[stack]
        run_promtool(
            components.monitoring.settings(config),
            components.monitoring.target(config),
            tmp_path / "promtool" / stack,
        )


def test_the_plan_diff_of_an_adopted_product_shows_its_own_changes_only(tmp_path: Path) -> None:
    project = tmp_path / "bakery-pipeline"
    adopt(project)
    synth(project, "production", tmp_path / "base")
    synth(project, "production", tmp_path / "same")
    same = command("tools.plandiff", "--project-dir", project, tmp_path / "base", tmp_path / "same")
    assert same.returncode == 0
    path = project / "Pulumi.production.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["bakery-pipeline:featureFlags"]["sourdoughSubscriptions"] = True
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    synth(project, "production", tmp_path / "head")
    result = command(
        "tools.plandiff",
        "--project-dir",
        project,
        tmp_path / "base",
        tmp_path / "head",
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "| `production` | 0 | 1 | 0 |" in result.stdout
    assert "`featureFlags.sourdoughSubscriptions`: `false` → `true`" in result.stdout
    # Judged with the adopted project's own policy settings: nothing fails.
    assert "No mandatory violation" in result.stdout, result.stdout


def test_adoption_never_overwrites_and_writes_nothing_from_bad_answers(tmp_path: Path) -> None:
    project = tmp_path / "bakery-pipeline"
    adopt(project)
    before = files(project)
    again = command("tools.adopt", "--dir", project, *ANSWERS, check=False)
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr
    assert files(project) == before
    fresh = tmp_path / "fresh"
    bad = [*ANSWERS, "--email-to", "nobody@", "--service", "oven=heroku:web:x"]
    refused = command("tools.adopt", "--dir", fresh, *bad, check=False)
    assert refused.returncode == 2
    assert "--email-to 'nobody@': " in refused.stderr
    assert "--service 'oven=heroku:web:x': platform: " in refused.stderr
    assert not fresh.exists()
    unanswered = command("tools.adopt", "--dir", fresh, "--no-input", check=False)
    assert unanswered.returncode == 2 and "--repository: missing" in unanswered.stderr


def problems(stderr: str) -> list[str]:
    """tools.adopt's list of problems: a heading, then one indented line each."""
    heading, *lines = stderr.splitlines()
    assert re.fullmatch(r"\d+ problem\(s\) with the answers, nothing written:", heading), stderr
    return [line.removeprefix("  ") for line in lines]


def test_bad_answers_are_told_by_their_option_each_once_and_all_at_once(tmp_path: Path) -> None:
    """Nothing is written, so a problem names the option to change, never a stack file's key
    to `pulumi config set`; each once, though every environment's stack file holds it."""
    bad = [
        *ANSWERS,
        "--product", "Bakery",
        "--email-to", "ovens-at-corner-bakery",
        "--smtp", "mail.corner-bakery.org",
        "--flag", "rye_bread",
        "--environment", "prod=corner-bakery.net",
        "--environment", "preview:preview",
        "--service", "mixer=railway:web",
        "--service", "proofer=railway:worker:backend/proofer:ruby",
        "--reviewer", "corner_baker",
    ]  # fmt: skip
    refused = command("tools.adopt", "--dir", tmp_path / "new", *bad, check=False)
    assert refused.returncode == 2 and not (tmp_path / "new").exists()
    told = problems(refused.stderr)
    assert len(told) == len(set(told)) == 9, refused.stderr
    expected = [
        "--product 'Bakery': ",
        "--environment 'prod=corner-bakery.net': 'prod' is not a kind",
        "--environment 'preview:preview': not of the form NAME[:KIND[:BRANCH]]=DOMAIN",
        "--service 'mixer=railway:web': not of the form NAME=PLATFORM:ROLE:ROOT",
        "--service 'proofer=railway:worker:backend/proofer:ruby': language: ",
        "--reviewer 'corner_baker': user: ",
        "--email-to 'ovens-at-corner-bakery': ",
        "--smtp 'mail.corner-bakery.org': ",
        "--flag 'rye_bread': ",
    ]
    assert [e for e in expected if sum(line.startswith(e) for line in told) != 1] == []
    assert "pulumi config" not in refused.stderr and "fix:" not in refused.stderr
    assert "[key]" not in refused.stderr and "Value error" not in refused.stderr


@pytest.mark.parametrize(
    ("clash", "told"),
    [
        (
            ["--schedule", "ovens=0 4 * * *", "--secret-env", "oven=ORDERS_DB"],
            [
                "--schedule: no cron service is named ovens",
                "--secret-env: no service is named oven",
            ],
        ),
        (  # only the config loader sees these: told by the option and the stack file's key
            ["--service", "grafana=railway:web:backend/grafana"],
            ["--service: services.grafana: the pipeline's own service or scrape job has this name"],
        ),
    ],
)
def test_answers_that_clash_are_told_by_their_option_once(
    tmp_path: Path, clash: list[str], told: list[str]
) -> None:
    """Answers each fine alone, wrong together: told once, not once per stack file, and without
    the config loader's `pulumi config` fixes."""
    refused = command("tools.adopt", "--dir", tmp_path / "new", *ANSWERS, *clash, check=False)
    assert refused.returncode == 2 and not (tmp_path / "new").exists()
    assert problems(refused.stderr) == told


def test_a_folder_it_cannot_write_is_one_line_and_exit_2_with_nothing_left(
    tmp_path: Path,
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    blocked = tmp_path / "blocked"  # its policy/ is a file: the last files cannot be written
    blocked.mkdir()
    (blocked / "policy").write_text("")
    for directory in (Path("/proc/no-such-folder"), a_file, blocked):
        result = command("tools.adopt", "--dir", directory, *ANSWERS, check=False)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("cannot write ") and result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr and result.stdout == ""
    assert [p.name for p in blocked.iterdir()] == ["policy"]


def test_the_help_shows_each_answer_in_the_form_the_page_gives() -> None:
    page = (ROOT / "docs/adopting.md").read_text()
    options = {f"--{name.replace('_', '-')}" for name in OPTIONS}
    forms = [f for f in re.findall(r"`(--[a-z-]+ [A-Z][^`]*)`", page) if f.split()[0] in options]
    assert "--schedule NAME=CRON" in forms
    shown = command("tools.adopt", "-h", check=False).stdout
    assert [form for form in forms if form not in shown] == []


def test_missing_lists_each_value_with_its_command_until_none_is_left(tmp_path: Path) -> None:
    project = tmp_path / "bakery-pipeline"
    adopt(project)
    args = ("tools.synth", "--missing", "--project-dir", project, "--stack", "production")
    listed = command(*args, check=False)
    assert listed.returncode == 1
    paths = [
        line.split(":")[0].removeprefix("  - ")
        for line in listed.stdout.splitlines()
        if line.startswith("  - secrets.")
    ]
    expected = {
        "secrets.env.ORDERS_DB", "secrets.env.PAYMENTS_KEY", "secrets.vercelToken",
        "secrets.railwayDeployToken", "secrets.railwayToken", "secrets.rollbackGithubToken",
        "secrets.slackApiUrl", "secrets.smtpPassword", "secrets.watchdogUrl",
    }  # fmt: skip
    assert expected <= set(paths)
    for path in paths:
        assert f"config set --secret --path '{path}' --stack production" in listed.stdout
    assert "railway.projectId" in listed.stdout
    assert (
        "gh secret set PIPELINE_APP_PRIVATE_KEY --env production --repo corner/bakery-pipeline"
        in (listed.stdout)
    )
    # Set everything it listed (ciphertexts stand in for `pulumi config set --secret`).
    stack_file = project / "Pulumi.production.yaml"
    document = yaml.safe_load(stack_file.read_text())
    config = document["config"]
    secrets: dict[str, object] = {}
    for path in paths:
        *parents, leaf = path.removeprefix("secrets.").split(".")
        node = secrets
        for parent in parents:
            node = node.setdefault(parent, {})  # type: ignore[assignment]
        node[leaf] = {"secure": f"v1:{leaf}"}
    config["bakery-pipeline:secrets"] = secrets
    config["bakery-pipeline:railway"]["projectId"] = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    tokens = ("GITHUB_TOKEN", "VERCEL_API_TOKEN", "RAILWAY_TOKEN", "PULUMI_CONFIG_PASSPHRASE")
    os.environ.update(dict.fromkeys(tokens, "set"))
    try:
        done = command(*args, check=False)
    finally:
        for name in tokens:
            os.environ.pop(name)
    assert done.returncode == 0, done.stdout
    assert "Nothing missing" in done.stdout


def documented_commands(step: int) -> list[str]:
    """The commands of the first `sh` block of docs/adopting.md's step N, as written (a line
    continued with a backslash joined)."""
    page = (ROOT / "docs/adopting.md").read_text()
    section = page.split(f"\n## {step}. ")[1].split("\n## ")[0]
    block = section.split("```sh\n")[1].split("```")[0]
    return [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]


NOT_RUN = {
    "bash tools/venv": "the copy's .venv is the venv these tests run in",
    "bash tools/check": "the suite this test is part of",
}


def repository_copy(copy: Path) -> dict[str, str]:
    """This repository as its working tree has it (tracked files and new ones git does not
    ignore), committed in a repository of its own, with the tests' venv as its .venv; the
    environment to run commands in it (no git configuration of this machine's)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():  # a file deleted but not yet committed is not
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    (copy / ".venv").symlink_to(sys.prefix)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.pop("PIPELINE_PROJECT_DIR", None)
    env |= {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    for who in ("AUTHOR", "COMMITTER"):
        env |= {f"GIT_{who}_NAME": "adopter", f"GIT_{who}_EMAIL": "adopter@example.com"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "the pipeline, forked"]):
        subprocess.run(["git", *args], cwd=copy, env=env, check=True)
    return env


def test_the_documented_steps_adopt_in_place_in_a_copy_of_the_repository(tmp_path: Path) -> None:
    """Steps 1 and 2 as a newcomer runs them, from the copy's root in a shell: step 2's
    `python -m tools.adopt` runs from the copy, where step 1 removed this product's files (the
    project file among them). Steps 3 and 4 then run on what it wrote, in this process (from
    here, so with --project-dir, and --out into the test's folder)."""
    copy = tmp_path / "pipeline"
    env = repository_copy(copy)
    former = [
        str(p.relative_to(copy))
        for p in (*copy.glob("Pulumi*.yaml"), *copy.glob("policy/settings/*"))
    ]
    for line in documented_commands(1) + documented_commands(2):
        if line.split("#")[0].strip() not in NOT_RUN:
            run = subprocess.run(
                ["bash", "-ec", line],
                cwd=copy,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert run.returncode == 0, f"{line}\n{run.stdout}{run.stderr}"
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=copy, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    stacks = ("staging", "production", "production-eu")
    assert sorted(status.splitlines()) == sorted(
        [
            *(f"D  {name}" for name in former if name != "Pulumi.yaml"),
            "D  Pulumi.yaml",
            "?? Pulumi.yaml",
            *(f"?? Pulumi.{stack}.yaml" for stack in stacks),
            *(f"?? policy/settings/{stack}.yaml" for stack in stacks),
        ]
    ), status
    new_project = yaml.safe_load((copy / "Pulumi.yaml").read_text())
    this_project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert new_project["name"] == "shop-pipeline"
    for key in ("runtime", "backend"):
        assert new_project[key] == this_project[key]
    for step, line in enumerate(documented_commands(3) + documented_commands(4)):
        if line.split("#")[0].strip() in NOT_RUN:
            continue
        python, dash_m, *args = shlex.split(line, comments=True)
        assert (python, dash_m) == (".venv/bin/python", "-m"), line
        out = tmp_path / "out" / str(step)
        result = command(*args, "--project-dir", copy, "--out", out, check=False)
        missing = "--missing" in args  # exit 1 while anything is missing (step 3)
        assert result.returncode == int(missing), f"{line}\n{result.stdout}{result.stderr}"
        assert "mandatory" not in result.stdout, result.stdout


@pytest.mark.parametrize(
    "text",
    ["", "on: push\n", "on:\n  push:\n    paths: [src]\n", "jobs: [\n", "- a list\n"],
    ids=["empty", "no-branch-list", "paths-only", "not-yaml", "not-a-mapping"],
)
def test_a_deploy_workflow_without_a_branch_list_gives_no_branch_step(
    text: str, tmp_path: Path
) -> None:
    workflow = tmp_path / "deploy.yml"
    workflow.write_text(text)
    assert deploy_branches(workflow) == []
    assert deploy_branches(tmp_path / "missing.yml") == []
