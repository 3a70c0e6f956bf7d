"""Monitoring: the evaluation worker (``worker``), metrics, drift, alerts, canaries, the model card.

Light on import: the worker is loaded when first used (``llmmon.monitor.start_worker``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmmon.monitor.worker import BatchReport, Worker, WorkerConfig, WorkerHandle, start_worker

__all__ = ["BatchReport", "Worker", "WorkerConfig", "WorkerHandle", "start_worker"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from llmmon.monitor import worker

        return getattr(worker, name)
    raise AttributeError(f"module 'llmmon.monitor' has no attribute {name!r}")
