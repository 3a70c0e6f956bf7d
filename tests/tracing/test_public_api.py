"""The public API: exports resolve lazily, `import llmmon` stays light, forked children trace."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import llmmon
from tests.tracing.conftest import configure_database, span_rows

REPO = Path(__file__).resolve().parents[2]


def test_all_is_sorted_and_every_export_resolves() -> None:
    assert list(llmmon.__all__) == sorted(llmmon.__all__)
    for name in ("configure", "trace", "span", "current_span", "flush", "stats", "shutdown", "Settings",
                 "SpanRecord", "FlushResult", "LlmmonError", "StorageError"):  # fmt: skip
        assert name in llmmon.__all__
        assert getattr(llmmon, name) is not None
    with pytest.raises(AttributeError):
        _ = llmmon.not_a_name  # type: ignore[attr-defined]


def test_import_llmmon_is_light() -> None:
    code = (
        "import sys, llmmon\n"
        "heavy = [m for m in ('sqlalchemy', 'openai', 'fastapi', 'alembic', 'tiktoken') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_traces_with_its_own_writer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'traces.db'}"
    configure_database(url, tmp_path / "spool")
    try:
        traced = llmmon.trace(name="work")(lambda who: who)
        traced("parent")
        llmmon.flush(10)
        with warnings.catch_warnings():
            # Python 3.12+ warns about forking a process that has threads (our writer).
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # child: trace, flush, and leave without running pytest's teardown
            code = 1
            try:
                traced("child")
                code = 0 if llmmon.flush(10).written == 1 else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        rows = span_rows(url)
        assert sorted(row["input"] for row in rows) == ['{"who":"child"}', '{"who":"parent"}']
    finally:
        llmmon.shutdown()
