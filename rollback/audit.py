"""The audit log: one JSON object per line, appended and flushed per decision and per action.

Every record has `time` (UTC, ISO 8601), `epoch`, `event` and `groupKey`; events:
unauthorized, invalid, resolved, ignored, duplicate, admitted, waiting, preempted, cancelled,
watched, action (with `action`, `service`, `outcome`, `attempts`, `detail`), notification,
finished. A record that changes a group carries its `state` (see `ledger`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class AuditLog:
    def __init__(self, path: Path, now: Callable[[], float], *, dry_run: bool) -> None:
        self.path = path
        self._now = now
        self._dry_run = dry_run
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        epoch = self._now()
        record = {
            "time": datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds"),
            "epoch": round(epoch, 3),
            "event": event,
            "dryRun": self._dry_run,
            **fields,
        }
        line = json.dumps(record, sort_keys=False, default=str)
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
        return record

    def records(self) -> Iterator[dict[str, Any]]:
        """Every readable record; a torn last line (crash mid-write) is skipped."""
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    yield record
