"""Benchmark: the eval runner's own overhead per case, and 1,000 cases with a cached judge.

Run: ``.venv/bin/python benchmarks/bench_eval_runner.py [--cases 1000]``.

Rows:

1. baseline: the target called directly in a loop, plus the same deterministic assertions;
2. the runner, concurrency 1, same target and assertions, spans written to a SQLite file by the
   real recorder: (runner time − baseline time) / cases is the runner's overhead per case
   (scheduling, thread hand-off, root span, span collection, usage, results);
3. 1,000 cases with a ``judge`` assertion per case against a cached judge (the real JudgeClient
   over a recorded endpoint, its DB cache warmed by a first pass), concurrency 8.

Targets (issue 4): overhead ≤ 5 ms per case; row 3 under 30 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import llmmon
from llmmon.checks.judge import JudgeClient
from llmmon.config import Settings
from llmmon.evals.assertions import evaluate_assertions
from llmmon.evals.results import Observation
from llmmon.evals.runner import EvalRunner, RunOptions
from llmmon.evals.scoring import build_scorers
from llmmon.evals.suite import EvalSuite, load_suite
from llmmon.evals.targets import CallableEvalTarget, case_input
from llmmon.evals.usage import SpanCollector
from llmmon.storage.engine import make_engine
from llmmon.storage.migrate import upgrade_database
from llmmon.tracing.recorder import QueueRecorder

TARGET = "benchmarks.bench_eval_runner:local_target"


def local_target(question: str) -> str:
    """A local chatbot stand-in: a little string work, no I/O."""
    return f"We open at 9am. {question.upper()[:40]}"


def _suite(directory: Path, cases: int, *, judge: bool) -> EvalSuite:
    extra = "      - {type: judge, rubric: helpfulness}\n" if judge else ""
    lines = [f"name: bench-{'judge' if judge else 'plain'}", f"target: {TARGET}", "cases:"]
    for i in range(cases):
        lines.append(
            f"  - id: c{i}\n    input: 'When do you open on day {i}?'\n    assertions:\n"
            f"      - {{type: contains, value: '9am'}}\n      - {{type: regex, pattern: 'open'}}\n{extra}"
        )
    path = directory / f"bench-{judge}.yaml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return load_suite(path)


def _judge_handler(request: httpx.Request) -> httpx.Response:
    content = json.dumps({"reason": "Answers the question.", "score": 4})
    return httpx.Response(
        200,
        json={
            "id": "j", "object": "chat.completion", "created": 0, "model": "judge",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 80, "completion_tokens": 12, "total_tokens": 92},
        },
    )  # fmt: skip


def _direct(suite: EvalSuite) -> float:
    started = time.perf_counter()
    for case in suite.cases:
        output = local_target(str(case_input(case)))
        started_call = time.perf_counter()
        observation = Observation(output=output, latency_ms=(time.perf_counter() - started_call) * 1000)
        evaluate_assertions(suite.assertions_for(case), case=case, observation=observation)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        settings = Settings(database_url=f"sqlite:///{directory / 'bench.db'}")
        engine = make_engine(settings.database_url)
        upgrade_database(engine)
        collector = SpanCollector(QueueRecorder(settings))
        llmmon.configure(settings, recorder=collector)
        target = CallableEvalTarget(TARGET)
        plain = _suite(directory, args.cases, judge=False)

        direct = min(_direct(plain) for _ in range(3))
        runs = []
        for _ in range(3):
            runner = EvalRunner(plain, target, run_id="bench", options=RunOptions(concurrency=1), collector=collector)
            started = time.perf_counter()
            outcome = runner.run()
            runs.append(time.perf_counter() - started)
            assert len(outcome.trials) == args.cases and outcome.results.cases[0].verdicts == ("passed",)
        runner_time = min(runs)
        overhead_ms = (runner_time - direct) / args.cases * 1000

        judged = _suite(directory, args.cases, judge=True)
        http_client = httpx.Client(transport=httpx.MockTransport(_judge_handler))
        judge = JudgeClient("http://127.0.0.1:9/v1", "judge", http_client=http_client, cache_engine=engine,
                            max_concurrency=8)  # fmt: skip
        setup = build_scorers(judged, judge=judge)
        options = RunOptions(concurrency=8)
        EvalRunner(judged, target, run_id="warm", options=options, scorers=setup.scorers, collector=collector).run()
        started = time.perf_counter()
        outcome = EvalRunner(
            judged, target, run_id="cached", options=options, scorers=setup.scorers, collector=collector
        ).run()
        judged_time = time.perf_counter() - started
        judge_scores = [s for t in outcome.trials for s in t.result.scores if s.name == "judge:helpfulness"]
        cached = sum(bool(s.details.get("cached")) for s in judge_scores)
        flushed = llmmon.flush(30)
        llmmon.shutdown()
        http_client.close()
        engine.dispose()

    print(f"cases: {args.cases}")
    print(
        f"baseline (target + assertions in a plain loop): {direct * 1000:9.1f} ms  "
        f"({direct / args.cases * 1e6:.1f} µs/case)"
    )
    print(f"runner, concurrency 1, traced + stored spans:     {runner_time * 1000:9.1f} ms  "
          f"({runner_time / args.cases * 1e6:.1f} µs/case)  ratio {runner_time / direct:.1f}x")  # fmt: skip
    verdict = "OK" if overhead_ms <= 5 else "OVER"
    print(f"runner overhead per case: {overhead_ms:.3f} ms  (target ≤ 5 ms: {verdict})")
    print(f"{args.cases} cases + cached judge, concurrency 8: {judged_time:.2f} s  "
          f"({cached}/{len(judge_scores)} judge verdicts from the cache; target < 30 s: "
          f"{'OK' if judged_time < 30 else 'OVER'})")  # fmt: skip
    print(f"spans written: {flushed.written}, pending {flushed.pending}, dropped {flushed.dropped}")


if __name__ == "__main__":
    main()
