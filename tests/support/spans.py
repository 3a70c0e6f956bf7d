"""A complete ``span`` row for tests that write spans directly (every column, sensible defaults)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from llmmon.storage.models import Span


def span_row(*, start_time: datetime, latency_ms: float, **values: object) -> dict[str, object]:
    """Every column of ``span`` (None unless given), an ok root ``function`` span by default;
    ``end_time`` follows from ``start_time`` and ``latency_ms``."""
    row: dict[str, object] = {column.name: None for column in Span.__table__.c}  # type: ignore[attr-defined]
    row |= {
        "span_id": uuid.uuid4().hex[:16],
        "kind": "function",
        "start_time": start_time,
        "end_time": start_time + timedelta(milliseconds=latency_ms),
        "latency_ms": float(latency_ms),
        "status": "ok",
        "io_truncated": False,
        "tokens_estimated": False,
        "is_eval": False,
    }
    row.update(values)
    return row
