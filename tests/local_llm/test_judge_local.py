"""The judge and the OpenAI integration against a real llama-server running gemma3-270m.

gemma3-270m is a small *base* model: it cannot judge. These tests check the plumbing
only -- schema-constrained output parsed and valid, usage and latency recorded, eval
spans, determinism at temperature 0, timeouts -- never whether a verdict is right.
"""

from __future__ import annotations

import jsonschema
import openai
import pytest

from llmmon.checks.judge import JudgeClient, load_judge_prompt
from llmmon.checks.llm_verifier import LlmClaimVerifier
from llmmon.checks.scorers import RelevanceScorer
from llmmon.checks.verdicts import Claim, Evidence
from llmmon.tracing.recorder import InMemoryRecorder
from tests.support.llama_server import LlamaServer

pytestmark = pytest.mark.local_llm

INPUTS = {"question": "When do you open on Saturday?", "answer": "We open at 10:00 on Saturdays."}


def _judge(server: LlamaServer, **options: object) -> JudgeClient:
    options.setdefault("max_tokens", 80)
    options.setdefault("timeout", 60.0)
    return JudgeClient(server.base_url, server.model, **options)  # type: ignore[arg-type]


def test_local_judge_output_is_schema_valid_and_traced_as_eval(
    llama_server: LlamaServer, spans: InMemoryRecorder
) -> None:
    relevance = load_judge_prompt("judge/relevance")
    with _judge(llama_server) as judge:
        result = judge.complete(relevance, INPUTS, use_cache=False)

    assert relevance.output_schema is not None
    jsonschema.validate(result.output, relevance.output_schema)
    assert result.attempts >= 1 and result.model == "gemma3-270m"
    assert result.usage["input_tokens"] > 50 and result.usage["output_tokens"] > 0
    (span,) = spans.spans
    assert span.is_eval and span.tags == ["eval", "judge"] and span.kind == "llm"
    assert span.usage == result.usage
    assert span.latency_ms is not None and span.latency_ms > 0
    assert (span.prompt_name, span.prompt_hash) == ("judge/relevance", relevance.hash)


def test_local_judge_is_deterministic_at_temperature_zero(llama_server: LlamaServer) -> None:
    relevance = load_judge_prompt("judge/relevance")
    with _judge(llama_server) as judge:
        first = judge.complete(relevance, INPUTS, use_cache=False)
        second = judge.complete(relevance, INPUTS, use_cache=False)
    assert first.raw_text == second.raw_text and first.usage == second.usage


def test_local_scorer_returns_a_score_not_an_exception(llama_server: LlamaServer) -> None:
    with _judge(llama_server) as judge:
        score = RelevanceScorer(judge).score(**INPUTS)
    assert score.status == "scored"  # the grammar guarantees the shape, whatever the model thinks
    assert score.value is not None and 0.0 <= score.value <= 1.0 and score.passed is not None


def test_local_claim_verifier_returns_a_checked_verdict(llama_server: LlamaServer) -> None:
    evidence = [Evidence("hours#1", "store-hours.md", 0, 28, "Sunday: open 11:00 to 17:00.")]
    with _judge(llama_server, max_tokens=120) as judge:
        verdict = LlmClaimVerifier(judge).verify(Claim("We open at 9 AM on Sundays.", 0, 27), evidence)
    assert verdict.tier == "llm" and verdict.verdict in ("supported", "contradicted", "unverifiable")
    if verdict.verdict != "unverifiable":  # a cited quote must be real text of the cited passage
        (cited,) = verdict.evidence
        assert cited.quote and cited.quote in cited.text


def test_local_judge_timeout_is_unscored_after_a_retry(llama_server: LlamaServer) -> None:
    with _judge(llama_server, timeout=0.05, max_retries=1, backoff_base_s=0.01, max_tokens=60) as judge:
        score = RelevanceScorer(judge).score(**INPUTS)
    assert (score.status, score.value, score.passed) == ("unscored", None, None)
    assert score.error is not None and "timed out after 0.05s" in score.error and "2 call(s)" in score.error


def test_local_wrap_openai_streaming_records_usage_and_latency(
    llama_server: LlamaServer, spans: InMemoryRecorder
) -> None:
    from llmmon.tracing.integrations.openai import wrap_openai

    client = wrap_openai(openai.OpenAI(base_url=llama_server.base_url, api_key="unused", timeout=60))
    try:
        stream = client.chat.completions.create(
            model=llama_server.model,
            messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=16,
            temperature=0,
            stream=True,
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
    finally:
        client.close()

    assert text
    (span,) = spans.spans
    assert span.kind == "llm" and not span.is_eval and span.status == "ok"
    assert span.usage is not None and span.usage["input_tokens"] > 0
    assert 0 < span.usage["output_tokens"] <= 16
    assert not span.tokens_estimated  # real usage from include_usage, not a tiktoken estimate
    assert span.ttft_ms is not None and span.latency_ms is not None and 0 < span.ttft_ms <= span.latency_ms
