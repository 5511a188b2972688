"""Every file a stack's monitoring gets, rendered (`monitoring.render`)."""

from monitoring import (
    ALERTMANAGER_CONFIG,
    BLACKBOX_CONFIG,
    PROMETHEUS_CONFIG,
    ROLLBACK_CONFIG,
    ROLLBACK_SERVICES,
)
from monitoring.alertmanager import alertmanager_config, templates
from monitoring.cache import by_json
from monitoring.config import MonitoringConfig, Target
from monitoring.grafana import (
    dashboard_json,
    dashboard_provisioning,
    dashboards,
    datasource_provisioning,
)
from monitoring.prometheus import blackbox_config, prometheus_config
from monitoring.rollback import rollback_config, rollback_services
from monitoring.rules import alerts_file, recording_file
from monitoring.slo import RULES_FILE as SLO_RULES
from monitoring.slo import rules_file as slo_rules_file
from monitoring.slo_dashboard import PATH as SLO_DASHBOARD
from monitoring.slo_dashboard import dashboard_json as slo_dashboard_json
from monitoring.yamlfile import dump


@by_json
def render(config: MonitoringConfig, target: Target) -> dict[str, str]:
    """Relative file path -> content. Paths inside a tool's folder keep their relative links."""
    problems = config.slo_problems(target.services, target.scraped())
    if problems:
        raise ValueError("; ".join(f"monitoring.{path}: {message}" for path, message in problems))
    product = target.product.name
    files = {
        PROMETHEUS_CONFIG: dump(prometheus_config(config, target)),
        "prometheus/rules/recording.yml": dump(recording_file(config, target)),
        "prometheus/rules/alerts.yml": dump(alerts_file(config, target)),
        SLO_RULES: dump(slo_rules_file(config, target)),
        BLACKBOX_CONFIG: dump(blackbox_config(config)),
        ALERTMANAGER_CONFIG: dump(alertmanager_config(config, target)),
        f"alertmanager/templates/{product}.tmpl": templates(product),
        "grafana/provisioning/datasources/prometheus.yml": dump(
            datasource_provisioning(config, target)
        ),
        f"grafana/provisioning/dashboards/{product}.yml": dump(
            dashboard_provisioning(config, target)
        ),
        ROLLBACK_CONFIG: dump(rollback_config(config, target)),
        ROLLBACK_SERVICES: dump(rollback_services(target).model_dump(mode="json")),
    }
    for name in dashboards(config):
        files[f"grafana/dashboards/{name}.json"] = dashboard_json(config, target, name)
    if config.slos:
        files[SLO_DASHBOARD] = slo_dashboard_json(config, target)
    return dict(sorted(files.items()))
