"""Alertmanager's webhook payload (version 4). Unknown fields are ignored: Alertmanager may add
some in a later release, and that must not make a rollback fail. Bounded: the body's size is
limited by the app, the number of alerts here, JSON nesting by pydantic's parser (deeper than
its recursion limit is invalid JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from monitoring.alertmanager import MAX_ALERTS  # Alertmanager sends at most these


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class Alert(_Model):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    fingerprint: str = ""
    # When the alert began firing; Alertmanager re-sends it unchanged while it fires on.
    starts_at: datetime | None = Field(None, alias="startsAt")


class Webhook(_Model):
    version: Literal["4"]
    group_key: str = Field(alias="groupKey", min_length=1)
    status: Literal["firing", "resolved"]
    receiver: str = ""
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    alerts: tuple[Alert, ...] = Field(max_length=MAX_ALERTS)

    @property
    def firing(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.status == "firing")
