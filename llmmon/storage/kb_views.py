"""Read views of the knowledge bases: sizes, documents, and the passages contradicted claims cite most."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Engine, func, select
from sqlalchemy.sql import ColumnElement

from llmmon.storage.claim_views import parse_evidence
from llmmon.storage.models import ClaimCheck, KbDocument, KbPassage, KnowledgeBase
from llmmon.storage.repo import _connect

__all__ = [
    "CitedPassage",
    "KbDocumentPublic",
    "KnowledgeBasePublic",
    "kb_documents",
    "knowledge_bases",
    "most_cited_passages",
]

_CITED_SCAN_LIMIT = 5000  # contradicted claims read per knowledge-base page (newest first)


class KnowledgeBasePublic(BaseModel):
    """A knowledge base with its size."""

    id: int
    name: str
    version_hash: str
    updated_at: datetime
    documents: int
    passages: int


class KbDocumentPublic(BaseModel):
    """A document of a knowledge base (without its text)."""

    id: int
    source: str
    format: str
    title: str
    passages: int
    updated_at: datetime


class CitedPassage(BaseModel):
    """A passage and how often contradicted claims cited it as evidence."""

    passage_id: str
    citations: int
    doc: str
    title: str
    text: str


def knowledge_bases(engine: Engine) -> list[KnowledgeBasePublic]:
    """Every knowledge base with its document and passage counts."""
    kb = KnowledgeBase.__table__  # type: ignore[attr-defined]
    document = KbDocument.__table__  # type: ignore[attr-defined]
    passage = KbPassage.__table__  # type: ignore[attr-defined]
    documents = select(func.count()).where(document.c.kb_id == kb.c.id).scalar_subquery()
    passages = select(func.count()).where(passage.c.kb_id == kb.c.id).scalar_subquery()
    query = select(
        kb.c.id, kb.c.name, kb.c.version_hash, kb.c.updated_at, documents.label("documents"), passages.label("passages")
    ).order_by(kb.c.name)
    with _connect(engine) as connection:
        return [KnowledgeBasePublic.model_validate(dict(row)) for row in connection.execute(query).mappings()]


def kb_documents(engine: Engine, *, kb_id: int) -> list[KbDocumentPublic]:
    """The documents of one knowledge base, by source."""
    document = KbDocument.__table__  # type: ignore[attr-defined]
    passage = KbPassage.__table__  # type: ignore[attr-defined]
    passages = select(func.count()).where(passage.c.document_id == document.c.id).scalar_subquery()
    query = (
        select(
            document.c.id,
            document.c.source,
            document.c.format,
            document.c.title,
            passages.label("passages"),
            document.c.updated_at,
        )
        .where(document.c.kb_id == kb_id)
        .order_by(document.c.source)
    )
    with _connect(engine) as connection:
        return [KbDocumentPublic.model_validate(dict(row)) for row in connection.execute(query).mappings()]


def most_cited_passages(engine: Engine, *, kb_id: int | None = None, limit: int = 20) -> list[CitedPassage]:
    """Passages most often cited as evidence by contradicted claims (of the newest contradicted claims).

    The evidence lists are JSON text (portable across databases), so the counting of passage ids
    happens here, over at most a few thousand contradicted claims.
    """
    claim = ClaimCheck.__table__  # type: ignore[attr-defined]
    passage = KbPassage.__table__  # type: ignore[attr-defined]
    document = KbDocument.__table__  # type: ignore[attr-defined]
    with _connect(engine) as connection:
        raw = connection.execute(
            select(claim.c.evidence)
            .where(claim.c.verdict == "contradicted")
            .order_by(claim.c.id.desc())
            .limit(_CITED_SCAN_LIMIT)
        ).scalars()
        counts: Counter[str] = Counter()
        for evidence in raw:
            # A passage cited twice by one claim counts once.
            counts.update({str(e["passage_id"]) for e in parse_evidence(evidence) if e.get("passage_id")})
        if not counts:
            return []
        conditions: list[ColumnElement[bool]] = [passage.c.passage_id.in_(sorted(counts))]
        if kb_id is not None:
            conditions.append(passage.c.kb_id == kb_id)
        rows = connection.execute(
            select(passage.c.passage_id, passage.c.title, passage.c.text, document.c.source)
            .join(document, document.c.id == passage.c.document_id)
            .where(*conditions)
        ).all()
    cited = [
        CitedPassage(passage_id=r.passage_id, citations=counts[r.passage_id], doc=r.source, title=r.title, text=r.text)
        for r in rows
    ]
    cited.sort(key=lambda c: (-c.citations, c.passage_id))
    return cited[:limit]
