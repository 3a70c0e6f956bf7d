"""The active tracing runtime: settings, recorder and switches that traced code consults.

There is exactly one active runtime per process. ``configure()`` replaces it (flushing
and closing the old recorder); without a call to ``configure()`` the first traced call
builds one from the environment. Reading the runtime on the hot path is one attribute
load from ``STATE``; nothing here takes a lock after configuration.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from llmmon.config import Settings
from llmmon.tracing.recorder import FlushResult, Recorder

__all__ = ["STATE", "Runtime", "configure", "flush", "get_runtime", "shutdown", "stats"]

logger = logging.getLogger("llmmon")


class Runtime:
    """What the decorator needs to know on every call, copied out of Settings for speed."""

    __slots__ = ("capture_io", "enabled", "recorder", "sample_rate", "settings")

    def __init__(self, settings: Settings, recorder: Recorder) -> None:
        self.settings = settings
        self.recorder = recorder
        self.enabled = settings.enabled
        self.sample_rate = settings.sample_rate
        self.capture_io = settings.capture_io

    def flush(self, timeout: float = 5.0) -> FlushResult:
        """Wait until spans recorded so far are stored (or ``timeout`` passes)."""
        return self.recorder.flush(timeout)

    def close(self, timeout: float = 5.0) -> FlushResult:
        """Flush and stop the recorder."""
        return self.recorder.close(timeout)

    def __repr__(self) -> str:
        return f"Runtime(enabled={self.enabled}, sample_rate={self.sample_rate}, recorder={self.recorder!r})"


class _State:
    """Holder of the active runtime (an attribute, so hot paths read it without a lock)."""

    __slots__ = ("after_fork", "hooks_registered", "runtime")

    def __init__(self) -> None:
        self.runtime: Runtime | None = None
        self.hooks_registered = False
        # Set in a forked child: the parent's settings, to configure from on first use.
        self.after_fork: Settings | None = None


STATE = _State()
_configure_lock = threading.Lock()


def _build_settings(settings: Settings | None, overrides: dict[str, Any]) -> Settings:
    if settings is None:
        return Settings(**overrides)
    if not overrides:
        return settings
    return Settings.model_validate({**settings.model_dump(), **overrides})


def _default_recorder(settings: Settings, redactor: Callable[[str], str] | None) -> Recorder:
    from llmmon.tracing.recorder import QueueRecorder

    return QueueRecorder(settings, redactor=redactor)


def configure(
    settings: Settings | None = None,
    *,
    recorder: Recorder | None = None,
    redactor: Callable[[str], str] | None = None,
    **overrides: Any,
) -> Runtime:
    """Set up tracing for this process and return the new runtime.

    ``settings`` defaults to ``Settings()`` (environment + defaults); keyword
    ``overrides`` replace single fields. ``recorder`` replaces the database recorder
    (tests use ``InMemoryRecorder``). ``redactor`` replaces the PII redaction function
    (a ``str -> str`` callable; ``llmmon.tracing.redact.Redactor(extra_patterns=...)``
    adds patterns to the built-in ones). Reconfiguring flushes and closes the old
    recorder. Usage::

        llmmon.configure(database_url="sqlite:///traces.db", sample_rate=0.5)
    """
    built = _build_settings(settings, overrides)
    new_recorder = recorder if recorder is not None else _default_recorder(built, redactor)
    runtime = Runtime(built, new_recorder)
    with _configure_lock:
        old = STATE.runtime
        STATE.runtime = runtime
        if not STATE.hooks_registered:
            atexit.register(_flush_at_exit)
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_after_fork_in_child)
            STATE.hooks_registered = True
    if old is not None and old.recorder is not new_recorder:
        _close_quietly(old)
    return runtime


def _close_quietly(runtime: Runtime, timeout: float = 5.0) -> FlushResult:
    try:
        result = runtime.close(timeout)
    except Exception:  # a user-supplied recorder failed; tracing must not break the app
        logger.warning("llmmon: closing the recorder failed", exc_info=True)
        return FlushResult(written=0, pending=0, dropped=0)
    return result if isinstance(result, FlushResult) else FlushResult(written=0, pending=0, dropped=0)


def get_runtime() -> Runtime:
    """The active runtime, configured lazily from the environment on first use."""
    runtime = STATE.runtime
    if runtime is not None:
        return runtime
    with _configure_lock:
        if STATE.runtime is not None:
            return STATE.runtime
        inherited, STATE.after_fork = STATE.after_fork, None
    try:
        return configure(inherited)
    except Exception as exc:  # bad environment: trace nothing rather than break the app
        logger.warning("llmmon: tracing disabled, configuration failed: %s", exc)
        from llmmon.tracing.recorder import InMemoryRecorder

        fallback = Runtime(Settings.model_construct(enabled=False), InMemoryRecorder())
        fallback.enabled = False
        with _configure_lock:
            if STATE.runtime is None:
                STATE.runtime = fallback
            return STATE.runtime


def flush(timeout: float = 5.0) -> FlushResult:
    """Wait up to ``timeout`` seconds for recorded spans to be stored; never raises."""
    runtime = STATE.runtime
    if runtime is None:
        return FlushResult(written=0, pending=0, dropped=0)
    try:
        return runtime.flush(timeout)
    except Exception:
        logger.warning("llmmon: flush failed", exc_info=True)
        return FlushResult(written=0, pending=0, dropped=0)


def stats() -> dict[str, Any]:
    """Counters of the active recorder: recorded, written, pending, dropped (by reason), spooled."""
    runtime = STATE.runtime
    if runtime is None:
        return {"configured": False}
    try:
        result = dict(runtime.recorder.stats())
    except Exception:
        logger.warning("llmmon: stats failed", exc_info=True)
        result = {}
    result.update(configured=True, enabled=runtime.enabled, sample_rate=runtime.sample_rate)
    return result


def shutdown(timeout: float = 5.0) -> FlushResult:
    """Flush and stop tracing; the next traced call configures a fresh runtime."""
    with _configure_lock:
        runtime = STATE.runtime
        STATE.runtime = None
    if runtime is None:
        return FlushResult(written=0, pending=0, dropped=0)
    return _close_quietly(runtime, timeout)


def _after_fork_in_child() -> None:
    """A forked child has no writer thread and a copy of the parent's queue (which the parent
    writes itself): drop both and configure a fresh runtime with the same settings on first use."""
    global _configure_lock
    _configure_lock = threading.Lock()  # the parent may have held it while forking
    runtime = STATE.runtime
    if runtime is None or not isinstance(runtime.recorder, _queue_recorder_type()):
        return
    STATE.after_fork = runtime.settings
    STATE.runtime = None


def _queue_recorder_type() -> type:
    from llmmon.tracing.recorder import QueueRecorder

    return QueueRecorder


def _flush_at_exit() -> None:
    runtime = STATE.runtime
    if runtime is None:
        return
    result = _close_quietly(runtime, runtime.settings.exit_flush_timeout_s)
    if result.pending:
        logger.warning("llmmon: %d spans not stored at exit (spooled ones replay next run)", result.pending)
