"""Retrieval of evidence passages: a BM25 index (bm25s) over a knowledge base's passages.

    index = load_index(engine, "support")          # cached per KB version hash
    for evidence in index.search("When does the store open on Saturday?", k=3):
        print(evidence.score, evidence.doc, evidence.text)

The index is built in memory from the stored passages; building it for 10,000 passages takes
well under the 2 s budget, and :func:`load_index` reuses a built index for as long as the KB's
version hash is unchanged (one cheap query), so repeated loads are free. Each passage is indexed
with its title (the heading path), so "Saturday hours" finds a table under "Opening hours".
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path

import bm25s
import numpy as np
from sqlalchemy import Engine

from llmmon.checks.verdicts import Evidence
from llmmon.knowledge.ingest import DEFAULT_MAX_CHARS, collect_documents
from llmmon.knowledge.passage import Passage
from llmmon.knowledge.store import kb_version, load_passages, version_hash_of
from llmmon.knowledge.tokenize import tokenize

__all__ = ["IndexCache", "KnowledgeIndex", "index_from_passages", "index_from_paths", "load_index"]

logger = logging.getLogger("llmmon")


class KnowledgeIndex:
    """BM25 over a fixed set of passages. Immutable once built, so safe to share between threads."""

    def __init__(
        self,
        passages: Sequence[Passage],
        *,
        name: str = "",
        version_hash: str | None = None,
        warnings: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.version_hash = version_hash if version_hash is not None else _version_of(passages)
        self._passages = tuple(passages)
        self._by_id = {p.passage_id: p for p in self._passages}
        self._bm25: bm25s.BM25 | None = None
        self._vocab: dict[str, int] = {}
        self._doc_freq: np.ndarray | None = None
        all_warnings = list(warnings)
        if self._passages:
            corpus = [tokenize(f"{p.title}\n{p.text}") for p in self._passages]
            self._bm25 = bm25s.BM25()
            self._bm25.index(corpus, show_progress=False)
            self._vocab = dict(self._bm25.vocab_dict)
            self._vocab.pop("", None)  # bm25s's placeholder for empty documents is no term
        else:
            label = f"knowledge base {name!r}" if name else "the knowledge base"
            message = f"{label} is empty: every claim checked against it will be unverifiable"
            all_warnings.append(message)
            logger.warning("%s", message)
        self.warnings: tuple[str, ...] = tuple(all_warnings)

    def __len__(self) -> int:
        return len(self._passages)

    def __repr__(self) -> str:
        return f"KnowledgeIndex(name={self.name!r}, passages={len(self)}, version={self.version_hash[:12]})"

    @property
    def is_empty(self) -> bool:
        """True when there is nothing to retrieve: every claim will be unverifiable."""
        return not self._passages

    @property
    def passages(self) -> tuple[Passage, ...]:
        """All passages, in document and position order."""
        return self._passages

    def get(self, passage_id: str) -> Passage | None:
        """The passage with this id, or None."""
        return self._by_id.get(passage_id)

    def has_terms(self, text: str) -> bool:
        """True when every search term of ``text`` occurs somewhere in the KB (e.g. a product name).

        Stop words alone count as present; text with no terms at all is trivially present.
        """
        return all(token in self._vocab for token in tokenize(text))

    def document_frequency(self, text: str) -> int:
        """In how many passages the rarest search term of ``text`` occurs (0 if one never does).

        The fact checker uses it to tell a distinctive shared term (a name, a title) from a common
        one ("released", "store") before it lets a passage contradict a claim.
        """
        if self._bm25 is None:
            return 0
        if self._doc_freq is None:
            # bm25s keeps one sparse column per term: its length is the term's document frequency.
            self._doc_freq = np.diff(np.asarray(self._bm25.scores["indptr"]))
        ids = [self._vocab.get(token) for token in tokenize(text)]
        if not ids:
            return len(self._passages)  # stop words only: as common as it gets
        if any(i is None for i in ids):
            return 0
        return int(min(int(self._doc_freq[i]) for i in ids if i is not None))

    def search(self, query: str, *, k: int = 5) -> list[Evidence]:
        """The top ``k`` passages for ``query`` by BM25, best first; passages sharing no term are left out."""
        if self._bm25 is None or k <= 0:
            return []
        term_ids = sorted({self._vocab[t] for t in tokenize(query) if t in self._vocab})
        if not term_ids:
            return []
        scores = self._bm25.get_scores_from_ids(term_ids)
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > k:
            # argpartition keeps this O(n) in the corpus; only the k winners get sorted.
            top = np.argpartition(-scores[candidates], k - 1)[:k]
            candidates = candidates[top]
        # Best score first; ties by corpus position so results are deterministic.
        order = np.lexsort((candidates, -scores[candidates]))
        results: list[Evidence] = []
        for i in candidates[order]:
            passage = self._passages[int(i)]
            results.append(
                Evidence(
                    passage_id=passage.passage_id,
                    doc=passage.doc,
                    start=passage.start,
                    end=passage.end,
                    text=passage.text,
                    score=float(scores[i]),
                )
            )
        return results


def _version_of(passages: Iterable[Passage]) -> str:
    return version_hash_of((p.passage_id, "") for p in passages)


def index_from_passages(
    passages: Iterable[Passage], *, name: str = "", version_hash: str | None = None
) -> KnowledgeIndex:
    """An index over passages you already have (e.g. from :func:`load_passages` or a test)."""
    return KnowledgeIndex(list(passages), name=name, version_hash=version_hash)


def index_from_paths(
    paths: Iterable[Path],
    *,
    name: str = "temporary",
    text_column: str | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> KnowledgeIndex:
    """An index over files and directories read now, without the database (``factcheck --kb DIR``).

    Skipped files (binary, not UTF-8, unsupported) are logged and listed in ``index.warnings``.
    """
    collected = collect_documents(paths, text_column=text_column, max_chars=max_chars)
    warnings = [str(skipped) for skipped in collected.skipped]
    for message in warnings:
        logger.warning("knowledge base %r: %s", name, message)
    for document in collected.documents:
        warnings.extend(document.warnings)
    passages = [p for document in collected.documents for p in document.passages(name)]
    version = version_hash_of((d.source, d.content_hash) for d in collected.documents)
    return KnowledgeIndex(passages, name=name, version_hash=version, warnings=warnings)


class IndexCache:
    """Built indexes keyed by (KB name, version hash), least recently used dropped first.

    The key is content-derived, so a cached index is never stale: a changed KB has a new
    version hash and misses the cache.
    """

    def __init__(self, *, max_entries: int = 8) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], KnowledgeIndex] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, kb_name: str, version_hash: str) -> KnowledgeIndex | None:
        """The cached index of this KB version, if any."""
        with self._lock:
            index = self._entries.get((kb_name, version_hash))
            if index is not None:
                self._entries.move_to_end((kb_name, version_hash))
            return index

    def put(self, index: KnowledgeIndex) -> None:
        """Remember ``index`` under its name and version hash."""
        with self._lock:
            self._entries[(index.name, index.version_hash)] = index
            self._entries.move_to_end((index.name, index.version_hash))
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every cached index."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


# Process-wide by design: a server and its workers load the same KB again and again.
# Entries are keyed by content hash, so sharing one cache cannot serve stale data.
_SHARED_CACHE = IndexCache()


def load_index(engine: Engine, kb_name: str, *, cache: IndexCache | None = None) -> KnowledgeIndex:
    """The index of stored KB ``kb_name``; raises KnowledgeBaseError if no such KB exists.

    Pass ``cache`` to use your own :class:`IndexCache` (default: one shared by the process).
    """
    cache = _SHARED_CACHE if cache is None else cache
    cached = cache.get(kb_name, kb_version(engine, kb_name))
    if cached is not None:
        return cached
    version, passages = load_passages(engine, kb_name)
    index = KnowledgeIndex(passages, name=kb_name, version_hash=version)
    cache.put(index)
    return index
