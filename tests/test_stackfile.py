"""Reading stack files: whatever is in the file, the result is its config or one clear error."""

from __future__ import annotations

import contextlib
import io
import string
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.stack_files import cases
from components import stackfile
from components.config import ConfigError, raw_project_config, validate
from components.stackfile import MAX_DEPTH, StackFileError
from monitoring.durations import format_duration, parse_duration
from tests.conftest import NAMESPACE as PROJECT
from tests.conftest import PROJECT_DIR, STACKS, merged, stack_config
from tools import synth

KEY = f"{PROJECT}:github"
PRODUCTION = stack_config("production")
# Property tests share one file path; each example overwrites it.
PROPERTY = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def parse(text: str) -> Any:
    return stackfile.parse(text)


def gate(text: str, tmp_path: Path) -> tuple[int, str]:
    """`python -m tools.synth --stack production --stack-file FILE` on `text`."""
    path = tmp_path / "Pulumi.production.yaml"
    path.write_text(text)
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
        code = synth.main(
            ["--stack", "production", "--stack-file", str(path), "--out", str(tmp_path / "out")]
        )
    return code, errors.getvalue()


def config_problems(raw: dict[str, Any]) -> str | None:
    try:
        validate(raw, "production", frozenset({"secrets"}), (), PROJECT)
    except ConfigError as error:
        return str(error)
    return None


def production_raw() -> dict[str, Any]:
    flat, _ = synth.pulumi_config(PRODUCTION, namespace=PROJECT)
    return raw_project_config(flat, PROJECT)


YAML_CHARACTERS = string.ascii_letters + string.digits + " \n\t-:[]{}&*!|>'\"#%@`,?.~=+_"


@PROPERTY
@given(st.text(alphabet=YAML_CHARACTERS, max_size=200))
def test_any_text_is_a_document_or_one_stack_file_error(text: str) -> None:
    try:
        parse(text)
    except StackFileError as error:
        assert str(error).startswith(("line ", "not valid YAML")), error
        assert "\n" not in str(error)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@PROPERTY
@given(json_values)
def test_every_json_value_reads_back_as_written(value: Any) -> None:
    assert parse(yaml.safe_dump({"config": {KEY: value}})) == {"config": {KEY: value}}


@PROPERTY
@given(st.integers())
def test_an_integer_reads_back_exactly_or_is_refused_beyond_64_bits(number: int) -> None:
    text = f"config:\n  {KEY}:\n    waitTimer: {number}\n"
    if -(2**63) <= number < 2**63:
        assert parse(text)["config"][KEY]["waitTimer"] == number
    else:
        with pytest.raises(StackFileError, match=r"^line 3: an integer beyond 64 bits"):
            parse(text)


@pytest.mark.parametrize("number", [".inf", "-.inf", ".nan", "1.0e+400", "-1.5e+999"])
def test_a_number_json_cannot_carry_is_refused(number: str) -> None:
    with pytest.raises(StackFileError, match=r"^line 2: not a finite number"):
        parse(f"config:\n  x: [{number}]\n")


@PROPERTY
@given(st.dates() | st.datetimes())
def test_a_yaml_date_stays_the_text_it_is_written_as(when: Any) -> None:
    written = when.isoformat(sep=" ") if hasattr(when, "hour") else when.isoformat()
    assert parse(f"config:\n  {KEY}:\n    waitTimer: {written}\n") == {
        "config": {KEY: {"waitTimer": written}}
    }
    raw = production_raw()
    raw["github"] = raw["github"] | {"waitTimer": written}
    assert "github.waitTimer: Input should be a valid integer" in str(config_problems(raw))


@PROPERTY
@given(st.integers(min_value=1, max_value=3000), st.booleans())
def test_nesting_is_read_to_a_bound_and_refused_beyond(depth: int, flow: bool) -> None:
    # `depth` sequences, one in the other: `[[[]]]`, or in block style `- - []`.
    value = "[" * depth + "]" * depth if flow else "\n    " + "- " * (depth - 1) + "[]"
    text = f"config:\n  x: {value}\n"
    if depth + 2 <= MAX_DEPTH:  # the document's mapping and `config` are two levels
        parse(text)
    else:
        with pytest.raises(StackFileError, match=rf"nested more than {MAX_DEPTH} levels deep"):
            parse(text)


# Names YAML reads as strings (`no` or `False` would be booleans: a key error of their own).
keys = st.from_regex(r"k[A-Za-z]{0,9}", fullmatch=True)


@PROPERTY
@given(st.dictionaries(keys, st.integers(0, 9), min_size=1, max_size=6), st.data())
def test_a_key_written_twice_is_refused_with_both_lines(mapping: dict[str, int], data: Any) -> None:
    twice = data.draw(st.sampled_from(sorted(mapping)))
    lines = [f"    {key}: {value}" for key, value in mapping.items()] + [f"    {twice}: 0"]
    text = f"config:\n  {KEY}:\n" + "\n".join(lines) + "\n"
    first = 3 + list(mapping).index(twice)
    with pytest.raises(StackFileError) as caught:
        parse(text)
    assert str(caught.value) == (
        f"line {3 + len(mapping)}: key {twice!r} appears twice (first on line {first})"
    )


@PROPERTY
@given(st.integers(min_value=1, max_value=12), st.integers(min_value=1, max_value=9))
def test_any_alias_is_refused_before_it_is_expanded(levels: int, width: int) -> None:
    lines = ['    l0: &l0 ["lol"]']
    lines += [
        f"    l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * width)}]" for n in range(1, levels + 1)
    ]
    with pytest.raises(StackFileError, match=r"^line 4: alias \*l0: anchors and aliases"):
        parse(f"config:\n  {KEY}:\n" + "\n".join(lines) + "\n")


@PROPERTY
@given(
    st.integers(min_value=0, max_value=10**15),
    st.sampled_from(["ms", "s", "m", "h", "d", "x", ""]),
)
def test_any_duration_is_accepted_or_one_config_problem(amount: int, unit: str) -> None:
    written = f"{amount}{unit}"
    raw = merged(production_raw(), {"monitoring": {"servers": {"retention": written}}})
    try:
        config = validate(raw, "production", frozenset({"secrets"}), (), PROJECT)
    except ConfigError as error:
        assert str(error).startswith("Stack 'production' has 1 configuration problem(s):")
        assert f"{PROJECT}:monitoring.servers.retention: " in str(error)
        return
    retention = config.monitoring.servers.retention
    assert timedelta(hours=2) <= retention <= timedelta(days=3650)
    assert format_duration(retention) == format_duration(parse_duration(written))


@PROPERTY
@given(
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=6),
    st.characters(min_codepoint=0x80, categories=["L", "N"]),
    st.text(alphabet=string.ascii_lowercase, max_size=6),
)
def test_a_name_with_a_non_ascii_letter_is_refused(head: str, odd: str, tail: str) -> None:
    name = head + odd + tail
    for key, value in [
        ("branch", name),
        ("requiredChecks", [name]),
    ]:
        raw = production_raw()
        raw["github"] = raw["github"] | {key: value}
        assert f"{PROJECT}:github.{key}" in str(config_problems(raw))
    raw = merged(
        production_raw(), {"monitoring": {"receivers": {"emailTo": [f"oncall@{name}.app"]}}}
    )
    assert f"{PROJECT}:monitoring.receivers.emailTo[0]" in str(config_problems(raw))


# What each case's error says: its own problem, not another one its edit made by accident.
SAYS = {
    "alias bomb": "anchors and aliases are not read",
    "YAML date (`waitTimer: 2024-01-01`)": 'waitTimer: Input should be a valid integer (got "2024',
    "huge integer (5,000 digits)": "an integer beyond 64 bits",
    "duration that overflows (`scrapeInterval: 99999999999999d`)": "monitoring.scrapeInterval: ",
    "nesting 5,000 deep": "nested more than 32 levels deep",
    "duplicate key (`waitTimer` twice)": "key 'waitTimer' appears twice",
    "`waitTimer: true`": "github.waitTimer: Input should be a valid integer (got true)",
    "look-alike branch (Cyrillic a in `main`)": "github.branch: Value error, must be a valid git",
    "port 99999 in a service's `url`": "has a port outside 1..65535",
    "10 MB of comments": "more than the 262144 allowed",
}


def test_every_pathological_case_says_what_it_is_about() -> None:
    assert set(SAYS) == set(cases())


@pytest.mark.parametrize("case", sorted(SAYS))
def test_each_pathological_file_is_one_short_error_without_traceback(
    case: str, tmp_path: Path
) -> None:
    code, message = gate(cases()[case], tmp_path)
    assert code == 2, message
    assert SAYS[case] in message
    assert "Traceback" not in message
    assert len(message) < 1000, message
    assert message.count("\n") <= 4, message  # one problem, or one with its fix


def test_a_stack_file_too_large_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.production.yaml"
    path.write_text("#" * (stackfile.MAX_BYTES + 1))
    with pytest.raises(StackFileError, match=r"more than the 262144 allowed"):
        stackfile.read(path)


def test_a_syntax_error_names_the_line_not_the_text_there(tmp_path: Path) -> None:
    secret = "hunter2-canary"
    code, message = gate(f"config:\n  {KEY}: {{token: {secret}\n  x: [\n", tmp_path)
    assert code == 2
    assert "line " in message
    assert secret not in message


def test_a_byte_order_mark_is_read_as_pulumi_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.production.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + yaml.safe_dump({"config": PRODUCTION}).encode())
    assert stackfile.read(path) == PRODUCTION


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("config:\n  x: !!binary aGVsbG8=\n", "line 2: binary values are not config values"),
        ("config:\n  x: !!set {a, b}\n", "line 2: set values are not config values"),
        ("config:\n  5: x\n", "line 2: key 5 is not a string: quote it"),
        ("config:\n  yes: x\n", "line 2: key True is not a string: quote it"),
    ],
)
def test_values_json_cannot_carry_are_refused(text: str, problem: str) -> None:
    with pytest.raises(StackFileError) as caught:
        parse(text)
    assert str(caught.value) == problem


def test_sexagesimal_stays_text_as_yaml_v2_reads_it() -> None:
    assert parse("config:\n  x: 12:30\n") == {"config": {"x": "12:30"}}


def test_the_stack_files_read_as_before() -> None:
    for stack in STACKS:
        path = PROJECT_DIR / f"Pulumi.{stack}.yaml"
        assert stackfile.read(path) == yaml.safe_load(path.read_text())["config"]
