"""The stack runs its monitoring servers on Railway: what `pulumi up` declares for each of them,
and that it is what the end-to-end tests start on loopback."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

import components.monitoring
from components.config import ConfigError, raw_project_config, validate
from components.railway import converge
from components.railway.client import RailwayClient
from components.railway.spec import Spec, VolumeRef
from monitoring.images import IMAGES
from monitoring.servers import ENTRYPOINT, SERVERS, START, Layout, Server, servers
from monitoring.webauth import stack_of, web_config
from tests.conftest import (
    NAMESPACE,
    SynthFn,
    config_error,
    key,
    merged,
    stack_config,
    validated_stack,
)
from tests.monitoring.loopback import loopback_layout
from tests.railway.conftest import client, schema, sleeps, standin  # noqa: F401  (fixtures)
from tests.railway.standin import PROJECT_ID, RailwayStandIn
from tools import mockrun, synth

COMMAND = "command:local:Command"
CANARY = "canary-monitoring-server-9f3a"
MONITORING_SECRETS = (
    "slackApiUrl",
    "pagerdutyRoutingKey",
    "smtpPassword",
    "rollbackWebhookToken",
    "grafanaAdminPassword",
    "prometheusPassword",
    "alertmanagerPassword",
)
VOLUMES = {
    "prometheus": [{"mountPath": "/prometheus"}],
    "blackbox-exporter": None,
    "alertmanager": [{"mountPath": "/alertmanager"}],
    "grafana": [{"mountPath": "/var/lib/grafana"}],
}


def commands(plan: mockrun.Plan) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in plan.of_type(COMMAND)}


def spec_of(command: dict[str, Any]) -> dict[str, Any]:
    service: dict[str, Any] = json.loads(command["inputs"]["stdin"])["service"]
    return service


def test_each_stack_runs_four_private_servers_and_a_public_grafana(
    run_stack: SynthFn, stack: str
) -> None:
    plan = run_stack(stack)
    found = commands(plan)
    grafana = plan.outputs["urls"]["grafana"]
    for name in SERVERS:
        command = found[name]
        service = spec_of(command)
        assert service["source"] == {"image": IMAGES[name]}
        assert service["domains"] == (
            [grafana.removeprefix("https://")] if name == "grafana" else []
        )
        assert service["serviceDomain"] is False
        assert service.get("volumes") == VOLUMES[name]
        assert service["variables"]["RAILWAY_RUN_UID"] == "0"
        assert service["settings"]["startCommand"].startswith(START)
        # Railway's health check cannot log in: none where the server requires a login.
        login = "--web.config.file=" in service["settings"]["startCommand"]
        assert login is (name in ("prometheus", "alertmanager"))
        assert ("healthcheckPath" in service["settings"]) is not login
        production = validated_stack(stack).is_production
        assert command["protect"] is command["retainOnDelete"] is production
        output = plan.outputs["monitoring"]["services"][name]
        assert output["serviceId"] == f"{name}-service-id"
        port = service["variables"]["PORT"]
        private = f"http://{name}.railway.internal:{port}"
        assert output["url"] == (grafana if name == "grafana" else private)
    grafana_env = spec_of(found["grafana"])["variables"]
    assert grafana_env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert grafana_env["GF_SERVER_ROOT_URL"] == grafana
    # production deploys only with its dead man's switch URL (the synth's placeholder here)
    # PagerDuty's key only where critical alerts page: a stack that pages nobody never holds it.
    assert spec_of(found["alertmanager"])["secretVariables"] == [
        "ALERTMANAGER_WEB_CONFIG",
        *(["PAGERDUTY_ROUTING_KEY"] if validated_stack(stack).pages else []),
        "ROLLBACK_WEBHOOK_TOKEN",
        "SLACK_API_URL",
        "SMTP_PASSWORD",
        *(["WATCHDOG_URL"] if validated_stack(stack).is_production else []),
    ]


def test_the_files_that_run_are_the_rendered_files(run_stack: SynthFn) -> None:
    plan = run_stack("production")
    rendered = synth.monitoring_files(plan)
    found = commands(plan)
    served: dict[str, str] = {}
    for name in SERVERS:
        variables = spec_of(found[name])["variables"]
        assert variables["PIPELINE_ENTRYPOINT"] == ENTRYPOINT
        for line in variables["PIPELINE_FILES"].splitlines():
            kind, variable, path, *_ = line.split()
            if kind in ("file", "fill"):  # fill: the secret goes over its placeholder at start
                served[path] = variables[variable] + "\n"  # the entrypoint adds the newline
    assert served["/etc/prometheus/rules/alerts.yml"] == rendered["prometheus/rules/alerts.yml"]
    assert served["/etc/alertmanager/alertmanager.yml"] == rendered["alertmanager/alertmanager.yml"]
    # Every rendered file runs somewhere: in a monitoring server, or the rollback service's config.
    rollback = spec_of(found["rollback"])["variables"]
    running = set(served.values()) | {rollback["ROLLBACK_CONFIG"], rollback["ROLLBACK_SERVICES"]}
    assert set(rendered.values()) <= running


def _relocated(tested: Server, layout: Layout, deployed: Layout) -> list[str]:
    """The tested argv with the loopback layout's values put back to the deployed ones."""
    name = tested.name
    argv = [deployed.binaries[name], *tested.argv[1:]]
    argv = [a.replace(layout.listen(name), deployed.listen(name)) for a in argv]
    return [a.replace(f"={layout.root}/", "=/") for a in argv]


def test_the_deployed_start_commands_are_the_ones_the_end_to_end_test_runs(
    run_stack: SynthFn, tmp_path: Path
) -> None:
    plan = run_stack("staging")
    found = commands(plan)
    config = validated_stack("staging")
    settings = components.monitoring.settings(config)
    files = components.monitoring.render(config)
    tools = {"prometheus": "/t/prom", "prometheus-alertmanager": "/t/am"}
    tools["prometheus-blackbox-exporter"] = "/t/bb"
    layout = loopback_layout(settings, tools, tmp_path)
    tested = servers(settings, files, grafana_url=config.urls.grafana, layout=layout)
    for name in SERVERS:
        deployed = shlex.split(spec_of(found[name])["settings"]["startCommand"])
        entry, argv = deployed[:4], deployed[4:]
        assert entry == shlex.split(START)
        assert argv == _relocated(tested[name], layout, Layout())
        variables = spec_of(found[name])["variables"]
        for line in variables["PIPELINE_FILES"].splitlines():
            assert line.split()[1] in variables or line.startswith("secret ")


def test_a_threshold_change_changes_only_the_servers_that_read_it(run_stack: SynthFn) -> None:
    def stricter(config: dict[str, Any]) -> None:
        monitoring = config.setdefault(key("monitoring"), {})
        monitoring["triggers"] = {"performance": {"errorRate": 0.02}}

    before, after = commands(run_stack("production")), commands(run_stack("production", stricter))
    changed = {name for name in before if before[name]["inputs"] != after[name]["inputs"]}
    # alerts.yml (Prometheus), rollback-config.yml (the rollback service) and the application
    # dashboard's threshold line (Grafana) hold it; Alertmanager, the exporter, the apps do not.
    assert changed == {"prometheus", "rollback", "grafana"}


def test_monitoring_secrets_reach_railway_and_nothing_else(
    run_stack: SynthFn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = {key: f"{CANARY}-{key}" for key in MONITORING_SECRETS}
    plan = run_stack("production", secrets=secrets)
    synth.write(plan, tmp_path)
    print(synth.summary(plan, tmp_path))
    shown = capsys.readouterr()
    written = "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    for everywhere in (written, shown.out, shown.err, json.dumps(plan.to_json())):
        assert CANARY not in everywhere
    found = commands(plan)
    alertmanager = plan.plaintext[found["alertmanager"]["urn"]]["environment"]
    assert alertmanager["PIPELINE_SECRET_SMTP_PASSWORD"] == secrets["smtpPassword"]
    config = validated_stack("production")
    stack = stack_of(config.product.name, config.environment.name)
    grafana = plan.plaintext[found["grafana"]["urn"]]["environment"]
    assert grafana == {
        "PIPELINE_SECRET_GRAFANA_ADMIN_PASSWORD": secrets["grafanaAdminPassword"],
        "PIPELINE_SECRET_PROMETHEUS_PASSWORD": secrets["prometheusPassword"],
    }
    prometheus = plan.plaintext[found["prometheus"]["urn"]]["environment"]
    assert prometheus == {
        "PIPELINE_SECRET_ALERTMANAGER_PASSWORD": secrets["alertmanagerPassword"],
        "PIPELINE_SECRET_PROMETHEUS_PASSWORD": secrets["prometheusPassword"],
        "PIPELINE_SECRET_PROMETHEUS_WEB_CONFIG": web_config(
            "prometheus", secrets["prometheusPassword"], stack
        ),
    }
    web = alertmanager["PIPELINE_SECRET_ALERTMANAGER_WEB_CONFIG"]
    assert web == web_config("alertmanager", secrets["alertmanagerPassword"], stack)


def test_bad_monitoring_config_fails_before_any_resource_with_each_key_and_fix() -> None:
    def malformed(config: dict[str, Any]) -> None:
        config[key("monitoring")] = merged(
            config[key("monitoring")],
            {"servers": {"retention": "-1d", "images": {"prometheus": "prom/prometheus:latest"}}},
        )
        https = config[key("urls")]["grafana"]
        config[key("urls")]["grafana"] = https.replace("https://", "http://", 1)

    message = config_error("production", malformed)
    for path in (
        "monitoring.servers.retention",
        "monitoring.servers.images.prometheus",
        "urls.grafana",
    ):
        assert f"{NAMESPACE}:{path}:" in message
        assert f"fix: pulumi config set --path '{path}' VALUE --stack production" in message
    assert "pinned by version and digest" in message


def test_addresses_are_derived_while_railway_runs_the_servers(run_stack: SynthFn) -> None:
    def typed(config: dict[str, Any]) -> None:
        config[key("monitoring")] = merged(
            config[key("monitoring")], {"addresses": {"alertmanager": "am:9093"}}
        )

    with pytest.raises(ConfigError, match=r"monitoring\.addresses is derived"):
        run_stack("staging", typed)

    def hosted(config: dict[str, Any]) -> None:
        config[key("monitoring")] = merged(
            config[key("monitoring")],
            {
                "servers": {"hosting": "external"},
                "addresses": {"prometheusUrl": "https://prometheus.example.com"},
            },
        )

    plan = run_stack("staging", hosted)
    assert not set(SERVERS) & set(commands(plan))
    datasource = synth.monitoring_files(plan)["grafana/provisioning/datasources/prometheus.yml"]
    assert "url: https://prometheus.example.com" in datasource


@pytest.mark.e2e
def test_each_server_converges_once_and_a_second_apply_changes_nothing(
    run_stack: SynthFn,
    standin: RailwayStandIn,  # noqa: F811
    client: RailwayClient,  # noqa: F811
) -> None:
    plan = run_stack("production")
    standin.pulls_by_digest = True  # their images by digest: assumed (docs/railway.md)
    standin.add_environment("production")
    for name in SERVERS:
        command = commands(plan)[name]
        spec = Spec.model_validate_json(command["inputs"]["stdin"])
        environment = plan.plaintext[command["urn"]].get("environment") or {}
        service = spec.service.with_secrets(environment)
        spec = spec.model_copy(update={"project_id": PROJECT_ID, "service": service})
        state = converge.apply(client, spec, None, lambda _line: None)
        assert state.volumes == tuple(
            VolumeRef(id=v.id, mount_path=m["mountPath"])
            for v, m in zip(state.volumes, VOLUMES[name] or [], strict=True)
        )
        standin.mutations.clear()
        standin.queries.clear()
        again = converge.apply(client, spec, state, lambda _line: None)
        assert standin.mutations == [], name
        assert len(standin.queries) <= 3
        assert again == state


def test_grafana_provisions_the_dashboards_from_where_they_are_written(run_stack: SynthFn) -> None:
    plan = run_stack("staging")
    files = synth.monitoring_files(plan)
    product = validated_stack("staging").product
    provisioning = files[f"grafana/provisioning/dashboards/{product.name}.yml"]
    [dashboards] = yaml.safe_load(provisioning)["providers"]
    assert (dashboards["folder"], dashboards["folderUid"]) == (product.title, product.name)
    grafana = spec_of(commands(plan)["grafana"])["variables"]
    written = [line.split()[2] for line in grafana["PIPELINE_FILES"].splitlines()]
    board_files = [p for p in written if p.endswith(".json")]
    assert board_files and all(
        Path(p).parent == Path(dashboards["options"]["path"]) for p in board_files
    )
    datasource = yaml.safe_load(files["grafana/provisioning/datasources/prometheus.yml"])
    assert datasource["datasources"][0]["url"] == "http://prometheus.railway.internal:9090"
    uids = [json.loads(files[p])["uid"] for p in sorted(files) if p.endswith(".json")]
    # Business metrics and objectives have boards where the stack sets them.
    monitoring = validated_stack("staging").monitoring
    boards = ["application", "infrastructure", "rollback"]
    boards += ["business"] * (monitoring.business is not None) + ["slo"] * bool(monitoring.slos)
    environment = validated_stack("staging").environment.name
    assert uids == [f"{product.name}-{n}-{environment}" for n in sorted(boards)]


@pytest.mark.parametrize("secret", ["rollbackWebhookToken", "alertmanagerPassword"])
def test_a_secret_with_a_trailing_newline_is_refused_before_any_resource(secret: str) -> None:
    """Alertmanager and Prometheus trim the secret files they read, the other side holds the
    value exactly: a token or password ending in a newline would never match. Refused."""
    value = f"{CANARY}-{secret}-long-enough\n"
    flat, keys = synth.pulumi_config(stack_config("production"), {secret: value})
    with pytest.raises(ConfigError) as raised:
        validate(raw_project_config(flat), "production", frozenset(keys) | {"secrets"})
    message = str(raised.value)
    assert f"secrets.{secret}: Value error, starts or ends with whitespace" in message
    assert CANARY not in message
