"""The support bot's knowledge base: markdown files split into passages, and a small retriever.

Kept self-contained on purpose (a few dozen lines of term-overlap scoring) so the example runs
with nothing but the standard library; llmmon's own index lives in ``llmmon.knowledge``.
Table rows are turned into sentences ("Saturday: 11:00 AM – 6:00 PM.") so they can be quoted.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

__all__ = ["KB_DIR", "KnowledgeBase", "Passage", "load_knowledge_base", "terms"]

KB_DIR = Path(__file__).parent / "kb"

_WORD = re.compile(r"[a-z0-9]+(?:[.,:][0-9]+)*|[\uac00-\ud7a3]+")
_STOP = frozenset(
    {
        "a", "an", "the", "is", "are", "do", "does", "of", "to", "in", "on", "at", "for", "and", "or", "my",
        "i", "you", "your", "we", "our", "can", "what", "how", "much", "when", "it", "its", "be", "with",
        "from", "by", "this", "that", "there", "which", "who",
    }
)  # fmt: skip


def terms(text: str) -> list[str]:
    """Lower-cased English words (crudely singularised) and Korean character bigrams."""
    result: list[str] = []
    for token in _WORD.findall(text.lower()):
        if "\uac00" <= token[0] <= "\ud7a3":
            result.extend(token[i : i + 2] for i in range(max(1, len(token) - 1)))
        elif token not in _STOP:
            result.append(token[:-1] if len(token) > 3 and token.endswith("s") else token)
    return result


@dataclass(frozen=True)
class Passage:
    """One section of one document: where it comes from and its text."""

    source: str  # e.g. "returns#Return window"
    language: str  # "en" | "ko"
    text: str


def _table_row_sentence(line: str) -> str | None:
    cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
    if len(cells) < 2 or all(set(cell) <= set("-: ") for cell in cells):
        return None
    return f"{cells[0]}: {' '.join(cells[1:])}."


def _passages_of(path: Path) -> list[Passage]:
    language = "ko" if path.name.endswith(".ko.md") else "en"
    doc = path.name.removesuffix(".md").removesuffix(".ko")
    passages: list[Passage] = []
    heading = ""
    lines: list[str] = []
    header_row_skipped = False

    def close() -> None:
        text = " ".join(line for line in lines if line).strip()
        if text:
            passages.append(
                Passage(source=f"{doc}#{heading}" if heading else doc, language=language, text=text)
            )

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("## "):
            close()
            heading, lines, header_row_skipped = line[3:].strip(), [], False
        elif line.startswith("# "):
            continue
        elif line.startswith("|"):
            sentence = _table_row_sentence(line)
            if sentence is not None and header_row_skipped:
                lines.append(sentence)
            header_row_skipped = True
        else:
            lines.append(re.sub(r"\*\*|^- ", "", line))
    close()
    return passages


class KnowledgeBase:
    """Passages with a precomputed term index; ``search`` ranks them by tf-idf overlap."""

    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages
        self._terms = [Counter(terms(p.source.split("#")[-1] + " " + p.text)) for p in passages]
        document_frequency: Counter[str] = Counter()
        for counts in self._terms:
            document_frequency.update(counts.keys())
        self._idf = {t: math.log(1 + len(passages) / df) for t, df in document_frequency.items()}

    def search(self, query: str, *, k: int = 3) -> list[tuple[Passage, float]]:
        """The ``k`` best passages for ``query`` with their scores (best first, score > 0)."""
        wanted = set(terms(query))
        scored = []
        for passage, counts in zip(self.passages, self._terms, strict=True):
            score = sum(self._idf[t] * (1 + math.log(counts[t])) for t in wanted if t in counts)
            if score > 0:
                scored.append((passage, score))
        scored.sort(key=lambda item: -item[1])
        return scored[:k]


def load_knowledge_base(directory: Path = KB_DIR) -> KnowledgeBase:
    """Every ``*.md`` file under ``directory`` as passages."""
    passages = [p for path in sorted(directory.glob("*.md")) for p in _passages_of(path)]
    return KnowledgeBase(passages)
