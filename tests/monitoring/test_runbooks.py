"""Every alert's runbook link resolves: it points at this repository, as the stack names it, and at
a section of docs/monitoring.md that exists."""

from __future__ import annotations

import re

import pytest
import yaml
from pydantic import ValidationError

from components.monitoring import RUNBOOKS, render
from monitoring import MonitoringConfig
from tests.conftest import ROOT, STACKS, validated_stack
from tests.fixtures import RECEIVERS


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lowercase, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", markdown, re.MULTILINE)
    return {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("stack", STACKS)
def test_every_runbook_link_points_at_a_section_of_this_repository(stack: str) -> None:
    config = validated_stack(stack)
    files = render(config)
    page = f"https://github.com/{config.rollback.repository}/blob/{config.rollback.branch}/"
    sections = anchors((ROOT / RUNBOOKS).read_text())
    links = {
        r["annotations"]["runbook_url"]
        for path in ("prometheus/rules/alerts.yml", "prometheus/rules/slo.yml")
        for g in yaml.safe_load(files[path])["groups"]
        for r in g["rules"]
        if "alert" in r
    }
    if config.monitoring.slos:  # the stack's SLO alerts too
        assert any("#runbook-errorbudgetburn" in link for link in links)
    assert links
    for link in links:
        url, _, anchor = link.partition("#")
        assert url == page + RUNBOOKS
        assert anchor in sections, f"{link}: no such section in {RUNBOOKS}"


@pytest.mark.parametrize(
    "url",
    [
        "https://user:token@github.com/o/r/blob/main/docs/monitoring.md",
        "https://github.com/o/r/blob/main/docs/monitoring.md?token=abc",
        "https://github.com/o/r/blob/main/docs/monitoring.md#top",
        "http://github.com/o/r/blob/main/docs/monitoring.md",
    ],
)
def test_a_runbook_base_with_credentials_or_extras_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="runbookBaseUrl"):
        MonitoringConfig.model_validate({"runbookBaseUrl": url, "receivers": RECEIVERS})
