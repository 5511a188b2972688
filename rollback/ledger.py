"""Memory of what was already decided, so that nothing acts twice.

- One action per alert group: a firing group key acted on within `cooldown` is a duplicate
  (Alertmanager re-sends a group every group_interval and repeat_interval; keep the cooldown
  longer than repeat_interval).
- No loops: a service rolled back automatically is locked for `lockout`; another alert about it
  (a new group, or the same one after the cooldown) notifies but does not roll back again. A
  second automatic rollback would pick the deployment before the rollback, the bad one.
The ledger is rebuilt from the audit log at start, so a restart does not forget.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from rollback.plan import Plan
from rollback.policy import SERVICES, ServiceName


@dataclass(frozen=True)
class Admitted:
    plan: Plan  # with locked services removed from `rollback`
    locked: tuple[ServiceName, ...]


@dataclass(frozen=True)
class Duplicate:
    acted_at: float


class Ledger:
    def __init__(self, cooldown: timedelta, lockout: timedelta, now: Callable[[], float]) -> None:
        self._cooldown = cooldown.total_seconds()
        self._lockout = lockout.total_seconds()
        self._now = now
        self._lock = threading.Lock()
        self._groups: dict[str, float] = {}
        self._services: dict[ServiceName, float] = {}

    def admit(self, plan: Plan) -> Admitted | Duplicate:
        """Atomically: a duplicate, or the plan (minus locked services) now recorded as acted."""
        with self._lock:
            now = self._now()
            last = self._groups.get(plan.group_key)
            if last is not None and now - last < self._cooldown:
                return Duplicate(last)
            self._groups[plan.group_key] = now
            locked = tuple(
                s for s in plan.rollback if now - self._services.get(s, -1e18) < self._lockout
            )
            for service in plan.rollback:
                if service not in locked:
                    self._services[service] = now
            kept = tuple(s for s in plan.rollback if s not in locked)
            return Admitted(replace(plan, rollback=kept), locked)

    def release(self, group_key: str, services: Iterable[ServiceName]) -> None:
        """A watched (gradual) rollback called off by a resolve: the group may fire again."""
        with self._lock:
            self._groups.pop(group_key, None)
            for service in services:
                self._services.pop(service, None)

    def restore(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Replay `admitted` and `cancelled` audit records in order; returns how many groups
        are still within the cooldown."""
        with self._lock:
            now = self._now()
            for record in records:
                key = str(record.get("groupKey"))
                if record.get("event") == "cancelled":
                    self._groups.pop(key, None)
                    for service in SERVICES:
                        if service in record.get("rollback", []):
                            self._services.pop(service, None)
                if record.get("event") != "admitted":
                    continue
                at = float(record["epoch"])
                if now - at < self._cooldown:
                    self._groups[key] = at
                for service in SERVICES:
                    if service in record.get("rollback", []) and now - at < self._lockout:
                        self._services[service] = max(at, self._services.get(service, at))
            return len(self._groups)
