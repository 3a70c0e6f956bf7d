"""The `llmmon` command line against real databases: exit codes, output and rows written."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select
from typer.testing import CliRunner

from llmmon.cli import app
from llmmon.pricing import PriceTable
from llmmon.storage.engine import make_engine
from llmmon.storage.migrate import upgrade_database
from llmmon.storage.models import Span
from tests.support.spans import span_row

runner = CliRunner()
NOW = datetime.now(UTC)


def _row(**values: object) -> dict[str, object]:
    start, latency = values.pop("start_time", NOW), values.pop("latency_ms", 10.0)
    assert isinstance(start, datetime) and isinstance(latency, float | int)
    return span_row(start_time=start, latency_ms=latency, **{"name": "answer", **values})


def _trace(
    *,
    age: timedelta = timedelta(0),
    user: str = "u1",
    status: str = "ok",
    cost: float | None = 0.001,
    version: str = "v1",
) -> list[dict[str, object]]:
    trace_id = uuid.uuid4().hex
    root = _row(
        trace_id=trace_id,
        start_time=NOW - age,
        user_id=user,
        status=status,
        prompt_name="support-answer",
        prompt_version=version,
        prompt_hash="aaaa",
        input='{"question": "hi"}',
        output='"hello"',
    )
    llm = _row(
        trace_id=trace_id,
        parent_span_id=root["span_id"],
        name="chat",
        kind="llm",
        start_time=NOW - age,
        model="gpt-4o-mini",
        input_tokens=1000,
        output_tokens=200,
        cost_usd=cost,
        user_id=user,
    )
    return [root, llm]


def _insert(engine: Engine, rows: list[dict[str, object]]) -> None:
    with engine.begin() as connection:
        connection.execute(insert(Span.__table__), rows)  # type: ignore[attr-defined]


def _span_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(Span.__table__)).scalar_one())  # type: ignore[attr-defined]


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


@pytest.fixture
def filled(db_url: str) -> tuple[str, Engine]:
    engine = make_engine(db_url)
    upgrade_database(engine)
    rows: list[dict[str, object]] = []
    for index in range(6):
        rows += _trace(
            age=timedelta(days=40 if index < 2 else 0),
            user=f"u{index % 3}",
            status="error" if index == 5 else "ok",
            version="v2" if index % 2 else "v1",
        )
    _insert(engine, rows)
    yield db_url, engine
    engine.dispose()


def test_cli_db_upgrade_is_idempotent(db_file: Path) -> None:
    first = runner.invoke(app, ["db", "upgrade", "--db", str(db_file)])
    second = runner.invoke(app, ["db", "upgrade", "--db", str(db_file)])
    assert first.exit_code == 0, first.output
    assert "Upgraded" in first.output
    assert second.exit_code == 0 and "up to date" in second.output
    engine = make_engine(f"sqlite:///{db_file}")
    try:
        assert _span_count(engine) == 0  # the table exists
    finally:
        engine.dispose()


def test_cli_uses_env_database_url(db_file: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"], env={"LLMMON_DATABASE_URL": f"sqlite:///{db_file}"})
    assert result.exit_code == 0, result.output
    assert db_file.exists()


def test_cli_traces_list_json_and_filters(filled: tuple[str, Engine]) -> None:
    url, _ = filled
    result = runner.invoke(app, ["traces", "list", "--db", url, "--json"])
    assert result.exit_code == 0, result.output
    page = json.loads(result.output)
    assert page["count"] == 6 and len(page["data"]) == 6
    assert page["data"][0]["span_count"] == 2 and page["data"][0]["model"] == "gpt-4o-mini"

    errors = json.loads(
        runner.invoke(app, ["traces", "list", "--db", url, "--json", "--status", "error"]).output
    )
    assert errors["count"] == 1
    recent = json.loads(runner.invoke(app, ["traces", "list", "--db", url, "--json", "--since", "7d"]).output)
    assert recent["count"] == 4
    v2 = json.loads(
        runner.invoke(app, ["traces", "list", "--db", url, "--json", "--prompt-version", "v2"]).output
    )
    assert v2["count"] == 3
    paged = json.loads(
        runner.invoke(app, ["traces", "list", "--db", url, "--json", "--limit", "4", "--offset", "4"]).output
    )
    assert len(paged["data"]) == 2

    table = runner.invoke(app, ["traces", "list", "--db", url])
    assert table.exit_code == 0 and "Traces 1-6 of 6" in table.output


def test_cli_traces_show_tree_and_unknown_id(filled: tuple[str, Engine]) -> None:
    url, _ = filled
    trace_id = json.loads(runner.invoke(app, ["traces", "list", "--db", url, "--json"]).output)["data"][0][
        "trace_id"
    ]

    shown = runner.invoke(app, ["traces", "show", trace_id[:10], "--db", url])
    assert shown.exit_code == 0, shown.output
    assert trace_id in shown.output and "chat (llm)" in shown.output and "model=gpt-4o-mini" in shown.output
    as_json = json.loads(runner.invoke(app, ["traces", "show", trace_id, "--db", url, "--json"]).output)
    assert as_json[0]["span"]["name"] == "answer" and as_json[0]["children"][0]["span"]["kind"] == "llm"

    missing = runner.invoke(app, ["traces", "show", "f" * 32, "--db", url])
    assert missing.exit_code == 1
    assert "no trace with id" in missing.output


def test_cli_stats_by_each_grouping(filled: tuple[str, Engine]) -> None:
    url, _ = filled
    by_model = json.loads(runner.invoke(app, ["stats", "--by", "model", "--db", url, "--json"]).output)
    assert by_model[0]["key"] == "gpt-4o-mini" and by_model[0]["count"] == 6
    assert by_model[0]["input_tokens"] == 6000 and by_model[0]["cost_usd"] == pytest.approx(0.006)
    by_version = json.loads(
        runner.invoke(app, ["stats", "--by", "prompt_version", "--db", url, "--json"]).output
    )
    assert {row["key"]: row["count"] for row in by_version} == {
        "support-answer v1": 3,
        "support-answer v2": 3,
    }
    assert sum(row["errors"] for row in by_version) == 1
    by_day = runner.invoke(app, ["stats", "--by", "day", "--db", url])
    assert by_day.exit_code == 0 and "Stats by day" in by_day.output


def test_cli_bad_input_exits_2(db_file: Path) -> None:
    runner.invoke(app, ["db", "upgrade", "--db", str(db_file)])
    assert runner.invoke(app, ["stats", "--by", "colour", "--db", str(db_file)]).exit_code == 2
    bad_since = runner.invoke(app, ["traces", "list", "--since", "yesterday-ish", "--db", str(db_file)])
    assert bad_since.exit_code == 2 and "invalid time" in bad_since.output
    assert runner.invoke(app, ["purge", "--db", str(db_file), "--yes"]).exit_code == 2
    bad_duration = runner.invoke(app, ["purge", "--older-than", "30 days", "--yes", "--db", str(db_file)])
    assert bad_duration.exit_code == 2 and "invalid duration" in bad_duration.output


def test_cli_read_of_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["traces", "list", "--db", str(tmp_path / "absent.db")])
    assert result.exit_code == 1
    assert "no database at" in result.output and "llmmon demo" in result.output
    assert not (tmp_path / "absent.db").exists()


def test_cli_purge_older_than_deletes_rows(filled: tuple[str, Engine]) -> None:
    url, engine = filled
    result = runner.invoke(app, ["purge", "--older-than", "30d", "--yes", "--db", url])
    assert result.exit_code == 0, result.output
    assert "Purged 2 traces" in result.output
    assert _span_count(engine) == 8


def test_cli_purge_user_asks_for_confirmation(filled: tuple[str, Engine]) -> None:
    url, engine = filled
    declined = runner.invoke(app, ["purge", "--user", "u1", "--db", url], input="n\n")
    assert declined.exit_code == 1 and _span_count(engine) == 12
    accepted = runner.invoke(app, ["purge", "--user", "u1", "--db", url, "--json"], input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert _span_count(engine) == 8
    listed = json.loads(runner.invoke(app, ["traces", "list", "--user", "u1", "--db", url, "--json"]).output)
    assert listed["count"] == 0


def test_cli_reprice_recomputes_cost(db_file: Path) -> None:
    engine = make_engine(f"sqlite:///{db_file}")
    try:
        upgrade_database(engine)
        _insert(engine, _trace(cost=123.0))
        result = runner.invoke(app, ["reprice", "--db", str(db_file), "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["updated"] == 1
        expected = PriceTable.load().cost_usd("gpt-4o-mini", input_tokens=1000, output_tokens=200, at=NOW)
        with engine.connect() as connection:
            cost = connection.execute(select(Span.cost_usd).where(Span.kind == "llm")).scalar_one()  # type: ignore[arg-type]
        assert expected is not None and cost == pytest.approx(expected)
    finally:
        engine.dispose()


GOOD_PROMPT = """\
name: hello
versions:
  - version: v1
    messages:
      - role: user
        content: "Hi {{ who }}"
"""


def test_cli_prompts_lock_check_and_list(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    path = prompts / "hello.yaml"
    path.write_text(GOOD_PROMPT, encoding="utf-8")

    unlocked = runner.invoke(app, ["prompts", "check", "--dir", str(prompts), "--no-db"])
    assert unlocked.exit_code == 0 and "no hash recorded" in unlocked.output
    locked = runner.invoke(app, ["prompts", "lock", "--dir", str(prompts)])
    assert locked.exit_code == 0 and "locked" in locked.output
    assert "hash: " in path.read_text(encoding="utf-8")
    clean = runner.invoke(app, ["prompts", "check", "--dir", str(prompts), "--no-db"])
    assert clean.exit_code == 0 and "OK: 1 prompts, 1 versions" in clean.output
    listed = json.loads(runner.invoke(app, ["prompts", "list", "--dir", str(prompts), "--json"]).output)
    assert (
        listed[0]["name"] == "hello"
        and listed[0]["versions"][0]["hash"] == listed[0]["versions"][0]["recorded_hash"]
    )

    path.write_text(
        path.read_text(encoding="utf-8").replace("Hi {{ who }}", "Hello {{ who }}"), encoding="utf-8"
    )
    edited = runner.invoke(app, ["prompts", "check", "--dir", str(prompts), "--no-db"])
    assert edited.exit_code == 1
    assert "hash mismatch" in edited.output and "without a version bump" in edited.output


def test_cli_prompts_check_uses_hashes_recorded_in_the_database(tmp_path: Path, db_file: Path) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "hello.yaml").write_text(GOOD_PROMPT, encoding="utf-8")
    runner.invoke(app, ["prompts", "lock", "--dir", str(prompts)])
    engine = make_engine(f"sqlite:///{db_file}")
    try:
        upgrade_database(engine)
        _insert(
            engine,
            [
                _row(
                    trace_id="t" * 32,
                    prompt_name="hello",
                    prompt_version="v1",
                    prompt_hash="feedfacefeedface",
                )
            ],
        )
    finally:
        engine.dispose()
    result = runner.invoke(app, ["prompts", "check", "--dir", str(prompts), "--db", str(db_file), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False and report["issues"][0]["kind"] == "edited-since-recorded"


def test_cli_prompts_check_malformed_file_names_file_and_line(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "broken.yaml").write_text("name: broken\nversions:\n  - version: v1\n    messages: [oops\n")
    result = runner.invoke(app, ["prompts", "check", "--dir", str(prompts), "--no-db"])
    assert result.exit_code == 2
    assert f"{prompts / 'broken.yaml'}:" in result.output.replace("\n", "")
    listed = runner.invoke(app, ["prompts", "list", "--dir", str(prompts)])
    assert listed.exit_code == 2 and "invalid YAML" in listed.output


def test_cli_prompts_missing_directory(tmp_path: Path) -> None:
    result = runner.invoke(app, ["prompts", "list", "--dir", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "prompts directory not found" in result.output


def test_cli_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("traces", "stats", "prompts", "db", "reprice", "purge", "demo"):
        assert command in result.output
