"""The spool on its own: order, bound, crash leftovers, idempotent replay."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest

from llmmon.tracing.spool import Spool


def _row(i: int) -> dict[str, Any]:
    return {"span_id": f"{i:016x}", "start_time": dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "n": i}


def test_spool_replays_in_order_across_instances(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1_000_000)
    assert spool.append([_row(i) for i in range(5)]) == 5
    spool.close_segment()
    assert spool.append([_row(i) for i in range(5, 8)]) == 3
    spool.close()
    again = Spool(tmp_path, max_bytes=1_000_000)
    assert again.pending_rows == 8
    seen: list[dict[str, Any]] = []
    assert again.replay(seen.extend, batch_size=3) == 8
    assert [row["n"] for row in seen] == list(range(8))
    assert seen[0]["start_time"] == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert again.pending_rows == 0 and again.size_bytes == 0
    assert list(tmp_path.iterdir()) == []


def test_spool_refuses_rows_beyond_its_bound(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1024)
    accepted = spool.append([_row(i) for i in range(100)])
    assert 0 < accepted < 100
    assert spool.size_bytes <= 1024
    spool.close()


def test_failed_replay_keeps_the_segment(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1_000_000)
    spool.append([_row(i) for i in range(4)])

    def broken(rows: list[dict[str, Any]]) -> None:
        raise OSError("database down")

    with pytest.raises(OSError):
        spool.replay(broken, batch_size=10)
    assert spool.pending_rows == 4
    seen: list[dict[str, Any]] = []
    spool.replay(seen.extend, batch_size=10)
    assert len(seen) == 4


def test_crashed_writer_segment_and_partial_line(tmp_path: Path) -> None:
    # A segment left open by a process that no longer exists, its last line cut short.
    dead_pid = 2**22 + 12345
    assert not Path(f"/proc/{dead_pid}").exists()
    segment = tmp_path / f"{1:020d}-{dead_pid}-000001.jsonl.open"
    segment.write_text('{"span_id":"a","n":1}\n{"span_id":"b","n":2}\n{"span_id":"c"', encoding="utf-8")
    live = tmp_path / f"{2:020d}-{os.getpid()}-000009.jsonl.open"  # another live writer's segment
    live.write_text('{"span_id":"z","n":9}\n', encoding="utf-8")
    spool = Spool(tmp_path, max_bytes=1_000_000)
    seen: list[dict[str, Any]] = []
    spool.replay(seen.extend, batch_size=10)
    assert [row["span_id"] for row in seen] == ["a", "b"]
    assert not segment.exists()
    assert live.exists()
