"""Read queries behind the dashboard and the read API, by job -- this module re-exports them.

* ``rollup_stats``: time series and breakdowns per model / prompt version, from the hourly
  roll-ups (exact counts, tokens and cost; percentiles within a documented error);
* ``quality_stats``: hallucination and thumbs-down counts per group (exact);
* ``claim_views``: one trace's claim verdicts with evidence, and its feedback;
* ``kb_views``: knowledge bases, documents, most-cited passages;
* here: the values of the filter menus.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, select

from llmmon.errors import ConfigError
from llmmon.storage.claim_views import ClaimCheckPublic, EvidencePublic, claim_checks, trace_feedback
from llmmon.storage.kb_views import (
    CitedPassage,
    KbDocumentPublic,
    KnowledgeBasePublic,
    kb_documents,
    knowledge_bases,
    most_cited_passages,
)
from llmmon.storage.models import Span
from llmmon.storage.quality_stats import QualityCounts, feedback_table, quality_counts
from llmmon.storage.repo import _connect
from llmmon.storage.rollup_stats import (
    BUCKETS,
    BreakdownRow,
    Bucket,
    Dimension,
    SeriesPoint,
    breakdown,
    overview_series,
)

__all__ = [
    "BUCKETS",
    "BreakdownRow",
    "Bucket",
    "CitedPassage",
    "ClaimCheckPublic",
    "Dimension",
    "EvidencePublic",
    "KbDocumentPublic",
    "KnowledgeBasePublic",
    "QualityCounts",
    "SeriesPoint",
    "breakdown",
    "claim_checks",
    "distinct_values",
    "feedback_table",
    "kb_documents",
    "knowledge_bases",
    "most_cited_passages",
    "overview_series",
    "quality_counts",
    "trace_feedback",
]


def distinct_values(engine: Engine, column: str, *, limit: int = 200) -> Sequence[str]:
    """Distinct non-null values of a span column (model, prompt_version, name), for filter menus."""
    span = Span.__table__  # type: ignore[attr-defined]
    if column not in ("model", "prompt_version", "prompt_name", "name", "status"):
        raise ConfigError(f"no filter menu for column {column!r}")
    target = span.c[column]
    with _connect(engine) as connection:
        return list(
            connection.execute(select(target).where(target.is_not(None)).distinct().order_by(target).limit(limit))
            .scalars()
            .all()
        )
