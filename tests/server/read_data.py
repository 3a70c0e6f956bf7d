"""A small, fully known data set for the read API tests: traces, claim checks, feedback, eval runs, a KB."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert

from llmmon.knowledge.store import ingest_paths
from llmmon.storage.ingest import insert_span_rows
from llmmon.storage.models import AnswerCheck, ClaimCheck, KbPassage
from llmmon.storage.models.evals import EvalResult, EvalRun
from llmmon.storage.models.server import Feedback
from tests.support.spans import span_row

NOW = datetime.now(UTC).replace(microsecond=0)
KB_DIR = Path(__file__).resolve().parents[2] / "examples" / "support_bot" / "kb"


@dataclass
class Seeded:
    """What was inserted, so tests compute expectations independently of the code under test."""

    roots: list[dict[str, object]] = field(default_factory=list)
    llm: list[dict[str, object]] = field(default_factory=list)
    hallucinated: set[str] = field(default_factory=set)
    checked: set[str] = field(default_factory=set)
    down: set[str] = field(default_factory=set)
    voted: set[str] = field(default_factory=set)
    cited_passage: str = ""
    kb_id: int = 0


def _row(**values: object) -> dict[str, object]:
    start, latency = values.pop("start_time"), values.pop("latency_ms")
    assert isinstance(start, datetime) and isinstance(latency, float | int)
    return span_row(start_time=start, latency_ms=latency, **values)


def seed(engine: Engine, *, traces: int = 60) -> Seeded:
    """Traces over three days (two prompt versions, two models), checks, votes, a KB and two eval runs."""
    data = Seeded()
    spans: list[dict[str, object]] = []
    for i in range(traces):
        trace_id = uuid.uuid4().hex
        start = NOW - timedelta(days=i % 3, minutes=10 + i)
        version = "v1" if i % 2 else "v2"
        model = "gpt-4o-mini" if i % 3 else "gpt-4.1"
        failed = i % 7 == 0
        question = f"How much is product {i}?" if i % 5 else "When do you open on Sunday?"
        root = _row(
            trace_id=trace_id,
            name="answer" if i % 4 else "lookup_order",
            start_time=start,
            latency_ms=100.0 + 13 * i,
            status="error" if failed else "ok",
            error_type="RuntimeError" if failed else None,
            user_id=f"user-{i % 5}",
            session_id=f"s-{i % 11}",
            input=json.dumps({"question": question}),
            output=json.dumps(f"Answer number {i}"),
            prompt_name="support-answer",  # prompt.render() stamps the traced function's span ...
            prompt_version=version,
        )
        llm = _row(
            trace_id=trace_id,
            parent_span_id=root["span_id"],
            name="chat",
            kind="llm",
            start_time=start + timedelta(milliseconds=5),
            latency_ms=80.0 + 11 * i,
            model=model,
            prompt_name="support-answer",  # ... and the LLM call started after it
            prompt_version=version,
            input_tokens=100 + i,
            output_tokens=20 + i,
            total_tokens=120 + 2 * i,
            cost_usd=0.001 * (i + 1),
        )
        data.roots.append(root)
        data.llm.append(llm)
        spans += [root, llm]
    with engine.begin() as connection:
        insert_span_rows(connection, spans)  # the production write path: fills the roll-ups too
    ingest_paths(engine, "support", [KB_DIR])
    with engine.begin() as connection:
        passage = connection.execute(KbPassage.__table__.select().limit(1)).mappings().one()  # type: ignore[attr-defined]
        data.cited_passage, data.kb_id = passage["passage_id"], passage["kb_id"]
        evidence = json.dumps(
            [{"passage_id": passage["passage_id"], "doc": "x.md", "start": passage["start"],
              "end": passage["end"], "text": passage["text"]}]
        )  # fmt: skip
        for i, root in enumerate(data.roots[:12]):
            trace_id = str(root["trace_id"])
            bad = i % 3 == 0
            answer_id = connection.execute(
                insert(AnswerCheck).values(
                    trace_id=trace_id,
                    kb_name="support",
                    verdict="hallucinated" if bad else "supported",
                    score=1.0 if bad else 0.0,
                    created_at=NOW,
                )
            ).inserted_primary_key[0]
            connection.execute(
                insert(ClaimCheck).values(
                    answer_check_id=answer_id,
                    trace_id=trace_id,
                    text=f"Claim {i} costs $99.",
                    start=0,
                    end=10,
                    verdict="contradicted" if bad else "supported",
                    tier="deterministic",
                    evidence=evidence,
                    reason="price differs" if bad else "matches",
                )
            )
            data.checked.add(trace_id)
            if bad:
                data.hallucinated.add(trace_id)
        for i, root in enumerate(data.roots[20:32]):
            trace_id = str(root["trace_id"])
            down = i % 4 == 0
            connection.execute(
                insert(Feedback).values(
                    trace_id=trace_id,
                    user_key="u",
                    user_id="u",
                    value="down" if down else "up",
                    score=-1.0 if down else 1.0,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            data.voted.add(trace_id)
            if down:
                data.down.add(trace_id)
        _seed_evals(connection)
    return data


def _seed_evals(connection: object) -> None:
    runs = [("run-base", True, ["passed", "passed", "failed"]), ("run-cand", False, ["failed", "passed", "passed"])]
    for offset, (run_id, baseline, verdicts) in enumerate(runs):
        connection.execute(  # type: ignore[attr-defined]
            insert(EvalRun).values(
                id=run_id,
                suite_name="support_bot",
                suite_hash="h",
                case_hashes="{}",
                target_label="examples.support_bot.bot:answer",
                target_fingerprint="f",
                label=run_id,
                judge_prompt_hashes="{}",
                llmmon_version="0.1.0",
                started_at=NOW - timedelta(hours=2 - offset),
                status="complete",
                is_baseline=baseline,
                passed=verdicts.count("passed"),
                failed=verdicts.count("failed"),
                decision="pass" if baseline else "regression",
            )
        )
        for case_index, verdict in enumerate(verdicts):
            connection.execute(  # type: ignore[attr-defined]
                insert(EvalResult).values(
                    run_id=run_id,
                    case_id=f"case-{case_index}",
                    case_hash="c",
                    output_key=f"{run_id}-{case_index}",
                    output=f"{run_id} output {case_index}",
                    scores="[]",
                    verdict=verdict,
                    created_at=NOW,
                )
            )
