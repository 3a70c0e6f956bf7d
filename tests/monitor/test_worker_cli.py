"""`llmmon worker` from the command line."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from llmmon.cli import app
from llmmon.storage.engine import make_engine
from llmmon.storage.migrate import upgrade_database
from tests.monitor.worker_support import add_traces, all_once, check_counts, jobs_by_id, seed_kb


def test_worker_once_checks_every_trace_and_reports(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'llmmon.db'}"
    engine = make_engine(url)
    try:
        upgrade_database(engine)
        seed_kb(engine)
        ids = add_traces(engine, 12, wrong_every=4)
        result = CliRunner().invoke(app, ["worker", "--db", url, "--once", "--batch", "5", "--judge-share", "0"])
        assert result.exit_code == 0, result.output
        assert "12 claimed: 12 fact-checked, 0 judged" in result.output
        assert all_once(check_counts(engine), ids)
        again = CliRunner().invoke(app, ["worker", "--db", url, "--once"])
        assert "0 claimed" in again.output and all_once(check_counts(engine), ids)
        assert {j.status for j in jobs_by_id(engine).values()} == {"done"}
    finally:
        engine.dispose()


def test_worker_with_an_unknown_kb_exits_2_naming_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'llmmon.db'}"
    engine = make_engine(url)
    try:
        upgrade_database(engine)
        seed_kb(engine)
        result = CliRunner().invoke(app, ["worker", "--db", url, "--once", "--kb", "nope"])
        assert result.exit_code == 2 and "nope" in result.output
        seed_kb(engine, "second")
        result = CliRunner().invoke(app, ["worker", "--db", url, "--once"])
        assert result.exit_code == 2 and "--kb" in result.output and "second" in result.output
    finally:
        engine.dispose()


def test_worker_rejects_a_share_outside_zero_to_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["worker", "--db", str(tmp_path / "x.db"), "--once", "--judge-share", "1.5"])
    assert result.exit_code == 2
