"""Dashboard log-in: ``GET /login`` (a form), ``POST /login`` (sets the session cookie), ``POST /logout``.

The form takes a read or admin API key; the cookie holds a signed ``expiry.key_id.signature``
(never the key), valid for 12 hours or until the key is revoked. See ``llmmon.server.auth``.
"""

from __future__ import annotations

import html
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from llmmon.server.auth import SESSION_COOKIE, get_secret, resolve_key
from llmmon.server.tokens import make_session_token

__all__ = ["SESSION_TTL_S", "router"]

SESSION_TTL_S = 12 * 3600

router = APIRouter(tags=["session"])

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>llmmon: log in</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto}}
input{{width:100%;padding:.4rem;margin:.4rem 0}}.error{{color:#b00}}</style></head>
<body><h1>llmmon</h1><p>Log in with a <code>read</code> or <code>admin</code> API key
(<code>llmmon keys create --scope read</code>).</p>{error}
<form method="post" action="/login"><input type="hidden" name="next" value="{next}">
<label>API key <input type="password" name="key" autocomplete="off" autofocus></label>
<button type="submit">Log in</button></form></body></html>"""


def _safe_next(target: str | None) -> str:
    # Only same-site relative paths: never an open redirect to another host.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _page(next_path: str, error: str = "") -> str:
    error_html = f'<p class="error">{html.escape(error)}</p>' if error else ""
    return _PAGE.format(error=error_html, next=html.escape(next_path, quote=True))


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_form(next: Annotated[str | None, Query()] = None) -> HTMLResponse:
    """The log-in form."""
    return HTMLResponse(_page(_safe_next(next)))


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    """Check the key from the form and set the session cookie."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    key = (form.get("key") or [""])[0].strip()
    next_path = _safe_next((form.get("next") or ["/"])[0])
    record = await resolve_key(request, key) if key else None
    if record is None or record.scope not in ("read", "admin"):
        return HTMLResponse(_page(next_path, "Unknown, revoked or ingest-only key."), status_code=401)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        make_session_token(await get_secret(request), record.id, ttl_s=SESSION_TTL_S),
        max_age=SESSION_TTL_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout", include_in_schema=False)
async def logout() -> Response:
    """Forget the session cookie."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
