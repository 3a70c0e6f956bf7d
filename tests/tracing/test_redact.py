"""PII redaction: what is masked, what is left alone, and the user hook."""

from __future__ import annotations

from pathlib import Path

import pytest

import llmmon
from llmmon.tracing.redact import Redactor, is_luhn_valid, redact
from tests.tracing.conftest import configure_database, span_rows


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail kim.minsu+cs@example.co.kr now", "mail [EMAIL] now"),
        ("휴대폰 010-1234-5678 로 연락", "휴대폰 [PHONE] 로 연락"),
        ("01012345678", "[PHONE]"),
        ("+82 10-1234-5678", "[PHONE]"),
        ("서울 02-123-4567", "서울 [PHONE]"),
        ("US (415) 555-2671", "US [PHONE]"),
        ("card 4111 1111 1111 1111 ok", "card [CARD] ok"),
        ("card 4111-1111-1111-1111", "card [CARD]"),
        ("주민등록번호 900101-1234567", "주민등록번호 [RRN]"),
        ("Authorization: Bearer abc.def-ghi_jkl", "Authorization: [SECRET]"),
        ("key=sk-proj-abcdefghijklmnopqrstuvwx", "key=[SECRET]"),
        ("token ghp_" + "a" * 36, "token [SECRET]"),
        ("aws AKIAABCDEFGHIJKLMNOP", "aws [SECRET]"),
        ("AUTHORIZATION: BEARER abcdefghijkl", "AUTHORIZATION: [SECRET]"),
        ("slack xoxb-1234567890ab", "slack [SECRET]"),
        ("google AIza" + "a" * 35, "google [SECRET]"),
        ("jwt eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2Q", "jwt [SECRET]"),
        ("stripe sk_live_" + "a" * 20, "stripe [SECRET]"),
    ],
)
def test_redact_masks_pii(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 fails the Luhn check",
        "order 12345 shipped on 2024-05-01, refund in 3-5 days",
        "version 1.2.3 costs 3,000 won",
        "plain text with no numbers at all",
        "",
    ],
)
def test_redact_leaves_ordinary_text_alone(text: str) -> None:
    assert redact(text) == text


def test_luhn() -> None:
    assert is_luhn_valid("4111111111111111")
    assert not is_luhn_valid("4111111111111112")


def test_redactor_extra_patterns_and_replacement() -> None:
    extended = Redactor(extra_patterns={"EMPLOYEE": r"EMP-\d{6}"})
    assert extended("EMP-123456 wrote to a@b.io") == "[EMPLOYEE] wrote to [EMAIL]"
    only_custom = Redactor(patterns={"CODE": r"X\d+"})
    assert only_custom("X12 a@b.io") == "[CODE] a@b.io"


def test_configure_redactor_hook_replaces_function(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'traces.db'}"
    configure_database(url, tmp_path / "spool", redactor=lambda text: text.replace("secret", "******"))
    try:
        llmmon.trace(name="f")(lambda: "a secret for a@b.io")()
        llmmon.flush(10)
        assert span_rows(url)[0]["output"] == '"a ****** for a@b.io"'
    finally:
        llmmon.shutdown()


def test_redaction_can_be_switched_off(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'traces.db'}"
    configure_database(url, tmp_path / "spool", redact_pii=False)
    try:
        llmmon.trace(name="f")(lambda: "a@b.io")()
        llmmon.flush(10)
        assert span_rows(url)[0]["output"] == '"a@b.io"'
    finally:
        llmmon.shutdown()
