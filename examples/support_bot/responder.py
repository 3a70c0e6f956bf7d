"""A small deterministic stand-in for an OpenAI-compatible chat endpoint (SIMULATED, not a model).

``simulated_transport()`` returns an ``httpx.MockTransport`` that the real ``openai.OpenAI``
client talks to, so the demo runs offline through exactly the code path a real endpoint uses.
It answers ``POST /chat/completions`` from the context passages in the prompt: it picks the
sentence that best matches the question and phrases it as an answer, so numbers come straight
from the knowledge base. It reports usage like a real server, streams as SSE when asked, and
fails some requests with HTTP 500 (an overloaded upstream) so the demo shows errors.

Fault switch: ``LLMMON_DEMO_FAULT=prices`` makes it quote wrong prices in about a third of the
answers that mention a price -- the regression the eval gate must catch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx

from examples.support_bot.reader import read

__all__ = [
    "FAULT_ENV",
    "SIMULATED_LABEL",
    "compose_answer",
    "is_price_faulty",
    "simulated_transport",
    "wrong_price",
]

FAULT_ENV = "LLMMON_DEMO_FAULT"
SIMULATED_LABEL = "simulated responder (deterministic, answers from the knowledge base; not a real LLM)"

_CONTEXT_LINE = re.compile(r"^- \[(?P<source>[^\]]+)\] (?P<text>.+)$")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_DOLLARS = re.compile(r"\$(\d[\d,]*)(\.\d+)?")
_WON = re.compile(r"(\d{1,3}(?:,\d{3})+)원")
_TOKEN = re.compile(r"[A-Za-z]+|\d+|[\uac00-\ud7a3]|[^\sA-Za-z\d]")


def _bucket(text: str, salt: str) -> int:
    """A stable number in 0..99 for ``text`` (the same question always behaves the same)."""
    return int(hashlib.sha256((salt + text).encode("utf-8")).hexdigest()[:8], 16) % 100


def _count_tokens(text: str) -> int:
    # Roughly what a BPE tokenizer reports: words and numbers ~1 token, each Hangul syllable ~1.
    return len(_TOKEN.findall(text))


def _parse_prompt(messages: list[dict[str, Any]]) -> tuple[str, str, list[tuple[str, str]]]:
    system = " ".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
    user = str(next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), ""))
    passages: list[tuple[str, str]] = []
    question = user.strip()
    for line in user.splitlines():
        match = _CONTEXT_LINE.match(line.strip())
        if match:
            passages.append((match["source"], match["text"]))
        elif line.startswith("Question:"):
            question = line.removeprefix("Question:").strip()
    return system, question, passages


def wrong_price(text: str) -> str:
    """The same text with every price changed (about 15% lower, still plausible-looking)."""

    def dollars(match: re.Match[str]) -> str:
        value = int(match.group(1).replace(",", ""))
        return f"${max(1, round(value * 0.85)):,}{match.group(2) or ''}"

    def won(match: re.Match[str]) -> str:
        value = int(match.group(1).replace(",", ""))
        return f"{max(1000, round(value * 0.85 / 1000) * 1000):,}원"

    return _WON.sub(won, _DOLLARS.sub(dollars, text))


_KO_SCOPE = "루멘 전자의 제품, 가격, 영업시간, 배송, 반품, 보증에 관련된 질문에만 답변드릴 수 있습니다."


def _decline(question: str, korean: bool, unknown: str | None) -> str:
    """A polite refusal that says what the assistant can help with (and never makes something up)."""
    if korean:
        if unknown:
            return f"죄송합니다. {unknown}에 대한 정보가 없습니다. {_KO_SCOPE}"
        return f"죄송합니다. 해당 내용은 안내해 드릴 수 없습니다. {_KO_SCOPE}"
    if unknown:
        return (
            f"I'm sorry, but I don't have information about the {unknown}. I can only help with "
            "Lumen Electronics' products, prices, store hours, shipping, returns and warranty."
        )
    return (
        "I'm sorry, but I can't help with that. I can only help with questions about Lumen Electronics' "
        "products, prices, store hours, shipping, returns and warranty."
    )


def is_price_faulty(question: str) -> bool:
    """Whether the ``prices`` fault misquotes the answer to ``question`` (a fixed ~35% of questions)."""
    return _bucket(question, "p") < 35


def compose_answer(messages: list[dict[str, Any]], *, fault: str | None = None) -> str:
    """The answer text the simulated model gives for a chat request."""
    system, question, passages = _parse_prompt(messages)
    korean = bool(_HANGUL.search(question))
    reading = read(question, passages)
    if reading.answer is None:
        return _decline(question, korean, reading.unknown)
    sentence = reading.answer
    if not sentence.endswith((".", "!", "?")):
        sentence += "."
    if fault == "prices" and (_DOLLARS.search(sentence) or _WON.search(sentence)) and is_price_faulty(question):
        sentence = wrong_price(sentence)
    brief = "short sentences" in system
    if korean:
        return (
            sentence if brief else f"안내해 드리겠습니다. {sentence} 더 궁금하신 점이 있으면 말씀해 주세요."
        )
    return sentence if brief else f"Thanks for asking! {sentence} Is there anything else I can help you with?"


def _usage(messages: list[dict[str, Any]], answer: str) -> dict[str, Any]:
    prompt_tokens = sum(_count_tokens(str(m.get("content", ""))) + 4 for m in messages) + 3
    completion_tokens = _count_tokens(answer)
    # Providers cache long shared prefixes (the system prompt); report it like they do.
    cached = 64 * (prompt_tokens // 1024)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _completion(request_id: str, model: str, answer: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_simulated",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": usage,
    }


def _sse(
    request_id: str, model: str, answer: str, usage: dict[str, Any], *, include_usage: bool, delay_s: float
) -> Iterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None, extra: dict[str, Any] | None = None) -> bytes:
        body: dict[str, Any] = {
            "id": request_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_simulated",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        if include_usage:
            body["usage"] = None
        if extra:
            body.update(extra)
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()

    yield chunk({"role": "assistant", "content": ""}, None)
    for piece in re.findall(r"\S+\s*", answer):
        time.sleep(delay_s)
        yield chunk({"content": piece}, None)
    yield chunk({}, "stop")
    if include_usage:
        final = chunk({}, None, {"choices": [], "usage": usage})
        yield final
    yield b"data: [DONE]\n\n"


def simulated_transport(*, fault: str | None = None, latency_scale: float = 1.0) -> httpx.MockTransport:
    """A transport that serves ``/chat/completions`` like an OpenAI-compatible server.

    ``fault`` defaults to the ``LLMMON_DEMO_FAULT`` environment variable (``prices``).
    ``latency_scale`` stretches the simulated generation time (0 for tests that want speed).
    """
    if fault is None:
        fault = os.environ.get(FAULT_ENV) or None
    if fault not in (None, "prices"):
        raise ValueError(f"unknown {FAULT_ENV} value {fault!r}; the only fault is 'prices'")

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method != "POST" or not request.url.path.endswith("/chat/completions"):
            return httpx.Response(
                404, json={"error": {"message": f"no route {request.url.path}", "type": "not_found"}}
            )
        body = json.loads(request.content)
        messages = body.get("messages") or []
        _, question, _ = _parse_prompt(messages)
        if _bucket(question, "500") < 4:
            return httpx.Response(
                500,
                json={
                    "error": {
                        "message": "The server had an error while processing your request.",
                        "type": "server_error",
                    }
                },
            )
        answer = compose_answer(messages, fault=fault)
        usage = _usage(messages, answer)
        model = str(body.get("model") or "simulated")
        request_id = "chatcmpl-sim-" + hashlib.sha256(request.content).hexdigest()[:20]
        # Time to first token grows with the prompt; generation with the answer.
        time.sleep(latency_scale * (0.004 + usage["prompt_tokens"] * 0.00001))
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return httpx.Response(
                200,
                headers={"content-type": "text/event-stream"},
                content=_sse(
                    request_id,
                    model,
                    answer,
                    usage,
                    include_usage=include_usage,
                    delay_s=latency_scale * 0.0005,
                ),
            )
        time.sleep(latency_scale * usage["completion_tokens"] * 0.0004)
        return httpx.Response(200, json=_completion(request_id, model, answer, usage))

    return httpx.MockTransport(handle)
