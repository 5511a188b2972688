"""Structured lines on stdout, what `railway logs` shows: one JSON object per line, never a
secret (records hold names, ids and outcomes, never a token or a URL with one)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any


def emit(record: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()


class Throttle:
    """A line for `event` at most once per `every` seconds, counting the ones it left out."""

    def __init__(self, event: str, every: float, clock: Callable[[], float]) -> None:
        self._event = event
        self._every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._count = 0
        self._last: float | None = None

    def note(self, **fields: Any) -> None:
        with self._lock:
            self._count += 1
            now = self._clock()
            if self._last is not None and now - self._last < self._every:
                return
            count, self._count, self._last = self._count, 0, now
        emit(
            {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "event": self._event,
                "count": count,
                "detail": f"{count} since the last such line (at most one per {self._every:g}s)",
                **fields,
            }
        )
