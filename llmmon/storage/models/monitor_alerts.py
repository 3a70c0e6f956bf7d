"""Tables of the alert monitor: one ``Alert`` row per firing episode of a rule on one label set.

Deduplication lives in the data: at most one alert per (rule_id, label_hash) is not resolved
(``open`` or ``acked``) at a time; the monitor updates that row instead of opening another.
The notification attempts (webhook, status, error, retries) are kept on the row as a JSON list
so ``llmmon alerts list`` can show why a page was or was not delivered.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

__all__ = ["Alert"]


class Alert(SQLModel, table=True):
    """One firing episode of an alert rule for one label set (e.g. one prompt version)."""

    __tablename__ = "alert"
    __table_args__ = (Index("ix_alert_rule_labels_state", "rule_id", "label_hash", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    rule_id: str = Field(max_length=256)
    label_hash: str = Field(max_length=64, description="sha256 of the canonical JSON of labels")
    labels: str = Field(default="{}", sa_column=Column(Text, nullable=False), description="JSON {key: value}")
    metric: str = Field(max_length=128)
    severity: str = Field(max_length=16, description="info | warning | critical")
    state: str = Field(max_length=16, index=True, description="open | acked | resolved")
    opened_at: datetime = Field(index=True)
    resolved_at: datetime | None = None
    acked_at: datetime | None = None
    acked_by: str | None = Field(default=None, max_length=256)
    last_evaluated_at: datetime
    last_value: float | None = None
    threshold: float | None = None
    volume: int = 0
    message: str = Field(default="", sa_column=Column(Text, nullable=False))
    muted: bool = Field(default=False, description="Re-opened within the rule's cooldown: no notifications")
    notifications: str = Field(
        default="[]", sa_column=Column(Text, nullable=False), description="JSON list of delivery attempts"
    )
