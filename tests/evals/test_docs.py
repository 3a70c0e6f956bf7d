"""The suite format documentation stays true: its example loads, and every assertion type is documented."""

from __future__ import annotations

import re
from pathlib import Path

from llmmon.evals.assertions import evaluate_assertions
from llmmon.evals.results import Observation
from llmmon.evals.suite import ASSERTION_TYPES, load_suite

README = Path(__file__).resolve().parents[2] / "evalsuites" / "README.md"


def test_readme_example_is_a_valid_suite(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.*?)```", text, re.DOTALL)
    assert example is not None
    path = tmp_path / "example.yaml"
    path.write_text(example.group(1), encoding="utf-8")
    suite = load_suite(path)
    assert [c.id for c in suite.cases] == ["hours-saturday", "price-ko", "out-of-scope-weather"]
    price = suite.cases[1]
    scores = evaluate_assertions(
        suite.assertions_for(price),
        case=price,
        observation=Observation("기본 요금제는 12,000 원입니다.", latency_ms=900),
    )
    assert [(s.name, s.status, s.passed) for s in scores] == [
        ("max_latency_ms", "scored", True),
        ("no_hallucination", "skipped", None),
        ("number", "scored", True),
    ]


def test_every_assertion_type_is_documented() -> None:
    text = README.read_text(encoding="utf-8")
    for name in ASSERTION_TYPES:
        assert f"`{name}`" in text, name
