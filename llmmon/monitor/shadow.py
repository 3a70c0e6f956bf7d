"""Shadow traffic: run a candidate on a copy of live requests in the background.

``shadow(candidate)`` wraps the live function: the user gets the live answer exactly as before
(same return value, same exceptions, no added latency beyond copying the arguments), while a
bounded thread pool calls the candidate with deep copies of the arguments inside its own trace
(``shadow:<name>``, attributes ``shadow=True`` and ``shadow_of_trace``). Both traces land in the
database, so the canary report and the metrics can compare them. A failing candidate is
recorded on its span and never reaches the user; when the queue is full the copy is dropped
and counted.

Usage::

    shadowed = llmmon.canary.shadow(answer_v4)
    answer = shadowed(llmmon.trace(answer_v3))   # serve v3, shadow v4
    ...
    shadowed.close()                             # at shutdown: waits for pending shadow calls
"""

from __future__ import annotations

import copy
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

__all__ = ["Shadow", "shadow"]

logger = logging.getLogger("llmmon")

P = ParamSpec("P")
R = TypeVar("R")


class Shadow:
    """A candidate function run on copies of live calls; apply it to the live function."""

    def __init__(
        self, candidate: Callable[..., Any], *, name: str | None = None, max_workers: int = 2, max_pending: int = 100
    ) -> None:
        self.candidate = candidate
        self.name = name or getattr(candidate, "__name__", "candidate")
        self.max_pending = max_pending
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="llmmon-shadow")
        self._lock = threading.Lock()
        self._pending = 0
        self.submitted = 0
        self.dropped = 0
        self.failed = 0

    def __call__(self, live: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(live)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            from llmmon.tracing.context import current_span

            try:
                copied_args, copied_kwargs = copy.deepcopy((args, kwargs))
            except Exception:  # an uncopyable argument must not break the live call
                copied_args, copied_kwargs = None, None
                logger.warning("shadow %s: arguments could not be copied; call not shadowed", self.name)
            result = live(*args, **kwargs)
            if copied_args is not None and copied_kwargs is not None:
                span = current_span()
                self.submit(*copied_args, _shadow_of=span.trace_id if span else None, **copied_kwargs)
            return result

        return wrapper

    def submit(self, *args: Any, _shadow_of: str | None = None, **kwargs: Any) -> Future[Any] | None:
        """Run the candidate on ``args`` in the background; None when dropped (queue full)."""
        with self._lock:
            if self._pending >= self.max_pending:
                self.dropped += 1
                return None
            self._pending += 1
            self.submitted += 1
        return self._pool.submit(self._run, args, kwargs, _shadow_of)

    def _run(self, args: tuple[Any, ...], kwargs: dict[str, Any], shadow_of: str | None) -> Any:
        from llmmon.tracing.decorator import span

        try:
            with span(f"shadow:{self.name}", kind="chain") as record:
                if record is not None:
                    record.set_attributes({"shadow": True, "shadow_of_trace": shadow_of})
                    record.input = {"args": args, "kwargs": kwargs}
                result = self.candidate(*args, **kwargs)
                if record is not None:
                    record.output = result
                return result
        except Exception as exc:  # the candidate's failure is recorded on its span, never raised to the user
            with self._lock:
                self.failed += 1
            logger.info("shadow %s failed: %s: %s", self.name, type(exc).__name__, exc)
            return None
        finally:
            with self._lock:
                self._pending -= 1

    def close(self, *, wait: bool = True) -> None:
        """Stop accepting work; with ``wait`` finish the pending shadow calls first."""
        self._pool.shutdown(wait=wait, cancel_futures=not wait)

    def __enter__(self) -> Shadow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def shadow(
    candidate: Callable[..., Any], *, name: str | None = None, max_workers: int = 2, max_pending: int = 100
) -> Shadow:
    """A ``Shadow`` of ``candidate``; call it on the live function to get the shadowed function."""
    return Shadow(candidate, name=name, max_workers=max_workers, max_pending=max_pending)
