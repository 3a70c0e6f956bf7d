"""OTLP/HTTP JSON traces -> llmmon span rows, mapping the OpenTelemetry GenAI semantic conventions.

Handles the JSON encoding of ``ExportTraceServiceRequest`` (``resourceSpans[].scopeSpans[].spans[]``;
ids in hex, times as unix-nanosecond strings, ``status.code`` 2 = error). Attribute mapping:

==========================================================  =====================
``gen_ai.request.model`` / ``gen_ai.response.model``         ``model`` (response wins)
``gen_ai.provider.name`` / ``gen_ai.system``                  ``provider``
``gen_ai.usage.input_tokens`` / ``gen_ai.usage.prompt_tokens`` ``input_tokens``
``gen_ai.usage.output_tokens`` / ``...completion_tokens``     ``output_tokens``
``gen_ai.usage.cache_read.input_tokens``                      ``cached_tokens``
``gen_ai.operation.name`` (chat, text_completion, ...)        ``kind`` = ``llm``
``gen_ai.input.messages`` / ``gen_ai.prompt.N.*``             ``input``
``gen_ai.output.messages`` / ``gen_ai.completion.N.*``        ``output``
``llm.model_name``, ``llm.token_count.*``, ``input.value``,   same columns (OpenInference)
``output.value``, ``openinference.span.kind``
``user.id``/``enduser.id``, ``session.id``                    ``user_id``, ``session_id``
``llmmon.prompt.name``/``.version``/``.hash``                 ``prompt_*``
==========================================================  =====================

Everything else is kept in ``attributes`` (JSON), together with the resource's ``service.name``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from llmmon.server.spans_in import SpanIn

__all__ = ["OtlpError", "otlp_spans"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_LLM_OPERATIONS = {"chat", "text_completion", "generate_content", "completion", "embeddings"}
_OPENINFERENCE_KINDS = {"LLM": "llm", "RETRIEVER": "retriever", "TOOL": "tool", "CHAIN": "chain", "EMBEDDING": "llm"}


class OtlpError(ValueError):
    """The body is not an OTLP/HTTP JSON trace export."""


def _any_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [_any_value(item) for item in (value["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in value:
        return _attributes((value["kvlistValue"] or {}).get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def _attributes(items: Any) -> dict[str, Any]:
    if not isinstance(items, list):
        raise OtlpError("attributes must be a list of {key, value}")
    result: dict[str, Any] = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            result[item["key"]] = _any_value(item.get("value"))
    return result


def _time(nanos: Any) -> dt.datetime:
    try:
        return _EPOCH + dt.timedelta(microseconds=int(nanos) // 1000)
    except (TypeError, ValueError):
        raise OtlpError(f"invalid unix-nano time {nanos!r}") from None


def _first(attrs: dict[str, Any], *names: str) -> Any:
    for name in names:
        value = attrs.pop(name, None)
        if value is not None:
            return value
    return None


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _indexed_messages(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]] | None:
    """Legacy ``gen_ai.prompt.0.role`` / ``gen_ai.prompt.0.content`` attributes -> message list."""
    messages: dict[int, dict[str, Any]] = {}
    for name in [name for name in attrs if name.startswith(prefix + ".")]:
        index_text, _, field = name[len(prefix) + 1 :].partition(".")
        if index_text.isdigit() and field:
            messages.setdefault(int(index_text), {})[field] = attrs.pop(name)
    return [messages[index] for index in sorted(messages)] or None


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _span(raw: dict[str, Any], resource: dict[str, Any]) -> SpanIn:
    attrs = _attributes(raw.get("attributes") or [])
    status = raw.get("status") or {}
    model = _first(attrs, "gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
    operation = _first(attrs, "gen_ai.operation.name")
    oi_kind = _first(attrs, "openinference.span.kind")
    kind = "span"
    if operation in _LLM_OPERATIONS or (operation is None and model is not None):
        kind = "llm"
    if isinstance(oi_kind, str) and oi_kind.upper() in _OPENINFERENCE_KINDS:
        kind = _OPENINFERENCE_KINDS[oi_kind.upper()]
    input_tokens = _int(
        _first(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
    )
    output_tokens = _int(
        _first(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion")
    )
    total = _int(_first(attrs, "llm.token_count.total", "gen_ai.usage.total_tokens"))
    if total is None and (input_tokens is not None or output_tokens is not None):
        total = (input_tokens or 0) + (output_tokens or 0)
    span_input = _first(attrs, "gen_ai.input.messages", "input.value") or _indexed_messages(attrs, "gen_ai.prompt")
    span_output = _first(attrs, "gen_ai.output.messages", "output.value") or _indexed_messages(
        attrs, "gen_ai.completion"
    )
    is_error = status.get("code") in (2, "STATUS_CODE_ERROR")
    service = resource.get("service.name")
    if service is not None:
        attrs["service.name"] = service
    return SpanIn(
        span_id=str(raw.get("spanId") or ""),
        trace_id=str(raw.get("traceId") or ""),
        parent_span_id=raw.get("parentSpanId") or None,
        name=str(raw.get("name") or "span")[:256],
        kind=kind,
        start_time=_time(raw.get("startTimeUnixNano")),
        end_time=_time(raw.get("endTimeUnixNano") or raw.get("startTimeUnixNano")),
        status="error" if is_error else "ok",
        error_type=_first(attrs, "error.type", "exception.type") if is_error else None,
        error_message=(status.get("message") or _first(attrs, "exception.message")) if is_error else None,
        input=_maybe_json(span_input),
        output=_maybe_json(span_output),
        user_id=_first(attrs, "user.id", "enduser.id"),
        session_id=_first(attrs, "session.id", "gen_ai.conversation.id"),
        prompt_name=_first(attrs, "llmmon.prompt.name"),
        prompt_version=_first(attrs, "llmmon.prompt.version"),
        prompt_hash=_first(attrs, "llmmon.prompt.hash"),
        model=model,
        provider=_first(attrs, "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=_int(_first(attrs, "gen_ai.usage.cache_read.input_tokens")),
        total_tokens=total,
        attributes=attrs or None,
    )


def otlp_spans(body: Any) -> list[SpanIn]:
    """Every span in an OTLP/HTTP JSON export (pydantic ``ValidationError`` for bad span fields)."""
    if not isinstance(body, dict) or not isinstance(body.get("resourceSpans", []), list):
        raise OtlpError('expected an OTLP/HTTP JSON export: {"resourceSpans": [...]}')
    spans: list[SpanIn] = []
    for resource_spans in body.get("resourceSpans", []):
        if not isinstance(resource_spans, dict):
            raise OtlpError("resourceSpans items must be objects")
        resource = _attributes((resource_spans.get("resource") or {}).get("attributes") or [])
        for scope_spans in resource_spans.get("scopeSpans") or []:
            for raw in (scope_spans or {}).get("spans") or []:
                if not isinstance(raw, dict):
                    raise OtlpError("spans must be objects")
                spans.append(_span(raw, resource))
    return spans
