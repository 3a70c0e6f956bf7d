"""SpanRecord -> ``span`` row: the heavy per-span work, done in the writer thread only.

JSON-serialise inputs and outputs (``repr()`` for anything JSON cannot express),
truncate payloads over ``max_payload_bytes`` (flag ``io_truncated``), redact PII,
estimate tokens for LLM spans that carry no usage (flag ``tokens_estimated``), price
the usage with the price table, and clip strings to their column sizes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import json.encoder as json_encoder
import logging
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llmmon.tracing.args import CallArgs
from llmmon.tracing.packing import PartlyPacked, SpanValues, span_values, unpack_partly, unpack_span
from llmmon.tracing.span import SpanRecord, usage_counts

if TYPE_CHECKING:
    from llmmon.pricing import PriceTable

__all__ = ["SPAN_COLUMNS", "SpanSerialiser", "to_json"]

logger = logging.getLogger("llmmon")

# Column -> max length of the bounded string columns of the ``span`` table.
_COLUMN_SIZES: dict[str, int] = {
    "span_id": 32,
    "trace_id": 32,
    "parent_span_id": 32,
    "name": 256,
    "kind": 32,
    "status": 16,
    "error_type": 256,
    "user_id": 256,
    "session_id": 256,
    "prompt_name": 256,
    "prompt_version": 64,
    "prompt_hash": 64,
    "model": 256,
    "provider": 64,
}

SPAN_COLUMNS = (
    "span_id", "trace_id", "parent_span_id", "name", "kind", "start_time", "end_time", "latency_ms",
    "ttft_ms", "status", "error_type", "error_message", "input", "output", "io_truncated", "user_id",
    "session_id", "tags", "attributes", "prompt_name", "prompt_version", "prompt_hash", "model",
    "provider", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "total_tokens",
    "tokens_estimated", "cost_usd", "is_eval",
)  # fmt: skip

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# The bounded columns' values in one C-level call. Ids take 32 characters; a row whose
# values all fit in 32 (and whose few narrower columns fit theirs) needs no per-column check.
_BOUNDED_VALUES = operator.itemgetter(*_COLUMN_SIZES)
_COMMON_SIZE = 32
_NARROWER = tuple((column, size) for column, size in _COLUMN_SIZES.items() if size < _COMMON_SIZE)


def _json_default(value: Any) -> Any:
    """How values JSON does not know are stored: structured when cheap, else their repr."""
    if isinstance(value, CallArgs):
        return value.as_dict()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return list(value)
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):  # pydantic models (OpenAI SDK responses among them)
        try:
            return model_dump(mode="json")
        except Exception:
            pass
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        try:
            return dataclasses.asdict(value)
        except Exception:
            pass
    return _safe_repr(value)


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__qualname__}>"


# One encoder for the process: json.dumps() with options builds a new encoder per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_json_default, separators=(",", ":"))
_encode_str: Callable[[str], str] = json_encoder.encode_basestring
# The C encoder behind _ENCODER, built once: JSONEncoder.encode() builds it again on every
# call (half the cost of encoding a small dict). Without the circular-reference check
# a cycle ends in RecursionError, which to_json turns into the repr fallback like before.
_make_c_encoder: Any = getattr(json_encoder, "c_make_encoder", None)  # None without the _json module
_C_ENCODER: Callable[[Any, int], list[str]] | None = (
    _make_c_encoder(None, _json_default, _encode_str, None, ":", ",", False, False, True)
    if _make_c_encoder is not None
    else None
)


def to_json(value: Any) -> str:
    """Serialise any value; falls back to the repr of the whole value (cycles, odd keys)."""
    if type(value) is str:
        return _encode_str(value)
    try:
        if _C_ENCODER is not None:
            return "".join(_C_ENCODER(value, 0))
        return _ENCODER.encode(value)
    except (ValueError, TypeError, RecursionError):
        return json.dumps(_safe_repr(value), ensure_ascii=False)


def _truncate(text: str, max_bytes: int, original_bytes: int | None = None) -> tuple[str, bool]:
    """Keep payloads under ``max_bytes`` UTF-8 bytes, as a valid JSON object with a preview.

    ``original_bytes`` is given when the caller already cut ``text`` short.
    """
    if original_bytes is None:
        if len(text) * 4 <= max_bytes:  # cannot exceed the limit even at 4 bytes per char
            return text, False
        encoded = text.encode("utf-8")
        if len(encoded) <= max_bytes:
            return text, False
        original_bytes = len(encoded)
    else:
        encoded = text.encode("utf-8")
    envelope: dict[str, Any] = {"truncated": True, "original_bytes": original_bytes, "preview": ""}
    budget = max(0, max_bytes - len(to_json(envelope)) - 16)
    preview = encoded[:budget].decode("utf-8", "ignore")
    # Escaping in the preview (quotes, backslashes) can grow it; shrink until it fits.
    while True:
        envelope["preview"] = preview
        result = to_json(envelope)
        if len(result.encode("utf-8")) <= max_bytes or not preview:
            return result, True
        preview = preview[: int(len(preview) * 0.9)]


def _clip(value: str | None, size: int) -> str | None:
    if value is None or len(value) <= size:
        return value
    return value[:size]


def _values(span: SpanRecord | bytes | PartlyPacked) -> SpanValues:
    if isinstance(span, bytes):
        return unpack_span(span)
    if isinstance(span, tuple):
        return unpack_partly(span)
    return span_values(span)


class SpanSerialiser:
    """Turns finished spans into row dicts for ``llmmon.storage.ingest.insert_span_rows``."""

    def __init__(
        self,
        *,
        max_payload_bytes: int,
        redactor: Callable[[str], str] | None,
        prices: PriceTable | None,
        tiktoken_encoding: str | None = None,
    ) -> None:
        self._max_bytes = max_payload_bytes
        self._redact = redactor
        self._prices = prices
        self._encoding = tiktoken_encoding
        self._token_warning_logged = False

    def _payload(self, value: Any) -> tuple[str | None, bool]:
        if value is None:
            return None, False
        text = to_json(value)
        original_bytes = None
        if len(text) > self._max_bytes + 256:
            # Cut huge payloads before redacting (a 10 MB output would cost a 10 MB regex
            # scan), keeping a margin so a secret cut at the edge is still recognised.
            original_bytes = len(text.encode("utf-8"))
            text = text[: self._max_bytes + 256]
        if self._redact is not None:
            text = self._redact(text)
        return _truncate(text, self._max_bytes, original_bytes)

    def _estimate_usage(self, input_value: Any, output: Any, model: str | None) -> dict[str, int] | None:
        from llmmon.pricing import estimate_usage

        try:
            usage = estimate_usage(input_value, output, model, encoding=self._encoding)
        except Exception as exc:  # tokens are best effort; the span is still stored
            if not self._token_warning_logged:
                self._token_warning_logged = True
                logger.warning("llmmon: token estimation failed: %s", exc)
            return None
        return usage_counts(usage)

    def to_row(self, span: SpanRecord | bytes | PartlyPacked) -> dict[str, Any]:
        """One ``span`` row as a dict with every column present (``span`` may be packed: packing.py)."""
        (
            span_id, trace_id, parent_span_id, name, kind, start_ns, perf_start_ns, perf_end_ns,
            first_chunk_ns, status, error_type, error_message, input_value, output, user_id, session_id,
            tags, attributes, prompt_name, prompt_version, prompt_hash, model, provider, usage,
            tokens_estimated, is_eval,
        ) = _values(span)  # fmt: skip
        if isinstance(input_value, CallArgs):
            input_value = input_value.as_dict()
        if kind == "llm" and not usage and (input_value is not None or output is not None):
            estimated = self._estimate_usage(input_value, output, model)
            if estimated is not None:
                usage, tokens_estimated = estimated, True
        start = _EPOCH + dt.timedelta(microseconds=start_ns // 1000)
        perf_end = perf_end_ns if perf_end_ns is not None else perf_start_ns
        latency_ms = max(0.0, (perf_end - perf_start_ns) / 1e6)
        end = start + dt.timedelta(milliseconds=latency_ms)
        input_json, input_cut = self._payload(input_value)
        output_json, output_cut = self._payload(output)
        usage = usage or {}
        if error_message is not None:
            error_message = error_message[: self._max_bytes]
            if self._redact is not None:
                error_message = self._redact(error_message)
        attributes_json = None
        if attributes:
            attributes_json, _ = self._payload(attributes)
        row: dict[str, Any] = {
            "span_id": span_id,
            "trace_id": trace_id,
            "parent_span_id": parent_span_id,
            "name": name,
            "kind": kind,
            "start_time": start,
            "end_time": end,
            "latency_ms": latency_ms,
            "ttft_ms": None if first_chunk_ns is None else (first_chunk_ns - perf_start_ns) / 1e6,
            "status": status,
            "error_type": error_type,
            "error_message": error_message,
            "input": input_json,
            "output": output_json,
            "io_truncated": input_cut or output_cut,
            "user_id": user_id,
            "session_id": session_id,
            "tags": to_json(tags) if tags else None,
            "attributes": attributes_json,
            "prompt_name": prompt_name,
            "prompt_version": prompt_version,
            "prompt_hash": prompt_hash,
            "model": model,
            "provider": provider,
            "input_tokens": usage.get("input_tokens"),
            "output_tokens": usage.get("output_tokens"),
            "cached_tokens": usage.get("cached_tokens"),
            "reasoning_tokens": usage.get("reasoning_tokens"),
            "total_tokens": usage.get("total_tokens"),
            "tokens_estimated": bool(tokens_estimated),
            "cost_usd": self._cost(model, usage, start),
            "is_eval": bool(is_eval),
        }
        longest = max(map(len, filter(None, _BOUNDED_VALUES(row))), default=0)
        if longest > _COMMON_SIZE or any(len(row[column] or "") > size for column, size in _NARROWER):
            for column, size in _COLUMN_SIZES.items():
                value = row[column]
                if value is not None and len(value) > size:
                    row[column] = _clip(str(value), size)
        return row

    def _cost(self, model: str | None, usage: dict[str, int], at: dt.datetime) -> float | None:
        if self._prices is None or not model or not usage:
            return None
        try:
            return self._prices.cost_usd(
                model,
                input_tokens=usage.get("input_tokens"),
                output_tokens=usage.get("output_tokens"),
                cached_tokens=usage.get("cached_tokens"),
                at=at,
            )
        except Exception as exc:  # a pricing bug must not lose the span
            logger.warning("llmmon: pricing failed for model %r: %s", model, exc)
            return None
