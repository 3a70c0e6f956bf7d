"""Knowledge-base persistence: ingest parsed documents into the database, list, describe, load.

The database is the one copy of a KB that the server, the workers and the CLI share. Each
document row keeps its content hash, so re-ingesting an unchanged file writes nothing, and a
changed file has its passages replaced. The KB's ``version_hash`` is recomputed from its
documents' (source, content hash) pairs after every ingest, so it changes exactly when the
content (or the splitting recipe) changes, and an index cached under it can never be stale.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import ColumnElement, Engine, delete, func, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col
from sqlmodel import select as select_models

from llmmon.errors import KnowledgeBaseError, StorageError
from llmmon.knowledge.ingest import DEFAULT_MAX_CHARS, ParsedDocument, SkippedFile, collect_documents
from llmmon.knowledge.passage import Passage
from llmmon.storage.models.knowledge import KbDocument, KbPassage, KnowledgeBase

__all__ = [
    "DocumentSummary",
    "IngestReport",
    "KbDetails",
    "KbSummary",
    "delete_knowledge_base",
    "describe_knowledge_base",
    "ingest_documents",
    "ingest_paths",
    "kb_version",
    "list_knowledge_bases",
    "load_passages",
    "version_hash_of",
]

logger = logging.getLogger("llmmon")

_VERSION_PREFIX = "llmmon-kb-v1\n"


def version_hash_of(pairs: Iterable[tuple[str, str]]) -> str:
    """The KB version: sha256 over its sorted (source, content hash) pairs."""
    body = "".join(f"{source}\t{content_hash}\n" for source, content_hash in sorted(pairs))
    return hashlib.sha256((_VERSION_PREFIX + body).encode("utf-8")).hexdigest()


@dataclass
class IngestReport:
    """What one ingest did, document by document."""

    kb_name: str
    version_hash: str = ""
    previous_version_hash: str | None = None
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    passages_written: int = 0

    @property
    def changed(self) -> bool:
        """True when the KB content (and so its version hash) changed."""
        return self.version_hash != self.previous_version_hash


@dataclass(frozen=True)
class KbSummary:
    """One row of ``llmmon kb list``."""

    name: str
    version_hash: str
    documents: int
    passages: int
    updated_at: datetime


@dataclass(frozen=True)
class DocumentSummary:
    """One document of ``llmmon kb show``."""

    source: str
    format: str
    title: str
    content_hash: str
    passages: int
    chars: int


@dataclass(frozen=True)
class KbDetails:
    """Everything ``llmmon kb show`` prints."""

    name: str
    version_hash: str
    created_at: datetime
    updated_at: datetime
    documents: tuple[DocumentSummary, ...]

    @property
    def passages(self) -> int:
        """Total passages over all documents."""
        return sum(d.passages for d in self.documents)


def _get_kb(session: Session, name: str) -> KnowledgeBase | None:
    return session.exec(select_models(KnowledgeBase).where(KnowledgeBase.name == name)).first()


def _require_kb(session: Session, name: str) -> KnowledgeBase:
    kb = _get_kb(session, name)
    if kb is None:
        known = (
            session.execute(select(col(KnowledgeBase.name)).order_by(col(KnowledgeBase.name))).scalars().all()
        )
        hint = f"; known: {', '.join(known)}" if known else "; none exist yet (llmmon kb add PATH --kb NAME)"
        raise KnowledgeBaseError(f"no knowledge base named {name!r}{hint}")
    return kb


def _passage_rows(kb: KnowledgeBase, document: KbDocument, parsed: ParsedDocument) -> list[dict[str, object]]:
    return [
        {
            "passage_id": passage.passage_id,
            "kb_id": kb.id,
            "document_id": document.id,
            "position": position,
            "record_id": passage.record_id,
            "start": passage.start,
            "end": passage.end,
            "title": passage.title,
            "text": passage.text,
        }
        for position, passage in enumerate(parsed.passages(kb.name))
    ]


def ingest_documents(
    engine: Engine,
    kb_name: str,
    documents: Sequence[ParsedDocument],
    *,
    prune: bool = False,
) -> IngestReport:
    """Store ``documents`` in KB ``kb_name`` (created if missing), in one transaction.

    Unchanged documents (same source and content hash) are left alone; changed ones have
    their passages replaced. With ``prune``, documents of the KB not in ``documents`` are removed.
    """
    if not kb_name.strip():
        raise KnowledgeBaseError("a knowledge base needs a non-empty name")
    report = IngestReport(kb_name=kb_name)
    for document in documents:
        report.warnings.extend(document.warnings)
    now = datetime.now(UTC)
    try:
        with Session(engine) as session:
            kb = _get_kb(session, kb_name)
            if kb is None:
                kb = KnowledgeBase(
                    name=kb_name, version_hash=version_hash_of([]), created_at=now, updated_at=now
                )
                session.add(kb)
                session.flush()
            else:
                report.previous_version_hash = kb.version_hash
            assert kb.id is not None  # flushed above, or loaded
            existing = {
                d.source: d
                for d in session.exec(select_models(KbDocument).where(col(KbDocument.kb_id) == kb.id))
            }
            rows: list[dict[str, object]] = []
            for parsed in documents:
                stored = existing.get(parsed.source)
                if stored is not None and stored.content_hash == parsed.content_hash:
                    report.unchanged.append(parsed.source)
                    continue
                if stored is None:
                    stored = KbDocument(
                        kb_id=kb.id,
                        source=parsed.source,
                        format=parsed.format,
                        content_hash=parsed.content_hash,
                        title=parsed.title,
                        text=parsed.text,
                        created_at=now,
                        updated_at=now,
                    )
                    session.add(stored)
                    session.flush()
                    existing[parsed.source] = stored
                    report.added.append(parsed.source)
                else:
                    session.execute(delete(KbPassage).where(col(KbPassage.document_id) == stored.id))
                    stored.format, stored.content_hash = parsed.format, parsed.content_hash
                    stored.title, stored.text, stored.updated_at = parsed.title, parsed.text, now
                    session.add(stored)
                    report.updated.append(parsed.source)
                rows.extend(_passage_rows(kb, stored, parsed))
            if prune:
                keep = {d.source for d in documents}
                for source, stored in sorted(existing.items()):
                    if source not in keep:
                        session.execute(delete(KbPassage).where(col(KbPassage.document_id) == stored.id))
                        session.delete(stored)
                        report.removed.append(source)
                        del existing[source]
            if rows:
                session.execute(insert(KbPassage), rows)
            report.passages_written = len(rows)
            report.version_hash = version_hash_of((d.source, d.content_hash) for d in existing.values())
            if report.changed:
                kb.version_hash, kb.updated_at = report.version_hash, now
                session.add(kb)
            session.commit()
    except IntegrityError as exc:
        raise StorageError(
            f"knowledge base {kb_name!r} was changed concurrently; run the ingest again"
        ) from exc
    except SQLAlchemyError as exc:
        raise StorageError(f"could not store knowledge base {kb_name!r}: {exc}") from exc
    if not existing:
        report.warnings.append(
            f"knowledge base {kb_name!r} is empty: every claim checked against it is unverifiable"
        )
    return report


def ingest_paths(
    engine: Engine,
    kb_name: str,
    paths: Iterable[Path],
    *,
    text_column: str | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    prune: bool = False,
) -> IngestReport:
    """Read files and directories and ingest them into ``kb_name``; skipped files are reported, not raised."""
    collected = collect_documents(paths, text_column=text_column, max_chars=max_chars)
    for skipped in collected.skipped:
        logger.warning("knowledge base %r: %s", kb_name, skipped)
    report = ingest_documents(engine, kb_name, collected.documents, prune=prune)
    report.skipped.extend(collected.skipped)
    return report


def kb_version(engine: Engine, kb_name: str) -> str:
    """The current version hash of ``kb_name`` (one cheap query); raises if the KB does not exist."""
    with Session(engine) as session:
        return _require_kb(session, kb_name).version_hash


def load_passages(engine: Engine, kb_name: str) -> tuple[str, list[Passage]]:
    """The KB's version hash and all its passages, in document and position order, read consistently."""
    with Session(engine) as session:
        kb = _require_kb(session, kb_name)
        statement = (
            select(
                col(KbPassage.passage_id),
                col(KbDocument.source),
                col(KbPassage.start),
                col(KbPassage.end),
                col(KbPassage.text),
                col(KbPassage.title),
                col(KbPassage.record_id),
            )
            .join(KbDocument, col(KbDocument.id) == col(KbPassage.document_id))
            .where(col(KbPassage.kb_id) == kb.id)
            .order_by(col(KbDocument.source), col(KbPassage.position))
        )
        passages = [Passage(*row) for row in session.execute(statement)]
        return kb.version_hash, passages


def _count_by(
    session: Session, key: Mapped[int] | ColumnElement[int], *, where: ColumnElement[bool] | None = None
) -> dict[int, int]:
    statement = select(key, func.count()).group_by(key)
    if where is not None:
        statement = statement.where(where)
    return {group: count for group, count in session.execute(statement)}


def list_knowledge_bases(engine: Engine) -> list[KbSummary]:
    """Every KB with its document and passage counts, by name."""
    with Session(engine) as session:
        documents = _count_by(session, col(KbDocument.kb_id))
        passages = _count_by(session, col(KbPassage.kb_id))
        kbs = session.exec(select_models(KnowledgeBase).order_by(KnowledgeBase.name)).all()
        return [
            KbSummary(
                kb.name,
                kb.version_hash,
                documents.get(kb.id or 0, 0),
                passages.get(kb.id or 0, 0),
                kb.updated_at,
            )
            for kb in kbs
        ]


def describe_knowledge_base(engine: Engine, kb_name: str) -> KbDetails:
    """The KB's version and its documents with passage counts."""
    with Session(engine) as session:
        kb = _require_kb(session, kb_name)
        counts = _count_by(session, col(KbPassage.document_id), where=col(KbPassage.kb_id) == kb.id)
        rows = session.execute(
            select(
                col(KbDocument.id),
                col(KbDocument.source),
                col(KbDocument.format),
                col(KbDocument.title),
                col(KbDocument.content_hash),
                func.length(col(KbDocument.text)),
            )
            .where(col(KbDocument.kb_id) == kb.id)
            .order_by(col(KbDocument.source))
        ).all()
        documents = tuple(
            DocumentSummary(source, fmt, title, content_hash, counts.get(doc_id or 0, 0), chars or 0)
            for doc_id, source, fmt, title, content_hash, chars in rows
        )
        return KbDetails(kb.name, kb.version_hash, kb.created_at, kb.updated_at, documents)


def delete_knowledge_base(engine: Engine, kb_name: str) -> None:
    """Remove a KB with its documents and passages."""
    with Session(engine) as session:
        kb = _require_kb(session, kb_name)
        session.execute(delete(KbPassage).where(col(KbPassage.kb_id) == kb.id))
        session.execute(delete(KbDocument).where(col(KbDocument.kb_id) == kb.id))
        session.delete(kb)
        session.commit()
