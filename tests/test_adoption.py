"""A team adopts the pipeline for its own product by the documented path only (docs/adopting.md):
`tools.adopt` writes the stack files from its answers, `tools.synth --missing` lists what is still
to set, then the synth, the policy, the plan diff and the real tools pass on what it wrote, and
nothing of this repository's product reaches a resource it would deploy."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

import components.monitoring
from components.config import ROOT, project_name
from tests.conftest import validated_stack
from tests.monitoring.promtool import run_promtool
from tests.projects import check_monitoring, check_workflows, command, strings, synth
from tools.synth import read_stack_file, validated

# The answers of a team with another product: its own namespace, repository, domains, services,
# flags and receivers, one reviewer.
ANSWERS = [
    "--product", "bakery",
    "--title", "Corner Bakery",
    "--repository", "corner/bakery",
    "--pipeline-repository", "corner/bakery-pipeline",
    "--environment", "staging=staging.corner-bakery.org",
    "--environment", "production=corner-bakery.org",
    "--environment", "production-us:production=us.corner-bakery.org",
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
STACKS = ("staging", "production", "production-us")


def files(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): p.read_text() for p in directory.rglob("*") if p.is_file()
    }


def adopt(directory: Path) -> None:
    command("tools.adopt", "--dir", directory, *ANSWERS)


def test_adoption_writes_stack_files_that_synth_pass_the_policy_and_render_valid_files(
    tmp_path: Path,
) -> None:
    project = tmp_path / "bakery-pipeline"
    adopt(project)
    assert sorted(files(project)) == sorted(
        [
            "Pulumi.yaml",
            *(f"Pulumi.{stack}.yaml" for stack in STACKS),
            *(f"policy/settings/{stack}.yaml" for stack in STACKS),
        ]
    )
    assert project_name(project) == "bakery-pipeline"
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
        assert config.environment.kind == ("staging" if stack == "staging" else "production")
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
    assert "monitoring.receivers.emailTo[0]" in refused.stderr
    assert "services.oven" in refused.stderr
    assert not fresh.exists()
    unanswered = command("tools.adopt", "--dir", fresh, "--no-input", check=False)
    assert unanswered.returncode == 2 and "--repository" in unanswered.stderr


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
