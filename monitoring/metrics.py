"""Names of the metrics the rules and dashboards read, and of the jobs that scrape them.

Application metrics are prometheus-fastapi-instrumentator's (the frontend exposes the same
names on /api/metrics). Business metrics are the ones the backend must export: see
docs/monitoring.md. Infrastructure metrics are the standard process_* metrics every Prometheus
client library exports, plus node_exporter's filesystem/network metrics.
"""

from monitoring.config import ServiceName

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

# Business (exported by the backend; counters unless noted)
SESSIONS = "autonomica_sessions_total"  # sessions started
CONVERSIONS = "autonomica_conversions_total"  # sessions that converted (signup -> paid plan)
ACTIVE_USERS = "autonomica_daily_active_users"  # gauge: distinct users over the last 24h
SESSION_DURATION = "autonomica_session_duration_seconds"  # histogram
FEATURE_USAGE = "autonomica_feature_usage_total"  # label `feature`
FEEDBACK_SCORE = "autonomica_feedback_score"  # histogram of 1-5 ratings

# Infrastructure
CPU_SECONDS = "process_cpu_seconds_total"
RESIDENT_MEMORY = "process_resident_memory_bytes"
FS_AVAILABLE = "node_filesystem_avail_bytes"
FS_SIZE = "node_filesystem_size_bytes"
NET_RECEIVE = "node_network_receive_bytes_total"
NET_TRANSMIT = "node_network_transmit_bytes_total"


def job_of(service: ServiceName) -> str:
    """The scrape job of a service's /metrics endpoint is named after the service."""
    return service
