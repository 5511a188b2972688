"""prometheus.yml and the blackbox exporter's module file."""

from typing import Any
from urllib.parse import urlsplit

from monitoring import metrics as m
from monitoring.config import MonitoringConfig, Target
from monitoring.durations import format_duration
from monitoring.webauth import AuthServer, password_file, user_of

# Relative to prometheus.yml, which is how Prometheus resolves them.
RULE_FILES = ("rules/recording.yml", "rules/alerts.yml", "rules/slo.yml")


def _scheme_and_address(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, f"{parts.hostname}:{port}"


def _scrape_job(target: Target, service: str) -> dict[str, Any]:
    monitored = target.services[service]
    private = monitored.metrics_address
    assert private or monitored.url, "a scraped service has an address"
    scheme, address = ("http", private) if private else _scheme_and_address(str(monitored.url))
    return {
        "job_name": m.job_of(service),
        "scheme": scheme,
        "metrics_path": monitored.metrics_path,
        "static_configs": [{"targets": [address], "labels": {"service": service}}],
    }


def _probe_job(config: MonitoringConfig, target: Target) -> dict[str, Any]:
    interval = format_duration(config.probe_interval)
    return {
        "job_name": m.PROBE_JOB,
        "scrape_interval": interval,
        "scrape_timeout": interval,
        "metrics_path": "/probe",
        "params": {"module": [m.PROBE_MODULE]},
        "static_configs": [
            {"targets": [url], "labels": {"service": service}}
            for service, url in target.probed().items()
        ],
        "relabel_configs": _probe_relabel(config),
    }


def _rollback_jobs(config: MonitoringConfig, origin: str) -> list[dict[str, Any]]:
    """The rollback service's /metrics, and its /health through the blackbox exporter."""
    scheme, address = _scheme_and_address(origin)
    interval = format_duration(config.probe_interval)
    return [
        {
            "job_name": m.ROLLBACK,
            "scheme": scheme,
            "metrics_path": "/metrics",
            "static_configs": [{"targets": [address], "labels": {"service": m.ROLLBACK}}],
        },
        {
            "job_name": m.ROLLBACK_PROBE_JOB,
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "metrics_path": "/probe",
            "params": {"module": [m.PROBE_MODULE]},
            "static_configs": [
                {"targets": [f"{origin}/health"], "labels": {"service": m.ROLLBACK}}
            ],
            "relabel_configs": _probe_relabel(config),
        },
    ]


def _login(server: AuthServer) -> dict[str, str]:
    return {"username": user_of(server), "password_file": password_file(server)}


def _monitoring_jobs(config: MonitoringConfig) -> list[dict[str, Any]]:
    """Who watches the watchers: Prometheus itself, Alertmanager, the blackbox exporter."""
    _, prometheus = _scheme_and_address(config.addresses.prometheus_url)
    jobs: list[tuple[str, str, AuthServer | None]] = [
        (m.PROMETHEUS_JOB, prometheus, "prometheus"),
        (m.ALERTMANAGER_JOB, config.addresses.alertmanager, "alertmanager"),
        (m.BLACKBOX_JOB, config.addresses.blackbox_exporter, None),
    ]
    return [
        {
            "job_name": job,
            **({"basic_auth": _login(login)} if login else {}),
            "static_configs": [{"targets": [address], "labels": {"service": job}}],
        }
        for job, address, login in jobs
    ]


def _probe_relabel(config: MonitoringConfig) -> list[dict[str, Any]]:
    return [
        {"source_labels": ["__address__"], "target_label": "__param_target"},
        {"source_labels": ["__param_target"], "target_label": "instance"},
        {"target_label": "__address__", "replacement": config.addresses.blackbox_exporter},
    ]


def prometheus_config(config: MonitoringConfig, target: Target) -> dict[str, Any]:
    scrape_configs = [_scrape_job(target, s) for s in target.scraped()]
    if config.triggers.health_check.enabled and target.probed():
        scrape_configs.append(_probe_job(config, target))
    origin = target.rollback_origin()
    if origin:
        scrape_configs += _rollback_jobs(config, origin)
    alertmanager: dict[str, Any] = {
        "static_configs": [{"targets": [config.addresses.alertmanager]}]
    }
    if config.servers.hosting == "railway":  # the stack's own servers require a login
        scrape_configs += _monitoring_jobs(config)
        alertmanager["basic_auth"] = _login("alertmanager")
    return {
        "global": {
            "scrape_interval": format_duration(config.scrape_interval),
            "scrape_timeout": format_duration(config.scrape_timeout),
            "evaluation_interval": format_duration(config.evaluation_interval),
            "external_labels": {"environment": target.environment},
        },
        "rule_files": list(RULE_FILES),
        "alerting": {"alertmanagers": [alertmanager]},
        "scrape_configs": scrape_configs,
    }


def blackbox_config(config: MonitoringConfig) -> dict[str, Any]:
    return {
        "modules": {
            m.PROBE_MODULE: {
                "prober": "http",
                "timeout": format_duration(config.triggers.health_check.probe_timeout),
                "http": {
                    "valid_status_codes": [],  # empty means any 2xx
                    "method": "GET",
                    "follow_redirects": True,
                    "preferred_ip_protocol": "ip4",
                },
            }
        }
    }
