"""OOD flags: questions from another domain, odd lengths and unseen scripts; no burst on normal traffic."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import Engine

from llmmon.errors import ConfigError
from llmmon.knowledge.index import index_from_passages
from llmmon.knowledge.passage import Passage
from llmmon.monitor.ood import detect_ood
from llmmon.monitor.windows import Window
from tests.monitor.metrics_traffic import BASE, Trace, store

KB = [
    "Shipping within Korea costs 3,000 won and takes two days.",
    "Returns are accepted within 30 days with the receipt.",
    "Our stores open at 10 am and close at 9 pm.",
    "Passwords can be reset from the account settings page.",
]
SHOP = [
    "How much does shipping cost?",
    "Can I return shoes within 30 days?",
    "When do stores open?",
    "How do I reset my password?",
    "How long does shipping take?",
]
OTHER = ["What is the capital of Mongolia?", "Explain quantum entanglement simply", "Write a poem about autumn leaves"]
DAY = timedelta(days=1)


def _traffic(seed: int, day: int, questions: list[str], n: int = 200) -> list[Trace]:
    rng = np.random.default_rng(seed)
    return [
        Trace(
            trace_id=f"{seed:04x}{i:028x}",
            start=BASE + day * DAY + timedelta(seconds=float(rng.uniform(0, 86000))),
            latency_ms=500.0,
            question=questions[int(rng.integers(0, len(questions)))],
        )
        for i in range(n)
    ]


def test_ood_flags_other_domain_questions_and_a_burst(engine: Engine) -> None:
    index = index_from_passages(
        [Passage(passage_id=f"p{i}", source="kb.md", start=0, end=len(t), text=t) for i, t in enumerate(KB)]
    )
    burst = [
        *_traffic(3, 2, OTHER, n=40),
        Trace(
            trace_id="f" * 32,
            start=BASE + 2 * DAY + timedelta(hours=1),
            latency_ms=1.0,
            question="배송비는 얼마인가요?",
        ),
    ]
    store(engine, _traffic(1, 0, SHOP) + _traffic(2, 1, SHOP) + _traffic(4, 2, SHOP, n=160) + burst, eval_noise=False)
    reference = Window(BASE, BASE + DAY)
    quiet = detect_ood(engine, reference=reference, current=Window(BASE + DAY, BASE + 2 * DAY), index=index)
    assert quiet.flags == [] and not quiet.burst
    report = detect_ood(engine, reference=reference, current=Window(BASE + 2 * DAY, BASE + 3 * DAY), index=index)
    flagged = {flag.trace_id: flag for flag in report.flags}
    other_ids = {t.trace_id for t in burst}
    assert set(flagged) == other_ids
    assert "unseen_language" in flagged["f" * 32].reasons
    assert all("no_kb_match" in flagged[t.trace_id].reasons for t in burst[:-1])
    assert report.burst and report.burst_p_value is not None and report.burst_p_value < 1e-6
    assert report.share == pytest.approx(41 / 201)


def test_ood_without_index_uses_length_and_language_and_needs_a_reference(engine: Engine) -> None:
    long_question = "Please " + "tell me everything about shipping " * 40
    store(
        engine,
        [
            *_traffic(5, 0, SHOP),
            Trace(trace_id="a" * 32, start=BASE + DAY, latency_ms=1.0, question=long_question),
            Trace(trace_id="b" * 32, start=BASE + DAY + timedelta(seconds=1), latency_ms=1.0, question=SHOP[0]),
        ],
        eval_noise=False,
    )
    report = detect_ood(engine, reference=Window(BASE, BASE + DAY), current=Window(BASE + DAY, BASE + 2 * DAY))
    assert [(f.trace_id, f.reasons) for f in report.flags] == [("a" * 32, ["unusual_length"])]
    with pytest.raises(ConfigError, match="no traffic"):
        detect_ood(engine, reference=Window(BASE - DAY, BASE), current=Window(BASE, BASE + DAY))
