"""The services map drives every consumer: a stack with more services of other roles gets each
one's Railway service, probes, scrape jobs, alerts, rollback targets, CI and deploy steps, and
outputs, from the map alone; the environment's kind, not its name, decides protection."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from components.app_repository import files as app_files
from tests.conftest import NAMESPACE, PROJECT_DIR, SynthFn, stack_config, validated_stack
from tools import synth
from workflows import yamltext
from workflows.config import PYTHON_SUFFIXES

COMMAND = "command:local:Command"
# Two services the committed stack does not have, of the roles it does not use: a worker that
# answers nowhere publicly, and a cron job. Each in the first Railway service's source folder.
RAILWAY = next(iter(validated_stack("staging").of("railway").values()))
EXTRA: dict[str, dict[str, Any]] = {
    "queue": {
        "platform": "railway",
        "role": "worker",
        "root": RAILWAY.root,
        "metricsPath": "/metrics",
        "language": RAILWAY.language,
        **({"python": RAILWAY.python.model_dump(by_alias=True)} if RAILWAY.python else {}),
        "port": 9000,
    },
    "nightly": {
        "platform": "railway",
        "role": "cron",
        "root": "jobs",
        "schedule": "0 3 * * *",
        "language": "python",
        "python": {"package": "jobs"},
        "secretEnv": ["JOBS_TOKEN"],
    },
}


def more_services(config: dict[str, Any]) -> None:
    config[f"{NAMESPACE}:services"].update(EXTRA)


@pytest.fixture(scope="module")
def plan() -> Any:
    config = stack_config("staging")
    more_services(config)
    return synth.run_program("staging", config, project_dir=PROJECT_DIR)


def spec(plan: Any, name: str) -> dict[str, Any]:
    command = next(c for c in plan.of_type(COMMAND) if c["name"] == name)
    found: dict[str, Any] = json.loads(command["inputs"]["stdin"])["service"]
    return found


def test_a_cron_service_runs_on_railways_schedule_and_is_never_restarted(plan: Any) -> None:
    nightly = spec(plan, "nightly")
    settings = {k: v for k, v in nightly["settings"].items() if v}
    assert settings == {"cronSchedule": "0 3 * * *", "restartPolicyType": "NEVER"}
    assert nightly["variables"] == {"ENVIRONMENT": "staging"}  # no PORT: it serves nothing
    assert nightly["secretVariables"] == ["JOBS_TOKEN"]
    assert nightly["domains"] == []


def test_a_worker_without_url_is_scraped_privately_and_has_no_domain(plan: Any) -> None:
    queue = spec(plan, "queue")
    assert queue["domains"] == [] and "healthcheckPath" not in queue["settings"]
    assert queue["variables"]["PORT"] == "9000"
    files = synth.monitoring_files(plan)
    jobs = {j["job_name"]: j for j in yaml.safe_load(files["prometheus/prometheus.yml"])[
        "scrape_configs"]}  # fmt: skip
    assert jobs["queue"]["static_configs"][0]["targets"] == ["queue.railway.internal:9000"]
    assert "nightly" not in jobs
    probed = {sc["labels"]["service"] for sc in jobs["health-probe"]["static_configs"]}
    assert not probed & {"queue", "nightly"}


def test_alerts_follow_each_services_role(plan: Any) -> None:
    rules = yaml.safe_load(synth.monitoring_files(plan)["prometheus/rules/alerts.yml"])
    alerts = {(r["alert"], r["labels"]["service"]) for g in rules["groups"] for r in g["rules"]}
    assert ("MetricsScrapeFailing", "queue") in alerts and ("HighCpuUsage", "queue") in alerts
    assert ("HealthCheckFailed", "queue") not in alerts  # nothing to probe
    assert ("HighErrorRate", "queue") not in alerts  # a worker's requests are not judged
    assert not any(service == "nightly" for _, service in alerts)


def test_rollback_targets_and_the_rollback_workflow_follow_the_map(plan: Any) -> None:
    targets = yaml.safe_load(synth.monitoring_files(plan)["rollback-services.yml"])["services"]
    assert targets["queue"] == {"platform": "railway"}
    assert "nightly" not in targets  # a cron job rolls back by default never
    config = validated_stack("staging").model_copy(
        update={"services": {**validated_stack("staging").services, **_models()}}
    )
    workflow = yamltext.load(app_files(config)[".github/workflows/rollback-staging.yml"])
    options = workflow["on"]["workflow_dispatch"]["inputs"]["service"]["options"]
    assert options == ["all", *targets]


def _models() -> dict[str, Any]:
    from components.config import Service

    return {name: Service.model_validate(body) for name, body in EXTRA.items()}


def test_ci_checks_each_source_folder_once_and_the_deploy_ships_each_railway_service(
    plan: Any,
) -> None:
    config = validated_stack("staging").model_copy(
        update={"services": {**validated_stack("staging").services, **_models()}}
    )
    rendered = app_files(config)
    committed = {r["inputs"]["file"]: r["inputs"]["content"] for r in plan.of_type(
        "github:index/repositoryFile:RepositoryFile")}  # fmt: skip
    if config.github.workflows == "managed":  # pulumi up commits what the stack renders
        assert {path: rendered[path] for path in committed} == committed
    ci = yaml.safe_load(rendered[".github/workflows/ci.yml"])
    # One checking job per folder (a Python folder's integration and coverage jobs follow it).
    folders = [job["defaults"]["run"]["working-directory"] for name, job in ci["jobs"].items()
               if "defaults" in job and not name.endswith(PYTHON_SUFFIXES)]  # fmt: skip
    assert sorted(folders) == sorted({s.root for s in validated_stack("staging").services.values()}
                                     | {"jobs"})  # fmt: skip
    assert "--cov=jobs" in json.dumps(ci["jobs"]["nightly"])
    deploy = yaml.safe_load(rendered[f".github/workflows/deploy-{config.environment.name}.yml"])
    names = [s.get("name", "") for s in deploy["jobs"]["deploy"]["steps"]]
    assert {"Deploy the queue (Railway)", "Deploy the nightly (Railway)"} <= set(names)


def test_outputs_name_every_service_with_its_platforms_ids(plan: Any) -> None:
    services = plan.outputs["services"]
    assert services["nightly"] == {
        "platform": "railway",
        "role": "cron",
        "url": None,
        "serviceId": "nightly-service-id",
    }


def test_the_environments_kind_decides_protection_not_its_name(run_stack: SynthFn) -> None:
    def production_kind(config: dict[str, Any]) -> None:
        config[f"{NAMESPACE}:environment"]["kind"] = "production"

    plan = run_stack("staging", production_kind)
    backend = next(c for c in plan.of_type(COMMAND) if c["name"] in RAILWAY_NAMES)
    assert backend["protect"] is True and backend["retainOnDelete"] is True
    pipeline = plan.one("pipeline:index:Pipeline")
    assert pipeline["inputs"] == {"environment": "staging", "kind": "production"}


RAILWAY_NAMES = set(validated_stack("staging").of("railway"))
