"""evalsuites/support_bot.yaml: its coverage, its facts, and the demo bot against it (clean and faulty)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest

import llmmon
from examples.support_bot import bot as support_bot
from examples.support_bot.kb import KB_DIR
from examples.support_bot.responder import _bucket, is_price_faulty
from llmmon.checks.factcheck import FactChecker
from llmmon.checks.verdicts import Score
from llmmon.evals import EvalCase, EvalSuite, Observation, evaluate_assertions, load_suite
from llmmon.evals.suite import (
    CallableTarget,
    ContainsAssertion,
    CorrectAssertion,
    JudgeAssertion,
    NoHallucinationAssertion,
    NotContainsAssertion,
    NumberAssertion,
)
from llmmon.knowledge import index_from_paths
from llmmon.tracing.recorder import InMemoryRecorder

ROOT = Path(__file__).resolve().parents[2]
SUITE_PATH = ROOT / "evalsuites" / "support_bot.yaml"
KB_TEXT = "\n".join(path.read_text(encoding="utf-8") for path in sorted(KB_DIR.glob("*.md")))


def _input(case: EvalCase) -> str | list[dict[str, str]]:
    """What the callable target receives: the question, or the messages with their variables filled in."""
    if isinstance(case.input, str):
        return case.input
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    return [{"role": m.role, "content": env.from_string(m.content).render(**case.variables)} for m in case.input]


def _question(case: EvalCase) -> str:
    """The question the chatbot sees (a chat input's last user message, rendered)."""
    return support_bot.question_of(_input(case))


@pytest.fixture(scope="module")
def suite() -> EvalSuite:
    return load_suite(SUITE_PATH)


def _types(suite: EvalSuite, case: EvalCase) -> set[str]:
    return {a.type for a in suite.assertions_for(case)}


def test_support_suite_names_its_target_and_knowledge_base(suite: EvalSuite) -> None:
    assert isinstance(suite.target, CallableTarget)
    assert suite.target.function == "examples.support_bot.bot:answer"
    assert suite.knowledge_base is not None
    assert (SUITE_PATH.parent / suite.knowledge_base).resolve() == KB_DIR.resolve()


def test_support_suite_covers_the_kb_languages_scope_and_traps(suite: EvalSuite) -> None:
    assert len(suite.cases) >= 40
    tags = Counter(tag for case in suite.cases for tag in case.tags)
    for topic in ("hours", "prices", "returns", "shipping", "warranty", "out-of-scope", "trap"):
        assert tags[topic] >= 3, f"only {tags[topic]} {topic!r} cases"
    assert tags["en"] >= 15 and tags["ko"] >= 12
    used = Counter(t for case in suite.cases for t in _types(suite, case))
    for kind in ("contains", "not_contains", "number", "regex", "no_hallucination", "refuses", "judge", "correct"):
        assert used[kind] >= 1, f"no {kind!r} assertion"
    assert sum(case.must_pass for case in suite.cases) >= 3
    for case in suite.cases:
        if "out-of-scope" in case.tags:
            assert "refuses" in _types(suite, case), f"{case.id}: an out-of-scope case must assert a decline"
    # Every weekday is asked about, in English or Korean.
    text = " ".join(case.question for case in suite.cases)
    for en, ko in zip(
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        ("월요일", "화요일", "수요일", "목요일", "금요일", "토요일", "일요일"),
        strict=True,
    ):
        assert en in text or ko in text, f"no case asks about {en}"
    # Prices are asked in both currencies.
    patterns = {a.pattern for c in suite.cases for a in c.assertions if isinstance(a, NumberAssertion)}
    assert any(p and "$" in p for p in patterns) and any(p and "원" in p for p in patterns)


def _kb_has_amount(value: float, pattern: str | None) -> bool:
    amount = f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"
    if pattern and "원" in pattern:
        return f"{amount}원" in KB_TEXT
    return f"${amount}" in KB_TEXT


def test_support_suite_expected_facts_are_true_in_the_kb(suite: EvalSuite) -> None:
    kb_folded = KB_TEXT.casefold()
    for case in suite.cases:
        for assertion in case.assertions:
            if isinstance(assertion, NumberAssertion):
                assert _kb_has_amount(assertion.expected, assertion.pattern), (
                    f"{case.id}: {assertion.expected:g} is not a price in the knowledge base"
                )
            elif isinstance(assertion, ContainsAssertion) and not isinstance(assertion, NotContainsAssertion):
                for needle in assertion.values:
                    haystack, wanted = (kb_folded, needle.casefold()) if assertion.ignore_case else (KB_TEXT, needle)
                    assert wanted in haystack, f"{case.id}: {needle!r} is not in the knowledge base"
        if case.reference is not None:
            for number in re.findall(r"\$?\d[\d,]*(?:원)?", case.reference):
                assert number in KB_TEXT, f"{case.id}: the reference's {number!r} is not in the knowledge base"


def test_support_suite_trap_premises_are_false_in_the_kb(suite: EvalSuite) -> None:
    traps = [case for case in suite.cases if "trap" in case.tags]
    assert len(traps) >= 6
    for case in traps:
        for assertion in case.assertions:
            if isinstance(assertion, NotContainsAssertion):
                for needle in assertion.values:
                    if re.fullmatch(r"\$\d[\d,]*", needle):  # a wrong price the question suggests
                        assert needle not in KB_TEXT, f"{case.id}: {needle!r} is a real price"
    # Unknown models the traps ask about are really not sold.
    for name in ("X2", "Watch S3", "refrigerator"):
        assert name.casefold() not in KB_TEXT.casefold()


def test_support_suite_questions_avoid_the_simulated_server_errors(suite: EvalSuite) -> None:
    # The simulated endpoint answers a fixed 4% of questions with HTTP 500 (for the demo's error
    # charts); a suite case on one of them would fail on the clean bot for a reason unrelated to it.
    erroring = [case.id for case in suite.cases if _bucket(_question(case), "500") < 4]
    assert not erroring, f"these questions always get HTTP 500 from the simulated endpoint: {erroring}"


class _KbFactCheck:
    """``no_hallucination`` the way the runner decides it: any contradicted claim fails."""

    def __init__(self, checker: FactChecker) -> None:
        self.checker = checker

    def score(self, assertion: object, *, case: EvalCase, observation: Observation) -> Score:
        result = self.checker.check(observation.output, question=case.question)
        contradicted = [c.claim.text for c in result.claims if c.verdict == "contradicted"]
        return Score(
            name="no_hallucination",
            value=0.0 if contradicted else 1.0,
            passed=not contradicted,
            reason=f"contradicted: {contradicted}" if contradicted else "no contradicted claim",
        )


@pytest.fixture(scope="module")
def fact_check() -> _KbFactCheck:
    return _KbFactCheck(FactChecker(index_from_paths([KB_DIR], name="support")))


@pytest.fixture
def traced() -> Iterator[None]:
    llmmon.configure(recorder=InMemoryRecorder())
    yield
    support_bot.use_bot(None)
    llmmon.shutdown()


def _failing_cases(suite: EvalSuite, fact_check: _KbFactCheck, *, fault: str | None) -> dict[str, list[Score]]:
    bot, http_client = support_bot.build_bot(latency_scale=0.0, fault=fault)
    support_bot.use_bot(bot)
    failing: dict[str, list[Score]] = {}
    try:
        for case in suite.cases:
            started = time.perf_counter()
            output = support_bot.answer(_input(case))
            observation = Observation(output=output, latency_ms=(time.perf_counter() - started) * 1000)
            scores = evaluate_assertions(
                suite.assertions_for(case),
                case=case,
                observation=observation,
                scorers={"no_hallucination": fact_check},
            )
            for score in scores:
                assert score.status != "unscored", f"{case.id}: {score.name} unscored ({score.reason})"
            bad = [s for s in scores if s.passed is False]
            if bad:
                failing[case.id] = bad
    finally:
        http_client.close()
    return failing


@pytest.mark.usefixtures("traced")
def test_clean_demo_bot_passes_every_case_and_the_price_fault_fails_price_cases(
    suite: EvalSuite, fact_check: _KbFactCheck
) -> None:
    clean = _failing_cases(suite, fact_check, fault=None)
    assert clean == {}, {k: [(s.name, s.reason) for s in v] for k, v in clean.items()}

    faulty = _failing_cases(suite, fact_check, fault="prices")
    expected = {
        case.id
        for case in suite.cases
        if any(isinstance(a, NumberAssertion) for a in case.assertions) and is_price_faulty(_question(case))
    }
    assert set(faulty) == expected
    assert len(expected) >= 6  # enough discordant cases for McNemar at alpha 0.025 (0.5**6 < 0.025)
    for case_id, scores in faulty.items():
        assert "number" in {s.name for s in scores}, case_id


def test_judge_assertions_are_skipped_without_a_judge(suite: EvalSuite) -> None:
    judged = [
        (case, a)
        for case in suite.cases
        for a in case.assertions
        if isinstance(a, JudgeAssertion | CorrectAssertion | NoHallucinationAssertion)
    ]
    assert judged
    for case, assertion in judged:
        [score] = evaluate_assertions([assertion], case=case, observation=Observation(output="x", latency_ms=1.0))
        assert score.status == "skipped" and score.passed is None


@pytest.mark.usefixtures("traced")
def test_bot_answers_a_chat_transcript_by_its_last_user_message() -> None:
    bot, http_client = support_bot.build_bot(latency_scale=0.0, fault=None)
    support_bot.use_bot(bot)
    try:
        transcript = [
            {"role": "system", "content": "You answer customers of Lumen Electronics."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "What does the Lumen Tab 11 tablet cost?"},
        ]
        assert "$449" in support_bot.answer(transcript)
        with pytest.raises(ValueError, match="no user message"):
            support_bot.answer([{"role": "system", "content": "x"}])
    finally:
        http_client.close()


@pytest.mark.usefixtures("traced")
@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What time does the store close on Monday?", "Monday: 10:00 AM – 8:00 PM."),
        ("화요일 영업시간이 어떻게 되나요?", "화요일: 오전 10시 – 오후 8시."),
        ("일요일에 매장 문을 여나요?", "일요일: 휴무."),
        ("How much does express delivery cost?", "Costs $15 (5,000원) on every order."),
    ],
)
def test_bot_answers_previously_misread_questions(question: str, expected: str) -> None:
    bot, http_client = support_bot.build_bot(latency_scale=0.0, fault=None)
    try:
        assert expected in bot.answer(question)
    finally:
        http_client.close()


@pytest.mark.usefixtures("traced")
@pytest.mark.parametrize(
    ("question", "decline"),
    [
        ("Can you recommend a good restaurant near Gangnam station?", "I can only help with questions about"),
        ("How much is the Lumen X2?", "I don't have information about the Lumen X2"),
        ("오늘 서울 날씨 어때요?", "안내해 드릴 수 없습니다"),
        ("갤럭시 S24 있나요?", "갤럭시 S24에 대한 정보가 없습니다"),
    ],
)
def test_bot_declines_politely_when_the_kb_does_not_cover_the_question(question: str, decline: str) -> None:
    bot, http_client = support_bot.build_bot(latency_scale=0.0, fault=None)
    try:
        text = bot.answer(question)
    finally:
        http_client.close()
    assert decline in text
    assert not re.search(r"\$\d|\d원", text)  # no made-up price


def _gate(*args: str, db: Path, fault: str | None) -> subprocess.CompletedProcess[str]:
    """`llmmon eval run ...` in a fresh process, the way CI runs it (the fault comes from the environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMMON_JUDGE_", "LLMMON_DEMO_"))}
    env["COLUMNS"] = "200"
    if fault is not None:
        env["LLMMON_DEMO_FAULT"] = fault
    command = [sys.executable, "-m", "llmmon", "eval", "run", str(SUITE_PATH), "--db", str(db), *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False)


def test_gate_passes_and_promotes_the_clean_bot_then_blocks_the_price_fault(suite: EvalSuite, tmp_path: Path) -> None:
    from sqlalchemy import select
    from sqlmodel import Session

    from llmmon.storage.engine import make_engine
    from llmmon.storage.models import EvalResult, EvalRun

    db = tmp_path / "gate.db"
    clean = _gate("--promote-on-pass", db=db, fault=None)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "PASS support-bot" in clean.stdout and "promoted run-" in clean.stdout
    assert "skipped" in clean.stdout + clean.stderr  # the judge is not configured: judge checks are skipped

    junit, markdown = tmp_path / "gate.xml", tmp_path / "gate.md"
    faulty = _gate("--junit", str(junit), "--markdown", str(markdown), db=db, fault="prices")
    assert faulty.returncode == 1, faulty.stdout + faulty.stderr
    expected = sorted(
        case.id
        for case in suite.cases
        if any(isinstance(a, NumberAssertion) for a in case.assertions) and is_price_faulty(_question(case))
    )
    newly_failing = re.search(r"newly failing: (.+)", faulty.stdout)
    assert newly_failing is not None, faulty.stdout
    assert sorted(newly_failing.group(1).replace(" ", "").split(",")) == expected
    assert "REGRESSION support-bot" in faulty.stdout and "significantly worse" in faulty.stdout
    report = markdown.read_text(encoding="utf-8")
    assert all(f"`{case_id}`" in report for case_id in expected)
    xml = junit.read_text(encoding="utf-8")
    assert all(f'name="{case.id}"' in xml for case in suite.cases)

    engine = make_engine(f"sqlite:///{db}")
    try:
        with Session(engine) as session:
            runs = session.execute(select(EvalRun).order_by(EvalRun.started_at)).scalars().all()  # type: ignore[arg-type]
            assert [(r.exit_code, r.is_baseline, r.status) for r in runs] == [
                (0, True, "complete"),
                (1, False, "complete"),
            ]
            results = session.execute(select(EvalResult)).scalars().all()
    finally:
        engine.dispose()
    by_run: dict[str, dict[str, str]] = {}
    for row in results:
        by_run.setdefault(row.run_id, {})[row.case_id] = row.verdict
    baseline, candidate = by_run[runs[0].id], by_run[runs[1].id]
    assert len(baseline) == len(candidate) == len(suite.cases)
    assert set(baseline.values()) == {"passed"}
    assert sorted(case_id for case_id, verdict in candidate.items() if verdict == "failed") == expected
