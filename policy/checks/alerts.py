"""Every generated alert rule carries the labels and annotations routing and people read."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from policy.resources import Resource, is_known, parsed_yaml
from policy.rule import NoSettings

ALERT_RULES_DIR = "prometheus/rules/"
SEVERITIES = ("critical", "warning", "info")


def alert_rules_labelled(resource: Resource, _: NoSettings) -> Iterator[str]:
    stash = resource.inputs.get("input")
    if not isinstance(stash, Mapping) or not str(stash.get("path", "")).startswith(ALERT_RULES_DIR):
        return
    path, content = stash["path"], stash.get("content")
    if not isinstance(content, str) or not is_known(content):
        yield f"{path}: the rule file's content cannot be read, so it cannot be checked"
        return
    try:
        document = parsed_yaml(content) or {}
    except yaml.YAMLError as error:
        yield f"{path} is not valid YAML: {error}"
        return
    groups = document.get("groups") if isinstance(document, dict) else None
    if not isinstance(groups, list):
        yield f"{path} is not a Prometheus rule file (no `groups` list)"
        return
    for group in groups:
        for rule in (group or {}).get("rules") or []:
            if "alert" in rule:
                yield from _alert_problems(path, rule)


def _alert_problems(path: str, rule: Mapping[str, Any]) -> Iterator[str]:
    labels = rule.get("labels") or {}
    annotations = rule.get("annotations") or {}
    missing = [f"label {k}" for k in ("severity", "service") if not labels.get(k)]
    if not annotations.get("summary"):
        missing.append("annotation summary")
    where = f"{path}: alert {rule['alert']}"
    if missing:
        yield f"{where} lacks {', '.join(missing)}"
    severity = labels.get("severity")
    if severity and severity not in SEVERITIES:
        yield f"{where} has severity {severity}, not one of {', '.join(SEVERITIES)}"
