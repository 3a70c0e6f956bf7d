"""Knowledge-base retrieval benchmark: index load time and queries/second at 1k, 10k and 100k passages.

    .venv/bin/python benchmarks/bench_kb_retrieval.py [--queries 2000] [--skip-100k]

Passages are synthesised at run time from the HaluEval QA ``knowledge`` fields in
``../shared/datasets/halueval/qa_data.json`` (nothing is copied into the repository):
1k and 10k are the first knowledge paragraphs; 100k adds 90k passages that each join two
sentences drawn at random (fixed seed) from the whole set. Queries are the HaluEval
questions and hallucinated answers, i.e. claim-shaped text.

Baseline (measured in the same run): a linear scan that counts shared terms between the
query and every passage (set intersection over pre-tokenised passages). Its cost grows with
the corpus; BM25 over bm25s's sparse matrix touches only the postings of the query's terms.

Targets (issue 3): index load < 2 s for 10k passages; retrieval cheap enough for tier 1 to
reach >= 500 answers/s with a 10k-passage KB (so one search well under ~0.5 ms).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmmon.knowledge.index import IndexCache, KnowledgeIndex, load_index  # noqa: E402
from llmmon.knowledge.ingest import parse_document  # noqa: E402
from llmmon.knowledge.passage import Passage, make_passage_id  # noqa: E402
from llmmon.knowledge.store import ingest_documents  # noqa: E402
from llmmon.knowledge.tokenize import tokenize  # noqa: E402
from llmmon.storage.engine import make_engine  # noqa: E402
from llmmon.storage.migrate import upgrade_database  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets" / "halueval" / "qa_data.json"
CLAIMS_PER_ANSWER = 3  # a typical support answer has 1-5 claims; tier 1 searches once per claim


def _rows() -> list[dict[str, str]]:
    if not DATA.exists():
        sys.exit(f"data not found: {DATA} (see ../shared/datasets/halueval/README.md)")
    with DATA.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _passages(texts: list[str]) -> list[Passage]:
    return [
        Passage(
            make_passage_id("bench", "halueval", str(i), 0, len(t), t), "halueval", 0, len(t), t, "", str(i)
        )
        for i, t in enumerate(texts)
    ]


def _corpora(rows: list[dict[str, str]], sizes: list[int]) -> dict[int, list[str]]:
    knowledge = [r["knowledge"] for r in rows]
    sentences = [s for text in knowledge for s in re.split(r"(?<=[.!?])\s+", text) if len(s) > 20]
    rng = random.Random(20241126)
    corpora: dict[int, list[str]] = {}
    for size in sizes:
        texts = knowledge[:size]
        while len(texts) < size:
            texts.append(f"{rng.choice(sentences)} {rng.choice(sentences)}")
        corpora[size] = texts
    return corpora


def _time_queries(index: KnowledgeIndex, queries: list[str], *, k: int = 5) -> float:
    """Queries per second, best of three rounds (the machine is shared)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for query in queries:
            index.search(query, k=k)
        best = min(best, time.perf_counter() - start)
    return len(queries) / best


def _time_linear_scan(texts: list[str], queries: list[str]) -> float:
    token_sets = [set(tokenize(t)) for t in texts]
    query_sets = [set(tokenize(q)) for q in queries]
    start = time.perf_counter()
    for terms in query_sets:
        scores = [len(terms & doc) for doc in token_sets]
        sorted(range(len(scores)), key=scores.__getitem__, reverse=True)[:5]
    return len(queries) / (time.perf_counter() - start)


def _time_load(texts: list[str]) -> tuple[float, float, float]:
    """(ingest s, cold load_index s, warm load_index s) through a real SQLite file."""
    jsonl = "\n".join(json.dumps({"id": i, "text": t}) for i, t in enumerate(texts))
    document = parse_document(jsonl, source="halueval.jsonl", format="jsonl")
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            upgrade_database(engine)
            start = time.perf_counter()
            ingest_documents(engine, "bench", [document])
            ingest_s = time.perf_counter() - start
            cache = IndexCache()
            start = time.perf_counter()
            index = load_index(engine, "bench", cache=cache)
            cold_s = time.perf_counter() - start
            start = time.perf_counter()
            assert load_index(engine, "bench", cache=cache) is index
            warm_s = time.perf_counter() - start
        finally:
            engine.dispose()
    return ingest_s, cold_s, warm_s


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queries", type=int, default=2000, help="number of queries per size")
    parser.add_argument("--skip-100k", action="store_true", help="only 1k and 10k passages")
    args = parser.parse_args()

    rows = _rows()
    sizes = [1_000, 10_000] if args.skip_100k else [1_000, 10_000, 100_000]
    corpora = _corpora(rows, sizes)
    queries = [q for r in rows[: args.queries // 2] for q in (r["question"], r["hallucinated_answer"])]

    print(f"KB retrieval benchmark: {len(queries)} queries, k=5, data {DATA.name}")
    print()
    header = (
        f"{'passages':>9} {'build s':>8} {'queries/s':>10} {'us/query':>9} {'scan q/s':>9} {'speedup':>8}"
    )
    print(header)
    print("-" * len(header))
    results: dict[int, float] = {}
    for size in sizes:
        passages = _passages(corpora[size])
        start = time.perf_counter()
        index = KnowledgeIndex(passages, name="bench")
        build_s = time.perf_counter() - start
        qps = _time_queries(index, queries)
        # The scan is slow at 100k; a sample of queries is enough for its rate.
        scan_qps = _time_linear_scan(corpora[size], queries[: max(20, 200_000 // size)])
        results[size] = qps
        speedup = qps / scan_qps
        print(
            f"{size:>9,} {build_s:>8.2f} {qps:>10,.0f} {1e6 / qps:>9.0f} {scan_qps:>9,.0f} {speedup:>7.1f}x"
        )

    print()
    print("Cost growth (time per query relative to 1k passages):")
    for size in sizes[1:]:
        growth = results[sizes[0]] / results[size]
        print(f"  {size // sizes[0]:>4}x passages -> {growth:5.2f}x time per query")

    print()
    ingest_s, cold_s, warm_s = _time_load(corpora[10_000])
    verdict = "PASS" if cold_s < 2 else "FAIL"
    print(f"10k passages via SQLite: ingest {ingest_s:.2f} s")
    print(
        f"  load_index cold {cold_s:.2f} s (target < 2 s: {verdict}); warm {warm_s * 1000:.2f} ms (cache hit)"
    )
    per_answer = CLAIMS_PER_ANSWER / results[10_000]
    print(f"Retrieval ceiling at 10k: {1 / per_answer:,.0f} answers/s at {CLAIMS_PER_ANSWER} searches/answer")
    print(f"  ({1e6 / results[10_000]:.0f} us/search; tier-1 target 500 answers/s allows 2,000 us/answer)")


if __name__ == "__main__":
    main()
