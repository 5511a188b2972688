"""How a stack file (`Pulumi.<stack>.yaml`) is read: strictly, with bounded work, one clear error.

Pulumi reads stack files with yaml.v2's non-strict `Unmarshal`: it keeps one of two duplicate
keys without a word and expands aliases, which a reviewer of the file does not see. Here both
are refused, and so is anything that cannot be handed to a program as Pulumi would (JSON):
integers beyond 64 bits, NaN and infinities, binary and set values, keys that are not strings.
A YAML date stays the string it is written as, as yaml.v2 gives it to Pulumi. The file's size,
nesting depth and node count are bounded before any of it is built.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

MAX_BYTES = 256 * 1024  # the committed stack files are under 2 KB
MAX_DEPTH = 32  # the deepest key the config knows is 6 levels down
MAX_NODES = 20_000
INT64 = 2**63  # Pulumi carries config numbers as 64-bit integers or doubles


class StackFileError(Exception):
    """A stack file that cannot be read; the message names the file and the line."""


class _Loader(yaml.SafeLoader):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0
        self.nodes = 0
        self.problems: list[str] = []

    def fetch_flow_collection_start(self, token_class: type[yaml.Token]) -> None:
        # Refused at the bracket, before the composer sees it: at every token the scanner
        # looks again at each open bracket, so `[[[...]]]` a thousand deep took 0.15 s.
        if self.flow_level >= MAX_DEPTH:
            raise StackFileError(f"line {self.line + 1}: nested more than {MAX_DEPTH} levels deep")
        super().fetch_flow_collection_start(token_class)

    def problem(self, node: Node, message: str) -> None:
        self.problems.append(f"line {node.start_mark.line + 1}: {message}")

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        where = f"line {event.start_mark.line + 1}"
        if isinstance(event, yaml.AliasEvent):
            raise StackFileError(
                f"{where}: alias *{event.anchor}: anchors and aliases are not read in stack files "
                "(`pulumi config set` rewrites the file without them); write the value out"
            )
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise StackFileError(f"{where}: more than {MAX_NODES} values; a stack file is small")
        if self.depth >= MAX_DEPTH:
            raise StackFileError(f"{where}: nested more than {MAX_DEPTH} levels deep")
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                self.problem(key_node, f"key {_short(key)} is not a string: quote it")
            elif key in first_line:
                self.problem(
                    key_node, f"key {_short(key)} appears twice (first on line {first_line[key]})"
                )
            else:
                first_line[key] = line
        return super().construct_mapping(node, deep=deep)

    def construct_text(self, node: ScalarNode) -> str:
        return str(self.construct_scalar(node))

    def construct_yaml_int(self, node: ScalarNode) -> Any:
        text = self.construct_text(node)
        if ":" in text:
            return text  # YAML 1.1's base 60 (12:30): a string to yaml.v2, as to the reader
        # Digits are counted before int() runs: Python's int() of a long string is slow.
        too_long = len(text.replace("_", "")) > 20
        value = 0 if too_long else super().construct_yaml_int(node)
        if too_long or not -INT64 <= value < INT64:
            self.problem(node, "an integer beyond 64 bits (quote it if it is text)")
        return value

    def construct_yaml_float(self, node: ScalarNode) -> Any:
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            self.problem(node, "not a finite number (Pulumi passes config as JSON)")
        return value

    def refuse_tag(self, node: Node) -> None:
        self.problem(node, f"{node.tag.rsplit(':', 1)[-1]} values are not config values")


# Dates and times stay strings, as yaml.v2 hands them to an untyped value (and so to Pulumi).
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_text)
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)
for _tag in ("binary", "set", "omap", "pairs"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _Loader.refuse_tag)


def _short(value: Any, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else f"{text[: width - 1]}…"


def parse(text: str) -> Any:
    """The YAML document in `text`; StackFileError lists every problem found in it."""
    loader = _Loader(text)
    try:
        document = loader.get_single_data()
    except yaml.YAMLError as error:
        raise StackFileError(_yaml_error(error)) from None
    finally:
        loader.dispose()
    if loader.problems:
        raise StackFileError("; ".join(loader.problems))
    return document


def _yaml_error(error: yaml.YAMLError) -> str:
    """PyYAML's message without the lines of the file it quotes (they may hold a value)."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        return f"line {error.problem_mark.line + 1}: {error.problem}"
    return "not valid YAML"


def not_there(path: Path) -> str:
    """What to say of a stack file that does not exist: the ones beside it."""
    known = sorted(p.name for p in path.parent.glob("Pulumi.*.yaml"))
    return f"{path} does not exist; stack files there: {', '.join(known)}"


def read(path: Path) -> dict[str, Any]:
    """The `config` mapping of the stack file at `path`."""
    if not path.is_file():
        raise StackFileError(not_there(path))
    data = path.read_bytes()
    if len(data) > MAX_BYTES:
        raise StackFileError(f"{path} has {len(data)} bytes, more than the {MAX_BYTES} allowed")
    try:
        document = parse(data.decode("utf-8-sig"))  # Pulumi strips a byte-order mark too
    except UnicodeDecodeError as error:
        raise StackFileError(f"{path} is not UTF-8 (byte {error.start})") from None
    except StackFileError as error:
        raise StackFileError(f"{path}: {error}") from None
    config = document.get("config", {}) if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise StackFileError(f"{path}: 'config' must be a mapping of keys to values")
    return config


def is_secure(value: Any) -> bool:
    """A value `pulumi config set --secret` encrypted: `{secure: <ciphertext>}`."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("secure"), str)


def leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every value inside `value` as (`--path`, value); a secure value is one leaf."""
    if isinstance(value, dict) and not is_secure(value):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, f"{path}[{index}]")
    else:
        yield path, value


def unencrypted(value: Any, path: str) -> list[str]:
    """The `--path`s of the values in `value` (found at `path`) that are not `secure:`."""
    return [where for where, item in leaves(value, path) if not (item is None or is_secure(item))]
