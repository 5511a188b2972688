"""The stack carries its rendered monitoring files; the synth writes them under DIR/monitoring."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import yaml

from monitoring.secrets import placeholder
from tests.conftest import ROOT, SynthFn, key, merged
from tools import synth

CANARY = "canary-monitoring-71d0-do-not-leak"
SECRETS = ("slackApiUrl", "pagerdutyRoutingKey", "smtpPassword", "rollbackWebhookToken")


def test_every_rendered_file_is_stashed_with_its_hash(run_stack: SynthFn, stack: str) -> None:
    plan = run_stack(stack)
    stashes = {r["inputs"]["input"]["path"]: r for r in plan.of_type("pulumi:index:Stash")}
    assert "prometheus/rules/alerts.yml" in stashes
    assert "alertmanager/alertmanager.yml" in stashes
    hashes = plan.outputs["monitoring"]["files"]
    assert sorted(hashes) == sorted(stashes)
    for path, resource in stashes.items():
        stashed = resource["inputs"]["input"]
        assert hashlib.sha256(stashed["content"].encode()).hexdigest() == hashes[path]
        assert stashed["sha256"] == hashes[path]
        assert (
            f"environment: {stack}"
            in stashes["prometheus/rules/alerts.yml"]["inputs"]["input"]["content"]
        )


def test_alertmanager_reads_secrets_from_files_never_from_the_plan(run_stack: SynthFn) -> None:
    plan = run_stack("production", secrets=dict.fromkeys(SECRETS, CANARY))
    files = synth.monitoring_files(plan)
    alertmanager = files["alertmanager/alertmanager.yml"]
    for path in plan.outputs["monitoring"]["secretFiles"].values():
        assert path in alertmanager
    assert CANARY not in json.dumps(plan.to_json())


def test_synth_writes_the_monitoring_files(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.synth", "--stack", "staging", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads((tmp_path / "plan.json").read_text())
    written = {
        str(p.relative_to(tmp_path / "monitoring")): p.read_text()
        for p in (tmp_path / "monitoring").rglob("*")
        if p.is_file()
    }
    assert {path: hashlib.sha256(text.encode()).hexdigest() for path, text in written.items()} == (
        plan["outputs"]["monitoring"]["files"]
    )
    assert "monitoring files written under" in result.stdout


def test_a_threshold_in_the_stack_file_reaches_the_rules(run_stack: SynthFn) -> None:
    def edit(config: dict[str, object]) -> None:
        config[key("monitoring")] = merged(
            config[key("monitoring")],
            {"triggers": {"performance": {"errorRate": 0.02}}},
        )

    rules = synth.monitoring_files(run_stack("production", edit))["prometheus/rules/alerts.yml"]
    assert "> 0.02" in rules
    assert "> 0.05" not in rules


def test_the_heartbeat_url_is_a_secret_of_alertmanagers_service_alone(run_stack: SynthFn) -> None:
    url = f"https://hc-ping.com/{CANARY}"
    plan = run_stack("production", secrets={"watchdogUrl": url})
    assert CANARY not in json.dumps(plan.to_json())
    holders = [
        c["name"]
        for c in plan.of_type("command:local:Command")
        if "WATCHDOG_URL" in json.loads(c["inputs"]["stdin"])["service"].get("secretVariables", ())
    ]
    assert holders == ["alertmanager"]
    [receiver] = [
        r
        for r in yaml.safe_load(synth.monitoring_files(plan)["alertmanager/alertmanager.yml"])[
            "receivers"
        ]
        if r["name"] == "watchdog"
    ]
    assert receiver["webhook_configs"][0]["url"] == placeholder("watchdog_url")
