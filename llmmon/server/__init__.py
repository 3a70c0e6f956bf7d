"""The llmmon server: FastAPI app factory, auth (API keys, signed feedback tokens), feedback,
trace ingest (native and OTLP/HTTP JSON), Prometheus metrics, JSON API and dashboard.

``create_app`` is loaded lazily so that ``llmmon.server.keys`` and ``llmmon.server.tokens``
(used by the CLI and ``llmmon.feedback_token``) do not import FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmmon.server.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from llmmon.server.app import create_app

        return create_app
    raise AttributeError(f"module 'llmmon.server' has no attribute {name!r}")
