"""Tier-1 fact-check throughput: answers/second with 1k, 10k (and 100k) passage knowledge bases.

    .venv/bin/python benchmarks/bench_factcheck.py [--answers 2000] [--with-100k]

Passages are the HaluEval QA ``knowledge`` paragraphs from ``../shared/datasets`` (read at run time,
nothing copied); 100k repeats them with a numbered suffix so every passage is distinct. Answers are
HaluEval's right and hallucinated answers with their questions (claim splitting, retrieval per claim,
quantity/day/polarity/entity checks -- everything tier 1 does). Baseline measured in the same run:
one bare ``index.search`` per answer, i.e. what retrieval alone costs. Target (issue 3): >= 500
answers/s single process with a 10,000-passage KB, *cold* (a freshly built index whose passages
have never been parsed) as well as warm (the same answers again: parsed passages are cached per
index). Each clause's quantities, days and polarity are worked out only when a claim needs them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmmon.checks.factcheck import FactChecker  # noqa: E402
from llmmon.knowledge.index import index_from_passages  # noqa: E402
from llmmon.knowledge.passage import Passage, make_passage_id  # noqa: E402

QA = ROOT.parent / "shared" / "datasets" / "halueval" / "qa_data.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--answers", type=int, default=2000)
    parser.add_argument("--with-100k", action="store_true")
    args = parser.parse_args()
    rows = [json.loads(line) for line in QA.open(encoding="utf-8")]
    knowledge = [r["knowledge"] for r in rows]
    answers = [(r["question"], a) for r in rows for a in (r["right_answer"], r["hallucinated_answer"])]
    answers = answers[: args.answers]
    sizes = [1_000, 10_000] + ([100_000] if args.with_100k else [])
    print("| passages | index build s | tier-1 answers/s cold | warm | bare search/s (baseline) | cold ratio ", end="")
    print("| warm ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        texts = [knowledge[i % len(knowledge)] + ("" if i < len(knowledge) else f" ({i})") for i in range(size)]
        started = time.perf_counter()
        index = index_from_passages(
            Passage(make_passage_id("bench", f"k{i}", None, 0, len(t), t), f"k{i}", 0, len(t), t)
            for i, t in enumerate(texts)
        )
        build = time.perf_counter() - started
        checker = FactChecker(index)
        started = time.perf_counter()
        for question, answer in answers:  # cold: a new index, so every passage is cut into clauses on first use
            checker.check(answer, question=question)
        cold = len(answers) / (time.perf_counter() - started)
        started = time.perf_counter()
        for question, answer in answers:  # warm: parsed passages are cached, as in a running monitor
            checker.check(answer, question=question)
        rate = len(answers) / (time.perf_counter() - started)
        started = time.perf_counter()
        for _question, answer in answers:
            index.search(answer, k=5)
        search_rate = len(answers) / (time.perf_counter() - started)
        print(
            f"| {size:,} | {build:.2f} | {cold:,.0f} | {rate:,.0f} | {search_rate:,.0f} "
            f"| {cold / search_rate:.3f} | {rate / search_rate:.3f} |"
        )


if __name__ == "__main__":
    main()
