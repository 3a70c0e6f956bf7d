"""One JSON error shape for every error the server returns: ``{"ok": false, "error": str, "status": int}``.

Routes raise ``ApiError`` (or let ``StorageError``/database errors escape); the handlers here
turn every error -- validation, HTTP, storage, unexpected -- into that shape. A 401 on a
browser page (``Accept: text/html``, not under ``/v1``) redirects to ``/login`` instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from llmmon.errors import StorageError

__all__ = [
    "ApiError",
    "DatabaseUnavailableError",
    "error_body",
    "error_response",
    "format_validation_errors",
    "install_error_handlers",
    "is_database_unavailable",
]

logger = logging.getLogger("llmmon")

_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError)


def is_database_unavailable(exc: BaseException) -> bool:
    """Errors meaning "the database cannot serve this now" (down, locked, unreachable), not "bad input"."""
    return isinstance(exc, (*_UNAVAILABLE, StorageError, OSError))


class ApiError(Exception):
    """An error with an HTTP status and a message meant for the client."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class DatabaseUnavailableError(ApiError):
    """The database cannot take the request right now (503): nothing was recorded."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            503,
            f"database unavailable, nothing was recorded; retry later ({detail})",
            headers={"Retry-After": "1"},
        )


def error_body(status: int, message: str) -> dict[str, Any]:
    """The error envelope."""
    return {"ok": False, "error": message, "status": status}


def error_response(status: int, message: str, *, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSONResponse in the error envelope."""
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


def _wants_login_page(request: Request) -> bool:
    return (
        request.method == "GET"
        and not request.url.path.startswith(("/v1", "/metrics"))
        and "text/html" in request.headers.get("accept", "")
    )


def format_validation_errors(errors: Sequence[Any]) -> str:
    """One line naming each invalid field (pydantic error dicts; a leading "body" location is dropped)."""
    parts = []
    for error in list(errors)[:10]:
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    if exc.status == 401 and _wants_login_page(request):
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="")
        return RedirectResponse(f"/login?next={target}", status_code=303)
    return error_response(exc.status, exc.message, headers=exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, str(exc.detail), headers=headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, format_validation_errors(exc.errors()))


async def _storage_error(request: Request, exc: Exception) -> Response:
    logger.warning("llmmon server: database error on %s %s: %s", request.method, request.url.path, exc)
    return error_response(503, DatabaseUnavailableError(type(exc).__name__).message, headers={"Retry-After": "1"})


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.error("llmmon server: unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the one envelope."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StorageError, _storage_error)
    for error_class in _UNAVAILABLE:
        app.add_exception_handler(error_class, _storage_error)
    app.add_exception_handler(Exception, _unexpected_error)
