"""Prometheus-style durations ("15s", "2m", "1h30m") as `timedelta` in config models."""

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_UNITS_MS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}
# ASCII digits only (\d would take any script's), and few of them: int() of a long string is slow.
_AMOUNT = "([0-9]{1,12})"
_DURATION = re.compile(
    f"^(?:{_AMOUNT}d)?(?:{_AMOUNT}h)?(?:{_AMOUNT}m)?(?:{_AMOUNT}s)?(?:{_AMOUNT}ms)?$"
)


def parse_duration(value: object) -> object:
    """Parse "1h30m" into a timedelta; anything that is not a str is left to pydantic."""
    if not isinstance(value, str):
        return value
    match = _DURATION.fullmatch(value)
    if not value or match is None:
        raise ValueError("is not a duration like '15s', '2m' or '1h30m'")
    millis = sum(
        int(amount) * factor
        for amount, factor in zip(match.groups(), _UNITS_MS.values(), strict=True)
        if amount
    )
    try:
        return timedelta(milliseconds=millis)
    except OverflowError:
        raise ValueError("is longer than any duration can be") from None


def format_duration(value: timedelta) -> str:
    """The shortest Prometheus duration string for `value` ("0s" for zero)."""
    millis = round(value.total_seconds() * 1000)
    if millis < 0:
        raise ValueError("durations are never negative")
    if millis == 0:
        return "0s"
    parts = []
    for unit, factor in _UNITS_MS.items():
        amount, millis = divmod(millis, factor)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


def seconds(value: timedelta) -> float:
    return value.total_seconds()


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]
