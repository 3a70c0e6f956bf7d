"""Targets the runner tests call by import path (``tests.evals.fake_targets:NAME``)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx

#: Set by tests at teardown so a hanging call ends (the runner has long given up on it).
RELEASE = threading.Event()
CALLS: list[str] = []
_lock = threading.Lock()


def _log(question: str) -> None:
    with _lock:
        CALLS.append(question)


def echo(question: str) -> str:
    """Answers every question the same way: the shop opens at 9 on Saturday."""
    _log(question)
    return f"We open at 9am on Saturday. You asked: {question}"


def fragile(question: str) -> str:
    """Raises on questions containing 'boom'."""
    _log(question)
    if "boom" in question:
        raise ValueError(f"cannot answer {question!r}")
    return f"Answer to {question}"


def hangs(question: str) -> str:
    """Never answers questions containing 'hang' (until RELEASE is set)."""
    _log(question)
    if "hang" in question:
        RELEASE.wait(30)
        return "too late"
    return f"Answer to {question}"


def interrupted(question: str) -> str:
    """Raises KeyboardInterrupt on the third call, like Ctrl-C mid-run."""
    _log(question)
    with _lock:
        count = len(CALLS)
    if count >= 3:
        raise KeyboardInterrupt
    return f"Answer to {question}"


def unreachable(question: str) -> str:
    """A target whose upstream refuses connections."""
    _log(question)
    raise httpx.ConnectError("connection refused")


def costly(question: str) -> dict[str, Any]:
    """A chat completion (dict) with usage: gpt-4o-mini at 1,000,000 input tokens costs a known amount."""
    _log(question)
    return {
        "model": "gpt-4o-mini",
        "choices": [{"message": {"role": "assistant", "content": f"Answer to {question}"}}],
        "usage": {"prompt_tokens": 1_000_000, "completion_tokens": 10, "total_tokens": 1_000_010},
    }


async def async_echo(question: str) -> str:
    """An async target."""
    _log(question)
    await asyncio.sleep(0)
    return f"Answer (async) to {question}"


def prices_vary(question: str) -> str:
    """Quotes $49 unless the WRONG_PRICES flag is set (a regression switch for gate tests)."""
    _log(question)
    return "The charger costs $59." if WRONG_PRICES.is_set() else "The charger costs $49."


WRONG_PRICES = threading.Event()
