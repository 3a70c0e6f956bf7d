"""Span and trace ids: random hex strings made fast enough for the caller's path.

``random.getrandbits(n).to_bytes(...).hex()`` is a few hundred nanoseconds cheaper than
``os.urandom``, ``uuid4`` or an f-string format, and the ``random`` module re-seeds itself
in a forked child, so two processes forked from one parent do not repeat each other's ids. Ids only need to be
unique, not unguessable.
"""

from __future__ import annotations

from random import getrandbits

__all__ = ["new_span_id", "new_trace_id"]


def new_span_id() -> str:
    """64 random bits as 16 lowercase hex digits (the OpenTelemetry span id size)."""
    return getrandbits(64).to_bytes(8, "big").hex()


def new_trace_id() -> str:
    """128 random bits as 32 lowercase hex digits (the OpenTelemetry trace id size)."""
    return getrandbits(128).to_bytes(16, "big").hex()
