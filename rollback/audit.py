"""The audit log: one JSON object per line, appended per decision and per action.

Every record has `time` (UTC, ISO 8601), `epoch`, `event` and `groupKey`; events:
invalid, resolved, ignored, duplicate, admitted, waiting, preempted, cancelled, watched,
attempt, action (with `action`, `service`, `outcome`, `attempts`, `detail`), interrupted,
notification, finished, started, manual, snapshot, budget (rollback.budget), healthy (a
deployment seen serving after its group resolved), healthy_unknown. A record that
changes a group carries its `state` (see `ledger`).

Bounded: past `max_bytes` the file is renamed to `<path>.1` (replacing the older one) and the
new file starts with a `snapshot` of the ledger, so the ledger is rebuilt from these two files.
Each record also goes to stdout as a JSON line (without `state`), for `railway logs`; the file
is the durable record. A write never raises: a full or failing disk must not stop a rollback.
A record that cannot be written is held in memory (at most `HELD` records) and written before
the next one; meanwhile `problem()` says what is wrong, for /health and every notification.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rollback.logs import emit

HELD = 1_000  # records kept in memory while the disk fails
RESERVE = 4 * 1024 * 1024  # less free space than this on the volume: /health fails
FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # the volume is full: start, and say so


class AuditPathError(Exception):
    """The audit log cannot be written at all (a missing folder, a file in the way, no right)."""


class AuditLog:
    def __init__(
        self,
        path: Path,
        now: Callable[[], float],
        *,
        dry_run: bool,
        max_bytes: int = 16 * 1024 * 1024,
        on_failure: Callable[[], None] = lambda: None,
    ) -> None:
        self.path = path
        self.rotated = path.with_name(path.name + ".1")
        self.snapshot: Callable[[], list[dict[str, Any]]] = list  # set to the ledger's
        self._now = now
        self._dry_run = dry_run
        self._max_bytes = max_bytes
        self._rotate_at = max_bytes
        self._on_failure = on_failure
        self._lock = threading.Lock()
        self._held: list[str] = []
        self._dropped = 0
        self._failing: tuple[str, float] | None = None  # (error, since)

    def open(self) -> None:
        """Check at start that the log can be written; a full volume only makes it fail."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8"):
                pass
        except OSError as error:
            if error.errno not in FULL:
                blocked = next(
                    (p for p in self.path.parents if p.exists() and not p.is_dir()), None
                )
                reason = (
                    f"{blocked} is a file, not a folder"
                    if blocked
                    else error.strerror or type(error).__name__
                )
                raise AuditPathError(
                    f"ROLLBACK_AUDIT_LOG={self.path}: cannot write there ({reason})\n"
                    "  fix: point ROLLBACK_AUDIT_LOG at a file in a writable folder "
                    "(on Railway, on the volume mounted at /data)"
                ) from None
            self._failed(error)

    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        epoch = self._now()
        record = {
            "time": datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds"),
            "epoch": round(epoch, 3),
            "event": event,
            "dryRun": self._dry_run,
            **fields,
        }
        line = json.dumps(record, default=str)
        with self._lock:  # stdout first: `railway logs` has it even when the disk fails
            emit({k: v for k, v in record.items() if k != "state"})
            lines = [*self._held, line]
            try:
                self._append(lines)
            except OSError as error:
                self._dropped += max(0, len(lines) - HELD)
                self._held = lines[-HELD:]
                self._failed(error)
            else:
                self._held, self._failing = [], None
        return record

    def _append(self, lines: list[str]) -> None:
        # After a failed write the file may end in a torn line: start on a fresh one.
        text = ("\n" if self._failing else "") + "".join(f"{line}\n" for line in lines)
        size = self.path.stat().st_size if self.path.exists() else 0
        if size and size + len(text) > self._rotate_at:
            os.replace(self.path, self.rotated)
            snapshot = json.dumps(
                {
                    "time": datetime.fromtimestamp(self._now(), UTC).isoformat(),
                    "epoch": round(self._now(), 3),
                    "event": "snapshot",
                    "groupKey": None,
                    "groups": self.snapshot(),
                }
            )
            text = snapshot + "\n" + text
            # A ledger that alone fills half the file would rotate at every write.
            self._rotate_at = max(self._max_bytes, 2 * len(snapshot))
        with self.path.open("a", encoding="utf-8") as out:
            out.write(text)

    def _failed(self, error: OSError) -> None:
        name = errno.errorcode.get(error.errno or 0, type(error).__name__)
        since = self._failing[1] if self._failing else self._now()
        self._failing = (f"{name}: {error.strerror}", since)
        self._on_failure()

    def pending(self) -> int:
        """Records not on the volume yet: held in memory while it fails."""
        with self._lock:
            return len(self._held)

    def problem(self) -> str | None:
        """What is wrong with the audit log now, or None."""
        with self._lock:
            failing, held, dropped = self._failing, len(self._held), self._dropped
        if failing is not None:
            since = datetime.fromtimestamp(failing[1], UTC).strftime("%H:%M:%S UTC")
            return (
                f"the audit log cannot be written ({failing[0]}) since {since}: {held} "
                f"record(s) held in memory, {dropped} lost; the service's log has them all"
            )
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError as error:
            return f"the audit log's volume cannot be read ({error.strerror})"
        if free < RESERVE:
            return f"the audit log's volume is nearly full ({free // 1024} KiB free)"
        return None

    def records(self) -> Iterator[dict[str, Any]]:
        """Every readable record, the rotated file first; a torn line is skipped."""
        for path in (self.rotated, self.path):
            if not path.exists():
                continue
            with path.open(encoding="utf-8", errors="replace") as lines:
                for line in lines:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if isinstance(record, dict):
                        yield record
