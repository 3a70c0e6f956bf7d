"""Group commit for feedback: concurrent votes share one transaction; each is answered after it is durable.

``submit(vote)`` queues the vote and waits. One writer task takes everything queued, writes it
in one transaction on a dedicated thread, then resolves every waiting request: success only
after the commit returned, the database error otherwise (the route answers 503 and the client
retries -- an acknowledged vote is never lost). While one commit runs, the next batch fills up,
so batches grow with load and the commit cost is shared (the reference: ~850 req/s committing
per request vs ~4,600 req/s grouped, on the same machine).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

from llmmon.storage.feedback import FeedbackVote, write_votes

__all__ = ["FeedbackWriter"]

logger = logging.getLogger("llmmon")

_MAX_BATCH = 2_000


class FeedbackWriter:
    """Batches votes from concurrent requests into shared commits. Lives on one event loop."""

    def __init__(self, engine: Engine, *, max_batch: int = _MAX_BATCH) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._pending: list[tuple[FeedbackVote, asyncio.Future[None]]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False
        self.batches = 0
        self.votes = 0

    async def submit(self, vote: FeedbackVote) -> None:
        """Store ``vote``; returns once it is committed, raises the database error otherwise."""
        if self._closed:
            raise RuntimeError("the feedback writer is closed")
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._wake = asyncio.Event()
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmmon-feedback")
            self._task = loop.create_task(self._run())
        assert self._wake is not None
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((vote, future))
        self._wake.set()
        await future

    async def _run(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    await loop.run_in_executor(self._executor, self._write, [vote for vote, _ in batch])
                except BaseException as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    continue
                self.batches += 1
                self.votes += len(batch)
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
            if self._closed:
                return

    def _write(self, votes: list[FeedbackVote]) -> None:
        with self._engine.begin() as connection:
            write_votes(connection, votes)

    async def close(self) -> None:
        """Write what is queued, then stop the writer task and its thread."""
        self._closed = True
        if self._task is not None and self._wake is not None:
            self._wake.set()
            try:
                await asyncio.wait_for(self._task, timeout=30)
            except (TimeoutError, asyncio.CancelledError):
                logger.warning("llmmon server: feedback writer did not finish in time")
        if self._executor is not None:
            self._executor.shutdown(wait=True)
