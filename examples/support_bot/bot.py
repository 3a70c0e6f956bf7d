"""The support chatbot: retrieve passages, ask the LLM with a versioned prompt, post-process.

Every step is traced: ``answer`` is the root span (user and session ids, prompt version),
``retrieve`` a retriever span, the OpenAI call an ``llm`` span from ``llmmon.wrap_openai``,
``lookup_order`` a tool span and ``postprocess`` a plain span. Usage::

    from examples.support_bot.bot import answer
    answer("When do you open on Saturday?", user_id="u1", session_id="s1")

Configuration of the module-level ``answer`` (read on first use): ``LLMMON_DEMO_LLM_BASE_URL``
and ``LLMMON_DEMO_LLM_MODEL`` (plus ``LLMMON_DEMO_LLM_API_KEY``) select a real OpenAI-compatible
endpoint; without them a simulated responder answers (see ``responder.py``).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import llmmon
from examples.support_bot.kb import KnowledgeBase, Passage, load_knowledge_base

if TYPE_CHECKING:
    from openai import OpenAI

__all__ = [
    "DEFAULT_MODEL",
    "OrderLookupError",
    "SupportBot",
    "answer",
    "answer_stream",
    "build_bot",
    "default_bot",
    "question_of",
]

DEFAULT_MODEL = "gpt-4o-mini"
PROMPT_NAME = "support-answer"
_REPO_PROMPTS = Path(__file__).resolve().parents[2] / "prompts"
_ORDER = re.compile(r"(?:order|주문)\s*(?:number|번호)?\s*#?\s*(\d{5,})", re.IGNORECASE)
# A tiny stand-in for an order service: known orders and their status.
_ORDERS = {"10001": "delivered", "10002": "shipped", "10003": "being packed"}
# Interrogatives say what kind of answer is wanted, not what it is about; searching for them finds
# "Where we deliver" for "Where is the flagship store?".
_QUESTION_WORDS = re.compile(r"\b(?:where|when|why|what|which|how|does|did|will|would|could|should)\b", re.I)


class OrderLookupError(RuntimeError):
    """The order service does not know the order (the bot lets this propagate: an app error)."""


def _prompts_dir() -> Path:
    # The repository's prompts/ when run from a checkout; else the configured directory.
    if (_REPO_PROMPTS / f"{PROMPT_NAME}.yaml").is_file():
        return _REPO_PROMPTS
    return llmmon.Settings().prompts_dir


@dataclass
class SupportBot:
    """A retrieval-augmented support bot over one knowledge base and one OpenAI-compatible client."""

    client: OpenAI
    model: str = DEFAULT_MODEL
    kb: KnowledgeBase = field(default_factory=load_knowledge_base)
    prompts_dir: Path = field(default_factory=_prompts_dir)
    prompt_versions: tuple[str, ...] = ("v1", "v2")  # A/B split by user

    def prompt_version_for(self, user_id: str | None) -> str:
        """Users are split stably between the prompt versions (an A/B test)."""
        if user_id is None or len(self.prompt_versions) == 1:
            return self.prompt_versions[-1]
        index = int(hashlib.sha256(user_id.encode()).hexdigest()[:4], 16) % len(self.prompt_versions)
        return self.prompt_versions[index]

    def retrieve(self, question: str, *, k: int = 4) -> list[Passage]:
        """The best passages for the question, as a retriever span."""
        with llmmon.span("retrieve", kind="retriever", k=k) as span:
            query = _QUESTION_WORDS.sub(" ", question)
            span.input = {"query": query}
            hits = self.kb.search(query, k=k)
            span.output = [
                {"source": p.source, "score": round(score, 3), "text": p.text} for p, score in hits
            ]
        return [p for p, _ in hits]

    def lookup_order(self, order_id: str) -> str:
        """Status of an order from the (simulated) order service; unknown orders raise."""
        with llmmon.span("lookup_order", kind="tool") as span:
            span.input = {"order_id": order_id}
            status = _ORDERS.get(order_id)
            if status is None:
                raise OrderLookupError(f"order {order_id} not found in the order service")
            span.output = status
        return status

    def _messages(self, question: str, passages: list[Passage], user_id: str | None) -> list[dict[str, str]]:
        prompt = llmmon.prompt(PROMPT_NAME, self.prompt_version_for(user_id), prompts_dir=self.prompts_dir)
        context = [{"source": p.source, "text": p.text} for p in passages]
        return prompt.render(question=question, passages=context)

    def _prepare(self, question: str, user_id: str | None) -> list[dict[str, str]]:
        if not question.strip():
            raise ValueError("empty question")
        order = _ORDER.search(question)
        passages = self.retrieve(question)
        if order is not None:
            status = self.lookup_order(order.group(1))
            passages = [
                Passage(source="orders", language="en", text=f"Order {order.group(1)} is {status}."),
                *passages,
            ]
        return self._messages(question, passages, user_id)

    def postprocess(self, text: str) -> str:
        """Tidy the model's text and flag answers that give up (a post-processing span)."""
        with llmmon.span("postprocess") as span:
            span.input = {"text": text}
            cleaned = re.sub(r"\s+", " ", text).strip()
            unanswered = "don't know" in cleaned or "알 수 없" in cleaned or "드릴 수 없" in cleaned
            span.set_attribute("unanswered", unanswered)
            span.output = cleaned
        return cleaned

    def answer(self, question: str, *, user_id: str | None = None) -> str:
        """Answer one question (the caller's traced function provides the root span)."""
        messages = self._prepare(question, user_id)
        create: Any = self.client.chat.completions.create  # messages are plain dicts, as the API accepts
        response = create(model=self.model, messages=messages, temperature=0)
        return self.postprocess(response.choices[0].message.content or "")

    def answer_stream(self, question: str, *, user_id: str | None = None) -> Iterator[str]:
        """Answer as a stream of text chunks, the way a chat widget shows it."""
        messages = self._prepare(question, user_id)
        create: Any = self.client.chat.completions.create
        stream = create(model=self.model, messages=messages, temperature=0, stream=True)
        parts: list[str] = []
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
                yield chunk.choices[0].delta.content
        self.postprocess("".join(parts))


def build_bot(
    *,
    base_url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    fault: str | None = None,
    latency_scale: float = 1.0,
) -> tuple[SupportBot, Any]:
    """A bot on a real endpoint (``base_url``) or on the simulated responder; returns (bot, http_client).

    The caller closes the returned ``httpx.Client`` (None for a real endpoint: the SDK owns it).
    """
    import httpx
    from openai import OpenAI

    if base_url:
        client = OpenAI(
            base_url=base_url, api_key=api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
        )
        return SupportBot(client=llmmon.wrap_openai(client), model=model or DEFAULT_MODEL), None
    from examples.support_bot.responder import simulated_transport

    http_client = httpx.Client(transport=simulated_transport(fault=fault, latency_scale=latency_scale))
    # No retries: the simulated 500s are deterministic, and retry back-off would only slow the demo.
    options: dict[str, Any] = {"http_client": http_client, "max_retries": 0}
    client = OpenAI(base_url="http://simulated.invalid/v1", api_key="simulated", **options)
    return SupportBot(client=llmmon.wrap_openai(client), model=model or DEFAULT_MODEL), http_client


_default: SupportBot | None = None
_default_lock = threading.Lock()


def default_bot() -> SupportBot:
    """The bot behind the module-level ``answer``, configured from the environment on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default, _ = build_bot(
                base_url=os.environ.get("LLMMON_DEMO_LLM_BASE_URL"),
                model=os.environ.get("LLMMON_DEMO_LLM_MODEL"),
                api_key=os.environ.get("LLMMON_DEMO_LLM_API_KEY"),
            )
        return _default


def use_bot(bot: SupportBot | None) -> None:
    """Make ``bot`` the one behind ``answer`` (``llmmon demo`` and tests); None resets to lazy default."""
    global _default
    with _default_lock:
        _default = bot


@llmmon.trace(
    name="answer",
    user_id=lambda question, **kw: kw.get("user_id"),
    session_id=lambda question, **kw: kw.get("session_id"),
)
def answer(
    question: str | Sequence[Mapping[str, str]], *, user_id: str | None = None, session_id: str | None = None
) -> str:
    """Answer a customer's question from the knowledge base (the eval gate's target).

    ``question`` may also be a chat transcript (``[{"role": ..., "content": ...}]``, as eval cases
    with message inputs send it): the last user message is the question.
    """
    return default_bot().answer(question_of(question), user_id=user_id)


def question_of(question: str | Sequence[Mapping[str, str]]) -> str:
    """The question text of a plain question or of a chat transcript (its last user message)."""
    if isinstance(question, str):
        return question
    users = [str(m.get("content", "")) for m in question if m.get("role") == "user"]
    if not users:
        raise ValueError("the chat transcript has no user message")
    return users[-1]


@llmmon.trace(
    name="answer_stream",
    user_id=lambda question, **kw: kw.get("user_id"),
    session_id=lambda question, **kw: kw.get("session_id"),
)
def answer_stream(
    question: str, *, user_id: str | None = None, session_id: str | None = None
) -> Iterator[str]:
    """Like ``answer`` but streamed chunk by chunk."""
    yield from default_bot().answer_stream(question, user_id=user_id)
