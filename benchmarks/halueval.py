"""Tier-1 fact-check accuracy on HaluEval QA, HaluEval dialogue and Q² (Wizard of Wikipedia, human labels).

    .venv/bin/python benchmarks/halueval.py [--rows 2000] [--datasets qa,dialogue,q2] [--split heldout] [--judge]

Data is read from ``../shared/datasets`` at run time; nothing is copied into the repository
(the dialogue data is CC BY-NC). Protocol:

* HaluEval QA / dialogue: the first ``--rows`` rows; each row contributes its right and its
  hallucinated answer (balanced). The KB is every sampled row's ``knowledge`` as one passage,
  indexed together (so retrieval has to find the right one). The question (QA) or the last user
  turn (dialogue) is passed as ``question``.
* Two policies: ``kb_scope="closed"`` (the default: a claim stating a number, day or name that the
  KB does not back makes the answer hallucinated -- the support-bot case, where the KB is the
  authority) and ``kb_scope="open"`` (the KB is a sample of world knowledge: only contradictions
  with a passage about the same subject count).
* Q²: the four ``*_consistent`` / ``*_inconsistent`` files (600 responses, human labels); the KB is
  every row's knowledge sentence.
* Dev / held-out: every benchmark's rows (a HaluEval row with both its answers; a Q² turn, keyed by
  episode and round, with all its responses) are shuffled with a fixed seed and cut in half. The
  rules were tuned on ``--split dev`` only; the numbers in ``docs/fact-checking.md`` are
  ``--split heldout`` (the default). The KB always holds every sampled row's knowledge.

A response is predicted "hallucinated" when the answer verdict is ``hallucinated``; AUROC uses the
hallucination score. Trivial baselines from the dataset README are printed next to it (on QA the
answer form gives the label away: right answers are short spans, hallucinated ones full sentences).
With ``--judge`` (LLMMON_JUDGE_BASE_URL / LLMMON_JUDGE_MODEL) the LLM verifier settles what tier 1
cannot.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmmon.checks.factcheck import FactChecker  # noqa: E402
from llmmon.checks.verdicts import FactCheckResult  # noqa: E402
from llmmon.knowledge.index import KnowledgeIndex, index_from_passages  # noqa: E402
from llmmon.knowledge.passage import Passage, make_passage_id  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets"
SEED = 20261126


@dataclass(frozen=True)
class Case:
    question: str | None
    answer: str
    hallucinated: bool
    group: str = ""  # the row (turn) the case comes from: both halves of a split never share one


def split(cases: list[Case], part: str, *, seed: int = SEED) -> list[Case]:
    """The ``dev`` or ``heldout`` half of ``cases`` by group (``all``: every case), reproducibly."""
    if part == "all":
        return cases
    groups = sorted({c.group for c in cases})
    random.Random(seed).shuffle(groups)
    dev = set(groups[: len(groups) // 2])
    return [c for c in cases if (c.group in dev) == (part == "dev")]


def _index(name: str, texts: list[str]) -> KnowledgeIndex:
    unique = list(dict.fromkeys(t for t in texts if t.strip()))
    passages = [
        Passage(make_passage_id(name, f"k{i}", None, 0, len(t), t), f"k{i}", 0, len(t), t) for i, t in enumerate(unique)
    ]
    return index_from_passages(passages, name=name)


START = 0  # first data row read (``--start``): rows from 2000 on were never looked at while tuning


def _jsonl(path: Path, rows: int) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if number < START:
                continue
            if number >= START + rows:
                return
            yield json.loads(line)


def load_qa(rows: int) -> tuple[KnowledgeIndex, list[Case]]:
    data = list(_jsonl(DATA / "halueval" / "qa_data.json", rows))
    cases = [Case(r["question"], r["right_answer"], False, f"qa{i}") for i, r in enumerate(data)]
    cases += [Case(r["question"], r["hallucinated_answer"], True, f"qa{i}") for i, r in enumerate(data)]
    return _index("halueval-qa", [r["knowledge"] for r in data]), cases


def _last_user_turn(history: str) -> str:
    return history.rsplit("[Human]:", 1)[-1].split("[Assistant]:", 1)[0].strip()


def load_dialogue(rows: int) -> tuple[KnowledgeIndex, list[Case]]:
    data = list(_jsonl(DATA / "halueval" / "dialogue_data.json", rows))
    cases = [
        Case(_last_user_turn(r["dialogue_history"]), r["right_response"], False, f"d{i}") for i, r in enumerate(data)
    ]
    cases += [
        Case(_last_user_turn(r["dialogue_history"]), r["hallucinated_response"], True, f"d{i}")
        for i, r in enumerate(data)
    ]
    return _index("halueval-dialogue", [r["knowledge"] for r in data]), cases


def load_q2(rows: int) -> tuple[KnowledgeIndex, list[Case]]:
    cases: list[Case] = []
    knowledge: list[str] = []
    for system in ("dodeca", "memnet"):
        for label in ("consistent", "inconsistent"):
            with (DATA / "q2_wow" / f"{system}_{label}.csv").open(encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    group = f"{row['episode_idx']}/{row['round']}"
                    cases.append(Case(row["message"], row["response"], label == "inconsistent", group))
                    knowledge.append(row["knowledge"])
    return _index("q2-wow", knowledge), cases[: rows * 2] if rows < len(cases) // 2 else cases


def auroc(scores: list[float], labels: list[bool]) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied ranks averaged)."""
    from scipy.stats import rankdata

    ranks = rankdata(np.asarray(scores))
    positives = np.asarray(labels)
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def metrics(predicted: list[bool], labels: list[bool], scores: list[float] | None = None) -> dict[str, float]:
    tp = sum(p and g for p, g in zip(predicted, labels, strict=True))
    fp = sum(p and not g for p, g in zip(predicted, labels, strict=True))
    fn = sum(g and not p for p, g in zip(predicted, labels, strict=True))
    accuracy = sum(p == g for p, g in zip(predicted, labels, strict=True)) / len(labels)
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    result = {"accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1, "flagged": tp + fp}
    if scores is not None:
        result["auroc"] = auroc(scores, labels)
    return result


def evaluate(checker: FactChecker, cases: list[Case], *, show_errors: int = 0) -> tuple[dict[str, float], float]:
    predicted: list[bool] = []
    scores: list[float] = []
    errors: list[tuple[Case, FactCheckResult]] = []
    started = time.perf_counter()
    for case in cases:
        result = checker.check(case.answer, question=case.question)
        predicted.append(result.hallucinated)
        scores.append(result.score)
        if result.hallucinated and not case.hallucinated and len(errors) < show_errors:
            errors.append((case, result))
    elapsed = time.perf_counter() - started
    for case, result in errors:  # false alarms, for looking at the dev split
        print(f"  FALSE ALARM  q={case.question!r}\n    a={case.answer!r}", file=sys.stderr)
        for claim in result.claims:
            if claim.verdict != "supported":
                quote = claim.evidence[0].text[:160] if claim.evidence else ""
                print(f"    [{claim.verdict}] {claim.claim.text!r}: {claim.reason} | {quote!r}", file=sys.stderr)
    return metrics(predicted, [c.hallucinated for c in cases], scores), len(cases) / elapsed


BASELINES: dict[str, Callable[[str], bool]] = {
    "ends with a period": lambda a: a.rstrip().endswith("."),
    "more than 4 words": lambda a: len(a.split()) > 4,
}


def _row(name: str, m: dict[str, float], speed: float | None) -> str:
    auc = f"{m['auroc']:.3f}" if "auroc" in m else "–"
    rate = f"{speed:,.0f}" if speed else "–"
    flagged = int(m["flagged"])
    low = wilson_lower(m["precision"] * flagged, flagged) if flagged else float("nan")
    return (
        f"| {name} | {m['accuracy']:.3f} | {m['precision']:.3f} ({flagged:,}; ≥ {low:.2f}) | {m['recall']:.3f} "
        f"| {m['f1']:.3f} | {auc} | {rate} |"
    )


def wilson_lower(successes: float, n: int, z: float = 1.96) -> float:
    """Lower end of the 95 % Wilson interval of a proportion: precision on few flags is uncertain."""
    p = successes / n
    centre = p + z * z / (2 * n)
    margin = z * ((p * (1 - p) + z * z / (4 * n)) / n) ** 0.5
    return (centre - margin) / (1 + z * z / n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000, help="rows per HaluEval split (each gives 2 answers)")
    parser.add_argument("--datasets", default="qa,dialogue,q2")
    parser.add_argument("--judge", action="store_true", help="add tier 2 with the configured LLM judge")
    parser.add_argument("--split", choices=["dev", "heldout", "all"], default="heldout")
    parser.add_argument("--show-errors", type=int, default=0, help="print this many false alarms per run (stderr)")
    parser.add_argument(
        "--start", type=int, default=0,
        help="first HaluEval row to read; with --start 2000 --split all the rows are fresh (never used in tuning)",
    )  # fmt: skip
    args = parser.parse_args()
    global START
    START = args.start
    loaders = {"qa": load_qa, "dialogue": load_dialogue, "q2": load_q2}
    print("| dataset / method | accuracy | precision (flagged; 95 % lower) | recall | F1 | AUROC | answers/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in args.datasets.split(","):
        index, all_cases = loaders[name](args.rows)
        cases = split(all_cases, args.split)
        labels = [c.hallucinated for c in cases]
        with ExitStack() as stack:
            verifier = None
            if args.judge:
                from llmmon.checks.judge import JudgeClient
                from llmmon.checks.llm_verifier import LlmClaimVerifier
                from llmmon.config import Settings

                settings = Settings()
                judge = JudgeClient(settings.judge_base_url, settings.judge_model or "", settings.judge_api_key)
                stack.callback(judge.close)
                verifier = LlmClaimVerifier(judge)
            part = f"{name} {args.split} ({len(cases)})"
            for scope in ("closed", "open"):
                checker = FactChecker(index, kb_scope=scope)
                result, speed = evaluate(checker, cases, show_errors=args.show_errors)
                print(_row(f"{part} tier 1, kb_scope={scope}", result, speed))
                if verifier is not None:
                    both, speed2 = evaluate(FactChecker(index, verifier=verifier, kb_scope=scope), cases)
                    print(_row(f"{part} tier 1 + judge, kb_scope={scope}", both, speed2))
        for baseline, rule in BASELINES.items():
            print(
                _row(
                    f"{name} {args.split} baseline: {baseline}", metrics([rule(c.answer) for c in cases], labels), None
                )
            )


if __name__ == "__main__":
    main()
