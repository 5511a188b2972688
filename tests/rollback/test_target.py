"""Which deployment a Railway rollback goes back to (components.railway.plan.rollback_target,
shared by the rollback service and the converge tool), over histories as Railway shows them:
a replaced release is REMOVED whether it ran healthy or crashed ("older deploys in a `Crashed`
and `Success` state are eventually removed", railwayapp/docs src/docs/reference/
deployments.md), so the status alone never says which ran healthy."""

from __future__ import annotations

from typing import Any

import pytest

from components.railway.plan import rollback_target


def history(*rows: tuple[str, str]) -> list[dict[str, Any]]:
    """(id, status), oldest first."""
    return [
        {"id": i, "status": status, "createdAt": f"2026-05-0{n + 1}T09:00:00Z", "canRollback": True}
        for n, (i, status) in enumerate(rows)
    ]


# v2 crashed and was replaced by v3, which failed
CRASHED = history(("v1", "REMOVED"), ("v2", "REMOVED"), ("v3", "SUCCESS"))

# name -> (deployments, bad, avoid (rolled back from), healthy (seen serving resolved), target)
CASES: dict[str, tuple[list[dict[str, Any]], str | None, set[str], set[str], str | None]] = {
    "the newest known healthy, past one that crashed": (CRASHED, "v3", set(), {"v1"}, "v1"),
    "nothing known healthy yet: the newest that ran": (CRASHED, "v3", set(), set(), "v2"),
    "never one rolled back from, even if once healthy": (
        CRASHED, "v3", {"v1"}, {"v1"}, "v2",
    ),
    "never the bad one, even if once healthy": (CRASHED, "v3", set(), {"v3"}, "v2"),
    "known healthy but newer than the bad one: not a rollback": (
        history(("v1", "REMOVED"), ("v2", "SUCCESS"), ("v3", "FAILED")), "v1", set(), {"v2"}, None,
    ),
    "a build that never ran is never a target": (
        history(("v1", "REMOVED"), ("v2", "FAILED"), ("v3", "SUCCESS")), "v3", set(), set(), "v1",
    ),
    "bad None: back from the one serving": (CRASHED, None, set(), {"v1"}, "v1"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_target_is_the_newest_known_healthy_before_the_bad_release(case: str) -> None:
    deployments, bad, avoid, healthy, expected = CASES[case]
    assert rollback_target(deployments, bad, frozenset(avoid), frozenset(healthy)) == expected
