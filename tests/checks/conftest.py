"""Fixtures of the fact-check tests: the demo support-bot KB, indexed for real (bm25s), once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmmon.knowledge.index import KnowledgeIndex, index_from_passages, index_from_paths
from llmmon.knowledge.passage import Passage, make_passage_id

SUPPORT_KB = Path(__file__).resolve().parents[2] / "examples" / "support_bot" / "kb"


@pytest.fixture(scope="session")
def support_index() -> KnowledgeIndex:
    """The support-bot KB (store hours, prices in $ and 원, policies; English and Korean)."""
    return index_from_paths([SUPPORT_KB], name="support")


def passages_index(*texts: str, name: str = "t") -> KnowledgeIndex:
    """An index over one passage per text (doc ``doc<i>.md``)."""
    passages = [
        Passage(make_passage_id(name, f"doc{i}.md", None, 0, len(t), t), f"doc{i}.md", 0, len(t), t)
        for i, t in enumerate(texts)
    ]
    return index_from_passages(passages, name=name)
