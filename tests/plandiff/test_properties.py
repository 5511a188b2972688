"""Properties of the diff over generated plans."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring import render as render_monitoring
from tests.conftest import monitoring_config, target_of
from tools.plandiff.compare import diff_sides, diff_values, unified_diff
from tools.plandiff.markdown import render
from tools.plandiff.plan import SECRET, Plan, Snapshot

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.just(SECRET),
)
keys = st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    names = draw(st.lists(st.text(min_size=1, max_size=10), max_size=6, unique=True))
    resources = [
        {
            "urn": f"urn:pulumi:staging::p::t:index:T::{name}",
            "type": "t:index:T",
            "name": name,
            "parent": None,
            "custom": True,
            "protect": draw(st.booleans()),
            "inputs": draw(st.dictionaries(keys, json_values, max_size=5)),
        }
        for name in names
    ]
    plan = {
        "project": "p",
        "stack": "staging",
        "resources": resources,
        "outputs": draw(st.dictionaries(keys, json_values, max_size=3)),
    }
    files = draw(
        st.dictionaries(
            st.sampled_from(["monitoring/a.yml", "monitoring/b.json"]), st.binary(max_size=50)
        )
    )
    return Snapshot(Plan.model_validate(plan), files)


def reordered(value: Any) -> Any:
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {key: reordered(value[key]) for key in reversed(value)}
    if isinstance(value, list):
        return [reordered(item) for item in value]
    return value


@settings(max_examples=150, deadline=None)
@given(snapshots())
def test_a_plan_diffed_with_itself_is_empty(snapshot: Snapshot) -> None:
    copy = Snapshot(
        Plan.model_validate(reordered(snapshot.plan.model_dump())), dict(snapshot.files)
    )
    diffs = diff_sides({"staging": snapshot}, {"staging": copy})
    assert not any(diff.changed for diff in diffs)
    markdown = render(diffs)
    assert "**No changes.**" in markdown
    assert "<details>" not in markdown


def canonical(value: Any) -> Any:
    """JSON meaning only: key order ignored, true is not 1, 1 and 1.0 are one number."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value).__name__, value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, list):
        return ("list", tuple(canonical(item) for item in value))
    return ("object", tuple(sorted((key, canonical(item)) for key, item in value.items())))


@settings(max_examples=300, deadline=None)
@given(json_values, json_values)
def test_values_differ_exactly_when_the_diff_lists_a_change(old: Any, new: Any) -> None:
    assert bool(diff_values(old, new)) == (canonical(old) != canonical(new))
    assert diff_values(old, reordered(old)) == ()


@settings(max_examples=150, deadline=None)
@given(
    st.text(alphabet="abcdefghijklmnop", min_size=6, max_size=12),
    st.lists(st.text(max_size=6), min_size=1, max_size=3),
)
def test_a_value_that_becomes_secret_is_never_shown(plain: str, path: list[str]) -> None:
    canary = f"canary-{plain}"

    def nest(leaf: Any) -> dict[str, Any]:
        value: Any = leaf
        for key in reversed(path):
            value = {key: value}
        return value  # type: ignore[no-any-return]

    def snapshot(leaf: Any) -> Snapshot:
        resource = {
            "urn": "urn:pulumi:staging::p::t:index:T::r",
            "type": "t:index:T",
            "name": "r",
            "parent": None,
            "custom": True,
            "inputs": nest(leaf),
        }
        plan = {"project": "p", "stack": "staging", "resources": [resource], "outputs": {}}
        return Snapshot(Plan.model_validate(plan), {})

    for before, after in ((canary, SECRET), (SECRET, canary), ({"x": canary}, SECRET)):
        markdown = render(diff_sides({"staging": snapshot(before)}, {"staging": snapshot(after)}))
        assert canary not in markdown
        assert "[secret] changed" in markdown


def test_a_threshold_change_in_the_rules_marks_only_the_changed_lines() -> None:
    # difflib.unified_diff's autojunk treats lines repeated all over a long rule file
    # (`for: 5m`, `labels:`) as junk and would show whole alert blocks removed and added.
    target = target_of("production")
    stricter = {"triggers": {"performance": {"errorRate": 0.02}}}
    path = "prometheus/rules/alerts.yml"
    old = render_monitoring(monitoring_config(stack="production"), target)[path].splitlines()
    new = render_monitoring(monitoring_config(stricter, "production"), target)[path].splitlines()
    differing = sum(a != b for a, b in zip(old, new, strict=True))
    changed = [line for line in unified_diff(old, new) if line[:1] in "+-"]
    assert len(changed) == 2 * differing
    assert all("0.02" in line or "2%" in line for line in changed if line.startswith("+"))
