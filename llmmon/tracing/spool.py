"""The spool: an append-only, size-bounded local file store for span rows the database
could not take, replayed in order once the database is back (also by a later process).

Layout: one directory per database (``spool_dir/<hash of the URL>/``) holding JSON-lines
segments. A segment being written is named ``<time_ns>-<pid>-<n>.jsonl.open`` and renamed
to ``.jsonl`` when closed; replay reads closed segments -- and open ones whose process is
gone (a crash) -- oldest first, and deletes each one once all its rows are stored. A line
cut short by a crash is skipped with a warning. Rows are inserted idempotently by span id,
so a segment replayed twice (two processes, or a crash mid-replay) stores nothing twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["Spool", "spool_directory"]

logger = logging.getLogger("llmmon")

_DATETIME_COLUMNS = ("start_time", "end_time")
_SEGMENT_MAX_BYTES = 16 * 1024 * 1024


def spool_directory(spool_dir: Path, database_url: str) -> Path:
    """Where spans for ``database_url`` are spooled: one sub-directory per database."""
    digest = hashlib.sha256(database_url.encode("utf-8")).hexdigest()[:16]
    return Path(spool_dir) / digest


def _encode(row: dict[str, Any]) -> str:
    encoded = dict(row)
    for column in _DATETIME_COLUMNS:
        value = encoded.get(column)
        if isinstance(value, dt.datetime):
            encoded[column] = value.isoformat()
    return json.dumps(encoded, ensure_ascii=False, separators=(",", ":"))


def _decode(line: str) -> dict[str, Any]:
    row: dict[str, Any] = json.loads(line)
    for column in _DATETIME_COLUMNS:
        value = row.get(column)
        if isinstance(value, str):
            row[column] = dt.datetime.fromisoformat(value)
    return row


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _count_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            count += chunk.count(b"\n")
    return count


class Spool:
    """Append-only JSON-lines segments in ``directory``, at most ``max_bytes`` in total."""

    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._open_path: Path | None = None
        self._open_file: Any = None
        self._open_bytes = 0
        self._counter = 0
        self.pending_rows = 0
        self.size_bytes = 0
        self._scan()

    def _scan(self) -> None:
        """Count what earlier runs left behind."""
        for path in self._replayable():
            try:
                self.size_bytes += path.stat().st_size
                self.pending_rows += _count_lines(path)
            except OSError:
                continue

    def _replayable(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        segments: list[Path] = []
        for path in self.directory.iterdir():
            if path.name.endswith(".jsonl"):
                segments.append(path)
            elif path.name.endswith(".jsonl.open") and path != self._open_path:
                try:
                    pid = int(path.name.split("-")[1])
                except (IndexError, ValueError):
                    continue
                if not _pid_alive(pid):
                    segments.append(path)
        return sorted(segments, key=lambda p: p.name)

    def append(self, rows: list[dict[str, Any]]) -> int:
        """Append rows in order; returns how many fit under the bound (the rest are refused)."""
        if not rows:
            return 0
        lines = [_encode(row) + "\n" for row in rows]
        accepted = 0
        data: list[str] = []
        added = 0
        for line in lines:
            size = len(line.encode("utf-8"))
            if self.size_bytes + added + size > self.max_bytes:
                break
            data.append(line)
            added += size
            accepted += 1
        if not data:
            return 0
        handle = self._segment()
        handle.write("".join(data))
        handle.flush()
        self._open_bytes += added
        self.size_bytes += added
        self.pending_rows += accepted
        if self._open_bytes >= _SEGMENT_MAX_BYTES:
            self.close_segment()
        return accepted

    def _segment(self) -> Any:
        if self._open_file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._counter += 1
            name = f"{time.time_ns():020d}-{os.getpid()}-{self._counter:06d}.jsonl.open"
            self._open_path = self.directory / name
            self._open_file = self._open_path.open("a", encoding="utf-8")
            self._open_bytes = 0
        return self._open_file

    def close_segment(self) -> None:
        """Close the segment being written so that it can be replayed (by anyone)."""
        if self._open_file is None or self._open_path is None:
            return
        self._open_file.close()
        closed = self._open_path.with_name(self._open_path.name.removesuffix(".open"))
        os.replace(self._open_path, closed)
        self._open_file = None
        self._open_path = None

    def _rows(self, path: Path) -> Iterator[dict[str, Any]]:
        with path.open("r", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.endswith("\n"):
                    logger.warning("llmmon: skipping a partly written line %s:%d (crash?)", path, number)
                    continue
                try:
                    yield _decode(line)
                except (ValueError, TypeError):
                    logger.warning("llmmon: skipping an unreadable spool line %s:%d", path, number)

    def replay(self, write: Callable[[list[dict[str, Any]]], None], *, batch_size: int) -> int:
        """Hand every spooled row, oldest first, to ``write`` in batches; returns rows replayed.

        A segment is deleted only after ``write`` took all its rows; if ``write`` raises,
        the exception propagates and the segment stays for the next attempt.
        """
        self.close_segment()
        replayed = 0
        for path in self._replayable():
            try:
                size = path.stat().st_size
            except FileNotFoundError:  # another process replayed it meanwhile
                continue
            lines = 0
            batch: list[dict[str, Any]] = []
            try:
                for row in self._rows(path):
                    batch.append(row)
                    if len(batch) >= batch_size:
                        write(batch)
                        replayed += len(batch)
                        batch = []
                if batch:
                    write(batch)
                    replayed += len(batch)
                lines = _count_lines(path)
            except FileNotFoundError:
                continue
            path.unlink(missing_ok=True)
            self.size_bytes = max(0, self.size_bytes - size)
            self.pending_rows = max(0, self.pending_rows - lines)
        return replayed

    def close(self) -> None:
        """Close the open segment; its rows stay for the next run to replay."""
        self.close_segment()
