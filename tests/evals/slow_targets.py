"""A slow target for the Ctrl-C test, which runs `llmmon eval run` in a subprocess (import by path)."""

from __future__ import annotations

import time


def sleepy(question: str) -> str:
    """Answers after 0.3 s, like a chatbot behind a slow model."""
    time.sleep(0.3)
    return f"Answer to {question}"
