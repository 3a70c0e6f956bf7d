"""Tables of the knowledge base: a named KB, its documents, and the passages retrieval returns.

A passage's ``start``/``end`` are character offsets into its document's text (or into the
text of one record, ``record_id``, for JSONL and CSV documents), so a verdict can point at the
exact span it relied on. Passage ids are content-derived and stable across re-ingests.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

__all__ = ["KbDocument", "KbPassage", "KnowledgeBase"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class KnowledgeBase(SQLModel, table=True):
    """A named knowledge base; ``version_hash`` changes exactly when its content changes."""

    __tablename__ = "knowledge_base"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=256, unique=True)
    version_hash: str = Field(
        max_length=64, description="sha256 over the sorted (source, content hash) pairs"
    )
    created_at: datetime = Field(default_factory=_utc_now)
    updated_at: datetime = Field(default_factory=_utc_now)


class KbDocument(SQLModel, table=True):
    """One ingested file (or other source) of a knowledge base, with its full text."""

    __tablename__ = "kb_document"
    __table_args__ = (UniqueConstraint("kb_id", "source", name="uq_kb_document_kb_source"),)

    id: int | None = Field(default=None, primary_key=True)
    kb_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("knowledge_base.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    source: str = Field(
        max_length=1024, description="Path relative to the ingested directory, or a source id"
    )
    format: str = Field(max_length=16, description="markdown | text | jsonl | csv")
    content_hash: str = Field(max_length=64, description="sha256 of the raw text and the splitting recipe")
    title: str = Field(default="", max_length=1024)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=_utc_now)
    updated_at: datetime = Field(default_factory=_utc_now)


class KbPassage(SQLModel, table=True):
    """A retrievable span of a document; ``text == document_text[start:end]`` (or of its record)."""

    __tablename__ = "kb_passage"
    __table_args__ = (Index("ix_kb_passage_kb_position", "kb_id", "document_id", "position"),)

    passage_id: str = Field(primary_key=True, max_length=32, description="Stable content-derived id")
    kb_id: int = Field(
        sa_column=Column(Integer, ForeignKey("knowledge_base.id", ondelete="CASCADE"), nullable=False)
    )
    document_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("kb_document.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    position: int = Field(description="Order of the passage within its document")
    record_id: str | None = Field(
        default=None, max_length=256, description="JSONL/CSV record the offsets refer to"
    )
    start: int
    end: int
    title: str = Field(
        default="", sa_column=Column(Text, nullable=False), description="Heading path or record title"
    )
    text: str = Field(sa_column=Column(Text, nullable=False))
