"""Re-cost stored spans from their stored raw token usage after a price fix (``llmmon reprice``).

Spans are read in primary-key order, one batch at a time (keyset pagination, so memory stays
flat on large tables), and their ``cost_usd`` is rewritten with one ``executemany`` UPDATE per
batch. The price in force at each span's start time is used. Spans whose model is no longer
known get a null cost, matching what the writer would store today.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, bindparam, select, update

from llmmon.pricing.table import PriceTable
from llmmon.storage.models.tracing import Span

__all__ = ["RepriceResult", "reprice_spans"]

_BATCH_SIZE = 2_000


@dataclass(frozen=True, slots=True)
class RepriceResult:
    """What a reprice run did: spans whose cost changed, and models without a price."""

    updated: int
    unknown_models: list[str] = field(default_factory=list)
    scanned: int = 0


def reprice_spans(
    engine: Engine,
    table: PriceTable,
    *,
    since: datetime | None = None,
    model: str | None = None,
    batch_size: int = _BATCH_SIZE,
) -> RepriceResult:
    """Recompute ``cost_usd`` of spans with usage (optionally only since ``since`` / for ``model``).

    ``updated`` counts spans whose stored cost changed; ``scanned`` counts spans looked at.
    """
    span = Span.__table__  # type: ignore[attr-defined]
    conditions = [
        span.c.model.is_not(None),
        (span.c.input_tokens.is_not(None)) | (span.c.output_tokens.is_not(None)),
    ]
    if since is not None:
        conditions.append(span.c.start_time >= since)
    if model is not None:
        conditions.append(span.c.model == model)
    columns = (
        span.c.span_id,
        span.c.model,
        span.c.input_tokens,
        span.c.output_tokens,
        span.c.cached_tokens,
        span.c.start_time,
        span.c.cost_usd,
    )
    statement = (
        update(span).where(span.c.span_id == bindparam("b_span_id")).values(cost_usd=bindparam("b_cost_usd"))
    )
    unknown: set[str] = set()
    updated = scanned = 0
    last_id: str | None = None
    while True:
        query = select(*columns).where(*conditions).order_by(span.c.span_id).limit(batch_size)
        if last_id is not None:
            query = query.where(span.c.span_id > last_id)
        with engine.connect() as connection:
            rows = connection.execute(query).all()
        if not rows:
            break
        last_id = rows[-1].span_id
        scanned += len(rows)
        changes = []
        for row in rows:
            if table.lookup(row.model) is None:
                unknown.add(row.model)
            cost = table.cost_usd(
                row.model,
                input_tokens=row.input_tokens,
                output_tokens=row.output_tokens,
                cached_tokens=row.cached_tokens,
                at=row.start_time,
            )
            if not _same_cost(cost, row.cost_usd):
                changes.append({"b_span_id": row.span_id, "b_cost_usd": cost})
        if changes:
            with engine.begin() as connection:
                connection.execute(statement, changes)
            updated += len(changes)
        if len(rows) < batch_size:
            break
    return RepriceResult(updated=updated, unknown_models=sorted(unknown), scanned=scanned)


def _same_cost(new: float | None, old: float | None) -> bool:
    if new is None or old is None:
        return new is old
    return abs(new - old) <= 1e-12 * max(1.0, abs(new))
