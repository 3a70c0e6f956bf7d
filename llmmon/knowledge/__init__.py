"""The knowledge base: documents -> passages (ingest), persistence (store), BM25 retrieval (index).

from llmmon.knowledge import ingest_paths, load_index

ingest_paths(engine, "support", [Path("docs/")])     # unchanged files are a no-op
index = load_index(engine, "support")                # cached per KB version hash
evidence = index.search("2024년 한국의 GDP는 약 2.1조 달러입니다.", k=5)
"""

from llmmon.knowledge.index import (
    IndexCache,
    KnowledgeIndex,
    index_from_passages,
    index_from_paths,
    load_index,
)
from llmmon.knowledge.ingest import (
    ParsedDocument,
    SkippedFile,
    collect_documents,
    parse_document,
    read_document,
)
from llmmon.knowledge.passage import Passage
from llmmon.knowledge.store import (
    IngestReport,
    delete_knowledge_base,
    describe_knowledge_base,
    ingest_documents,
    ingest_paths,
    kb_version,
    list_knowledge_bases,
    load_passages,
)

__all__ = [
    "IndexCache",
    "IngestReport",
    "KnowledgeIndex",
    "ParsedDocument",
    "Passage",
    "SkippedFile",
    "collect_documents",
    "delete_knowledge_base",
    "describe_knowledge_base",
    "index_from_passages",
    "index_from_paths",
    "ingest_documents",
    "ingest_paths",
    "kb_version",
    "list_knowledge_bases",
    "load_index",
    "load_passages",
    "parse_document",
    "read_document",
]
