"""The passage value shared by ingestion, storage and the index, and its stable id."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = ["Passage", "make_passage_id"]


def make_passage_id(kb_name: str, source: str, record_id: str | None, start: int, end: int, text: str) -> str:
    """A 32-hex-digit id derived from where the passage is and what it says.

    Re-ingesting identical content yields identical ids, so verdicts stored yesterday still
    point at the same passage today; any change to the text or its position yields a new id.
    """
    material = "\x1f".join((kb_name, source, record_id or "", str(start), str(end), text))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Passage:
    """A retrievable span of a document.

    ``text == document_text[start:end]``, where the document text is the stored (newline-
    normalised) text of ``source``, or the text of record ``record_id`` for JSONL and CSV.
    """

    passage_id: str
    source: str
    start: int
    end: int
    text: str
    title: str = ""
    record_id: str | None = None

    @property
    def doc(self) -> str:
        """The name an evidence citation shows: the source, plus ``#record`` for JSONL/CSV records."""
        return self.source if self.record_id is None else f"{self.source}#{self.record_id}"
