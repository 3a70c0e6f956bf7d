"""Remote mode: the writer posts span rows to an llmmon server (``POST /v1/traces``) instead of a database.

Enabled by ``LLMMON_ENDPOINT=http://host:8000`` (+ ``LLMMON_API_KEY``, an ``ingest`` key).
The rows are exactly what the writer would have inserted; the server stores them
idempotently by span id, so a batch retried after a lost response is stored once.
Network errors and 5xx answers raise ``RemoteUnavailableError`` (an ``OSError``), which the
writer treats like an unavailable database: spool, back off, replay. A 4xx answer means the
batch itself is wrong and is raised as ``RemoteRejectedError`` (the writer drops it).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

__all__ = ["RemoteRejectedError", "RemoteSink", "RemoteUnavailableError", "writer_class"]

_logger = logging.getLogger("llmmon")


class RemoteUnavailableError(OSError):
    """The server could not be reached or failed (retry later)."""


class RemoteRejectedError(ValueError):
    """The server refused the batch (4xx): retrying the same rows would fail again."""


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class RemoteSink:
    """Posts batches of span rows to ``<endpoint>/v1/traces``."""

    def __init__(
        self, endpoint: str, *, api_key: str | None, timeout: float = 10.0, http_client: httpx.Client | None = None
    ) -> None:
        self.url = endpoint.rstrip("/") + "/v1/traces"
        headers = {"content-type": "application/json"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self._headers = headers
        self._owns_client = http_client is None
        self._client = http_client if http_client is not None else httpx.Client(timeout=timeout)

    def send(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Post ``rows``; returns once the server has stored them."""
        if not rows:
            return
        body = json.dumps({"spans": list(rows)}, default=_default, ensure_ascii=False, separators=(",", ":"))
        try:
            response = self._client.post(self.url, content=body.encode("utf-8"), headers=self._headers)
        except httpx.HTTPError as exc:
            raise RemoteUnavailableError(f"llmmon server {self.url} unreachable: {exc}") from exc
        if response.status_code >= 500 or response.status_code in (401, 403, 408, 429):
            # Auth errors are retried too: a fixed key should not cost the spans recorded meanwhile.
            raise RemoteUnavailableError(
                f"llmmon server {self.url} answered {response.status_code}: {response.text[:200]}"
            )
        if response.status_code >= 400:
            raise RemoteRejectedError(
                f"llmmon server rejected the batch ({response.status_code}): {response.text[:500]}"
            )

    def close(self) -> None:
        """Close the HTTP client (if this sink created it)."""
        if self._owns_client:
            self._client.close()


def writer_class(settings: Any) -> type[Any]:
    """The writer the recorder should use: ``RemoteSpanWriter`` when ``settings.endpoint`` is set."""
    from llmmon.tracing.writer import SpanWriter

    if not getattr(settings, "endpoint", None):
        return SpanWriter

    class RemoteSpanWriter(SpanWriter):
        """``SpanWriter`` whose store is an llmmon server; spooling, backoff and replay are inherited."""

        def __init__(self, settings: Any, **kwargs: Any) -> None:
            super().__init__(settings, **kwargs)
            api_key = settings.api_key.get_secret_value() if settings.api_key is not None else None
            self._sink = RemoteSink(settings.endpoint, api_key=api_key)

        def _ensure_schema(self) -> None:
            return  # the server owns the schema

        def _insert(self, rows: list[dict[str, Any]], prepared: Any = None) -> None:
            try:
                self._sink.send(rows)
            except RemoteRejectedError as exc:
                _logger.warning("llmmon: %s; %d spans dropped", exc, len(rows))
                self._on_drop("rejected", len(rows))
                return
            self.written += len(rows)

        def close(self) -> None:
            super().close()
            self._sink.close()

    return RemoteSpanWriter
