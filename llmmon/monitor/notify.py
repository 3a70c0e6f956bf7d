"""Alert delivery to webhooks: Slack-compatible JSON, retried with backoff, never raising.

A failing webhook must not take the monitor down: every attempt ends in a ``Delivery``
record (ok, HTTP status, error text, attempts) that is stored on the alert row, and the
monitor carries on with the next alert.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

__all__ = ["Delivery", "WebhookNotifier", "slack_payload"]

logger = logging.getLogger("llmmon")

_EMOJI = {"firing": ":rotating_light:", "resolved": ":white_check_mark:"}


@dataclass(frozen=True)
class Delivery:
    """The outcome of delivering one notification to one webhook (after retries)."""

    url: str
    event: str
    ok: bool
    attempts: int
    status: int | None
    error: str | None
    at: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def slack_payload(*, event: str, title: str, lines: list[str]) -> dict[str, Any]:
    """``{"text": ..., "blocks": [...]}``: plain ``text`` for any webhook, blocks for Slack."""
    text = f"{_EMOJI.get(event, '')} [{event.upper()}] {title}".strip()
    body = "\n".join(lines)
    return {
        "text": f"{text}\n{body}" if body else text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f"[{event.upper()}] {title}"[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body or title}},
        ],
    }


def _redacted(url: str) -> str:
    """The URL without its path secrets (Slack hook URLs are credentials)."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}{':' + str(parsed.port) if parsed.port else ''}/…"


class WebhookNotifier:
    """POSTs JSON to webhook URLs; retries connection errors and 5xx/429 with exponential backoff."""

    def __init__(
        self,
        *,
        http_client: httpx.Client | None = None,
        attempts: int = 3,
        backoff_s: float = 0.5,
        timeout_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._owns_client = http_client is None
        self._client = http_client or httpx.Client(timeout=timeout_s)
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self._sleep = sleep

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> WebhookNotifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, url: str, payload: dict[str, Any], *, event: str) -> Delivery:
        """Deliver ``payload``; returns what happened instead of raising."""
        status: int | None = None
        error: str | None = None
        attempt = 0
        for attempt in range(1, self.attempts + 1):
            try:
                response = self._client.post(url, json=payload)
                status = response.status_code
                if response.is_success:
                    return Delivery(url, event, True, attempt, status, None, _now())
                error = f"HTTP {status}: {response.text[:200]}"
                if status < 500 and status != 429:
                    break  # a 4xx will not get better by retrying
            except httpx.HTTPError as exc:
                status = None
                error = f"{type(exc).__name__}: {exc}"
            if attempt < self.attempts:
                self._sleep(self.backoff_s * 2 ** (attempt - 1))
        logger.warning("alert webhook %s failed after %d attempt(s): %s", _redacted(url), attempt, error)
        return Delivery(url, event, False, attempt, status, error, _now())


def _now() -> str:
    return datetime.now(UTC).isoformat()
