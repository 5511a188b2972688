"""Names of the metrics the rules and dashboards read, and of the jobs that scrape them.

Application metrics are prometheus-fastapi-instrumentator's (every web service exposes the same
names on its metricsPath). Business metrics are named by the stack (monitoring.business: see
docs/monitoring.md). Infrastructure metrics are the standard process_* metrics every Prometheus
client library exports, plus node_exporter's filesystem/network metrics.
"""

PROBE_JOB = "health-probe"
PROBE_MODULE = "http_2xx"

# The rollback service, watched like the apps: its /metrics and its /health.
ROLLBACK = "rollback"  # its scrape job, and its `service` label on alerts
ROLLBACK_PROBE_JOB = "rollback-health"
ROLLBACK_ACTIONS = "rollback_actions_total"  # labels action, service, outcome
ROLLBACK_DECISIONS = "rollback_decisions_total"  # labels strategy, decision
ROLLBACK_WEBHOOKS = "rollback_webhooks_total"  # label outcome (accepted, unauthorized, ...)

# The monitoring servers, watched by Prometheus too: each scrape job is named after its server.
PROMETHEUS_JOB = "prometheus"
ALERTMANAGER_JOB = "alertmanager"
BLACKBOX_JOB = "blackbox-exporter"
NOTIFICATIONS_FAILED = "alertmanager_notifications_failed_total"  # label integration

# Application (prometheus-fastapi-instrumentator). Status codes are grouped: status="5xx".
REQUESTS = "http_requests_total"
LATENCY = "http_request_duration_highr_seconds"  # label-free, many buckets (see config)
SERVER_ERROR_STATUS = "5xx"

# Infrastructure
CPU_SECONDS = "process_cpu_seconds_total"
RESIDENT_MEMORY = "process_resident_memory_bytes"
FS_AVAILABLE = "node_filesystem_avail_bytes"
FS_SIZE = "node_filesystem_size_bytes"
NET_RECEIVE = "node_network_receive_bytes_total"
NET_TRANSMIT = "node_network_transmit_bytes_total"


def job_of(service: str) -> str:
    """The scrape job of a service's /metrics endpoint is named after the service."""
    return service
