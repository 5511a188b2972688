"""A clock that moves only when a test says so, and schedules on it: the rollback service's
`now` and `scheduler` for days that pass in a second."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self._now = start.timestamp()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._lock = threading.Lock()
        self._count = 0

    def now(self) -> float:
        with self._lock:
            return self._now

    def iso(self, offset: float = 0.0) -> str:
        """An Alertmanager timestamp `offset` seconds from now."""
        return datetime.fromtimestamp(self.now() + offset, UTC).isoformat()

    def call_at(self, epoch: float, fn: Callable[[], None]) -> Callable[[], None]:
        with self._lock:
            self._count += 1
            entry = (epoch, self._count, fn)
            self._timers.append(entry)

        def cancel() -> None:
            with self._lock:
                if entry in self._timers:
                    self._timers.remove(entry)

        return cancel

    def advance(self, seconds: float) -> None:
        """Move on, running each timer that falls due, in order, at its own time."""
        with self._lock:
            target = self._now + seconds
        while True:
            with self._lock:
                due = sorted(t for t in self._timers if t[0] <= target)
                if not due:
                    self._now = target
                    return
                self._timers.remove(due[0])
                self._now = max(self._now, due[0][0])
            due[0][2]()
