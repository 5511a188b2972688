"""The rendered files of both stacks: accepted by the real tools, deterministic, secret-free,
and keeping the label and naming contracts of the design doc."""

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitoring import MonitoringConfig, Target, render, secret_files
from monitoring.config import DASHBOARDS
from monitoring.prometheus import RULE_FILES
from monitoring.rules import alert_rules
from monitoring.slo import all_alerts
from tests.conftest import monitoring_config, validated_stack
from tests.monitoring.conftest import STACK_TARGETS, require_tool
from tests.monitoring.test_alert_rules import CUSTOM

UNCACHED = render.__wrapped__  # render() caches by its inputs (monitoring/cache.py)


def _config(target: Target) -> MonitoringConfig:
    """The monitoring settings of the stack `target` is of."""
    return monitoring_config(stack=target.environment)


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def test_prometheus_config_and_rules_pass_promtool(rendered_tree: Path) -> None:
    promtool = require_tool("promtool")
    result = _run(promtool, "check", "config", str(rendered_tree / "prometheus/prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(RULE_FILES)} rule files found" in result.stdout


def test_alertmanager_config_and_templates_pass_amtool(rendered_tree: Path) -> None:
    amtool = require_tool("amtool")
    result = _run(amtool, "check-config", str(rendered_tree / "alertmanager/alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 templates" in result.stdout


def test_blackbox_config_passes_the_exporter_check(rendered_tree: Path) -> None:
    exporter = require_tool("prometheus-blackbox-exporter")
    result = _run(
        exporter, "--config.check", f"--config.file={rendered_tree / 'blackbox/blackbox.yml'}"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_render_is_deterministic(stack_target: Target) -> None:
    # A fresh but equal config object: output depends on values, not on identity or order.
    config = _config(stack_target)
    twin = MonitoringConfig.model_validate(config.model_dump(by_alias=True))
    assert UNCACHED(config, stack_target) == UNCACHED(twin, stack_target)


def test_a_render_follows_every_change_and_is_the_callers_own(stack_target: Target) -> None:
    """render() caches by its inputs' JSON: an equal input gets the files again, a changed one
    its own files, and a caller that changes what it got changes nothing for the next."""
    config = _config(stack_target)
    first = render(config, stack_target)
    first.clear()
    assert render(config, stack_target) == UNCACHED(config, stack_target)
    moved = stack_target.model_copy(update={"environment": "elsewhere"})
    assert render(config, moved) == UNCACHED(config, moved) != render(config, stack_target)


def test_stacks_scrape_and_probe_their_own_hosts() -> None:
    for name, target in STACK_TARGETS.items():
        stack = validated_stack(name)
        config = yaml.safe_load(render(_config(target), target)["prometheus/prometheus.yml"])
        jobs = {job["job_name"]: job for job in config["scrape_configs"]}
        # /metrics over Railway's private network; Vercel's at the public URL; health probes at
        # the public URLs users hit.
        assert set(jobs) >= {n for n, s in stack.services.items() if s.metrics_path}
        for service, settings in stack.services.items():
            if settings.metrics_path is None:
                continue
            job = jobs[service]
            assert job["metrics_path"] == settings.metrics_path
            if settings.platform == "railway":
                assert job["scheme"] == "http"
                address = f"{service}.railway.internal:{settings.port}"
            else:
                assert job["scheme"] == "https"
                address = f"{str(settings.url).removeprefix('https://')}:443"
            assert job["static_configs"][0]["targets"] == [address]
        assert jobs["rollback"]["static_configs"][0]["targets"] == [
            "rollback.railway.internal:8080"
        ]
        assert jobs["rollback-health"]["static_configs"][0]["targets"] == [
            "http://rollback.railway.internal:8080/health"
        ]
        probed = [t for sc in jobs["health-probe"]["static_configs"] for t in sc["targets"]]
        assert probed == [
            f"{s.url}{s.health_path}" for s in stack.services.values() if s.url and s.health_path
        ]
        assert config["global"]["external_labels"] == {"environment": name}


def test_no_secret_value_only_secret_file_paths(stack_target: Target) -> None:
    config = _config(stack_target)
    text = "\n".join(render(config, stack_target).values())
    for name, path in secret_files(config).items():
        # Staging does not page: its config has no PagerDuty receiver to read a key for.
        assert (path in text) is (
            name != "pagerduty_routing_key" or stack_target.pages(config.receivers)
        )
    alertmanager = render(config, stack_target)["alertmanager/alertmanager.yml"]
    # The inline forms of every secret field must not appear at all.
    for inline in ("api_url:", "routing_key:", "service_key:", "auth_password:", "credentials:"):
        assert re.search(rf"^\s*-?\s*{inline}", alertmanager, re.MULTILINE) is None, inline


def _alerts(target: Target, config: MonitoringConfig | None = None) -> list[dict[str, Any]]:
    files = render(config or _config(target), target)
    return [
        rule
        for path in ("prometheus/rules/alerts.yml", "prometheus/rules/slo.yml")
        for group in yaml.safe_load(files[path])["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def test_every_alert_carries_the_label_and_annotation_contract(stack_target: Target) -> None:
    strategies = {"immediate", "fast", "gradual"}
    for alert in _alerts(stack_target, CUSTOM):
        labels = alert["labels"]
        assert isinstance(labels, dict)
        watched = {"rollback", "prometheus", "alertmanager", "blackbox-exporter"}
        assert labels["service"] in {*stack_target.services, *watched}
        assert labels["environment"] == stack_target.environment
        assert labels["severity"] in {"critical", "warning", "info"}
        assert labels.get("rollback_strategy", "immediate") in strategies
        assert set(alert["annotations"]) == {"summary", "description", "runbook_url"}


def test_rollback_strategy_follows_the_trigger_family() -> None:
    target = STACK_TARGETS["production"]
    business = _config(target).business
    seen: dict[tuple[str, str], str] = {}
    for alert in _alerts(target):
        labels = alert["labels"]
        assert isinstance(labels, dict)
        seen[(alert["alert"], labels["service"])] = labels.get("rollback_strategy", "-")
    for service, settings in target.services.items():
        # A critical endpoint rolls everything back at once; any other, itself, fast.
        health = "immediate" if settings.critical else "fast"
        if settings.health_path is None:  # nothing to probe: no health alert
            assert ("HealthCheckFailed", service) not in seen
        else:
            assert seen[("HealthCheckFailed", service)] == health
        if settings.role == "web":
            assert seen[("HighLatencyP95", service)] == seen[("HighErrorRate", service)] == "fast"
        else:  # requests and latency are judged where a service serves them
            assert ("HighLatencyP95", service) not in seen
        # Resource alerts where Prometheus scrapes it (a cron job has nothing to scrape).
        assert seen.get(("HighCpuUsage", service)) == ("-" if settings.metrics_path else None)
    drops = {service: s for (alert, service), s in seen.items() if alert == "ConversionRateDrop"}
    assert drops == ({business.service: "gradual"} if business else {})


def test_recording_rules_are_named_level_metric_operations() -> None:
    files = render(_config(STACK_TARGETS["staging"]), STACK_TARGETS["staging"])
    recording = yaml.safe_load(files["prometheus/rules/recording.yml"])
    names = [rule["record"] for group in recording["groups"] for rule in group["rules"]]
    assert names
    for name in names:
        assert re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z0-9_]+", name), name


def _dashboards(target: Target) -> dict[str, dict[str, object]]:
    """Every dashboard the stack draws: the business one where it exports business metrics."""
    config = _config(target)
    files = render(config, target)
    names = [name for name in DASHBOARDS if name != "business" or config.business]
    return {name: json.loads(files[f"grafana/dashboards/{name}.json"]) for name in names}


def test_dashboards_use_the_provisioned_datasource_and_stable_ids() -> None:
    target = STACK_TARGETS["staging"]
    files = render(_config(target), target)
    provisioned = yaml.safe_load(files["grafana/provisioning/datasources/prometheus.yml"])
    uid = provisioned["datasources"][0]["uid"]
    seen_ids: set[int] = set()
    for name, board in _dashboards(target).items():
        # Named after the product and the environment: two stacks never share a dashboard.
        assert board["uid"] == f"{target.product.name}-{name}-{target.environment}"
        assert board["title"] == f"{target.product.title} {name} ({target.environment})"
        panels = board["panels"]
        assert isinstance(panels, list)
        for panel in panels:
            assert panel["datasource"]["uid"] == uid
            assert all(t["datasource"]["uid"] == uid for t in panel["targets"])
            assert panel["id"] not in seen_ids
            seen_ids.add(panel["id"])
    # Ids are part of the contract (links and annotations point at them): pin a few.
    application = _dashboards(STACK_TARGETS["production"])["application"]["panels"]
    assert isinstance(application, list)
    assert [(p["id"], p["title"]) for p in application][:3] == [
        (1, "Response time p50 / p95 / p99"),
        (2, "Error rate (5xx)"),
        (3, "Throughput"),
    ]


def _threshold_lines(board: dict[str, object]) -> set[float]:
    return {
        step["value"]
        for panel in board["panels"]  # type: ignore[attr-defined]
        for step in panel["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])
        if step["value"] is not None
    }


@pytest.mark.parametrize("config_name", ["spec", "custom"])
def test_every_alert_threshold_is_a_line_on_a_dashboard(
    stack_target: Target, config_name: str
) -> None:
    config = _config(stack_target) if config_name == "spec" else CUSTOM
    files = render(config, stack_target)
    lines = {
        path.rsplit("/", 1)[1].removesuffix(".json"): _threshold_lines(json.loads(text))
        for path, text in files.items()
        if path.startswith("grafana/dashboards/")
    }
    drawn = set().union(*lines.values())
    rules = [
        *alert_rules(config, stack_target),
        *(a.rule for a in all_alerts(config, stack_target)),
    ]
    limits = {(r.name, r.threshold) for r in rules if r.threshold}
    assert {"HighLatencyP95", "HighErrorRate", "ThroughputDrop", "HighDiskUsage"} <= {
        name for name, _ in limits
    }
    if config.slos:  # every burn-rate tier's factor, and each objective, on the SLO dashboard
        assert {("ErrorBudgetBurn", t.factor) for t in config.slo_alerting.tiers} <= limits
        assert {float(1 - o.budget) for s in config.slos.values() for o in s} <= lines["slo"]
    for alert, limit in limits:
        assert limit in drawn, f"{alert}: no dashboard draws its threshold {limit}"
    assert lines["rollback"] == set()  # state, not thresholds: decisions, actions, freezes


def test_timeseries_panels_have_a_legend_table_and_a_shared_tooltip(stack_target: Target) -> None:
    for board in _dashboards(stack_target).values():
        for panel in board["panels"]:  # type: ignore[attr-defined]
            if panel["type"] == "timeseries":
                assert panel["options"]["legend"]["displayMode"] == "table"
                assert panel["options"]["tooltip"]["mode"] == "multi"
                assert panel["fieldConfig"]["defaults"]["unit"]


def test_rollback_services_name_each_service_it_may_roll_back_and_its_platform() -> None:
    target = STACK_TARGETS["production"]
    rendered = yaml.safe_load(render(_config(target), target)["rollback-services.yml"])
    assert rendered == {
        "services": {
            name: {"platform": service.platform}
            for name, service in target.services.items()
            if service.rollback
        }
    }


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    exprs = sorted(
        {
            target["expr"]
            for board in _dashboards(STACK_TARGETS["production"]).values()
            for panel in board["panels"]  # type: ignore[attr-defined]
            for target in panel["targets"]
        }
    )
    rules = [{"record": f"dashboard:query:q{i}", "expr": expr} for i, expr in enumerate(exprs)]
    rule_file = tmp_path / "dashboard-queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = _run(promtool, "check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(exprs)} rules found" in result.stdout


def test_rollback_config_has_the_spec_shape() -> None:
    target = STACK_TARGETS["production"]
    files = render(_config(target), target)
    rollback = yaml.safe_load(files["rollback-config.yml"])
    health = rollback["triggers"]["health_check"]
    assert health["thresholds"] == {
        "consecutive_failures": 3,
        "failure_window": "2m",
        "recovery_threshold": 2,
        "recovery_window": "5m",
    }
    assert health["endpoints"] == [
        {
            "name": name,
            "url": url,
            "critical": target.services[name].critical,
            "strategy": "immediate" if target.services[name].critical else "fast",
        }
        for name, url in target.probed().items()
    ]
    performance = rollback["triggers"]["performance"]
    assert performance["thresholds"] == {
        "response_time_p95": "2s",
        "response_time_p99": "5s",
        "error_rate": 0.05,
        "throughput_drop": 0.3,
    }
    assert (performance["evaluation_window"], performance["consecutive_violations"]) == ("5m", 2)
    strategies = rollback["strategies"]
    assert {k: v["timeout"] for k, v in strategies.items()} == {
        "immediate": "30s",
        "fast": "2m",
        "gradual": "10m",
    }
    assert strategies["immediate"]["notifications"] == ["pagerduty", "slack", "email"]
