"""Structured lines on stdout, what `railway logs` shows: one JSON object per line, never a
secret (records hold names, ids and outcomes, never a token or a URL with one)."""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any


def emit(record: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()


class JsonFormatter(logging.Formatter):
    """uvicorn's own lines in the same shape. An error is named by its type and where it was
    raised, never by its message (an HTTP library's message may hold a URL with a secret)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "event": "log",
            "level": record.levelname.lower(),
            "logger": record.name,
            "detail": record.getMessage(),
        }
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            last = traceback.extract_tb(error.__traceback__)[-1:]
            where = f"{last[0].filename}:{last[0].lineno}" if last else "?"
            line["error"] = f"{type(error).__name__} at {where}"
        return json.dumps(line)


# uvicorn's logging, as JSON lines on stdout (`uvicorn.run(log_config=...)`)
UVICORN_LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": JsonFormatter}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        }
    },
    "loggers": {
        "uvicorn": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
    },
}


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
