"""Migrations: idempotent upgrade, and the migrated schema equals the SQLModel metadata."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import llmmon.storage.models  # noqa: F401
from llmmon.storage.engine import make_engine
from llmmon.storage.migrate import current_revisions, head_revisions, upgrade_database


def test_upgrade_is_idempotent_and_reaches_head(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revisions(engine) == set()
        first = upgrade_database(engine)
        second = upgrade_database(engine)
        assert first == second == head_revisions()
        assert "span" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_migrated_schema_matches_models(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_concurrent_upgrades_in_one_process_do_not_interfere(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The tracing writer thread and an in-process worker may both migrate at start-up."""
    import threading

    engines = [make_engine(f"sqlite:///{tmp_path / f'db{i}.sqlite'}") for i in range(6)]
    errors: list[BaseException] = []

    def upgrade(engine) -> None:  # type: ignore[no-untyped-def]
        try:
            upgrade_database(engine)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=upgrade, args=(engine,)) for engine in engines]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert all(current_revisions(engine) == head_revisions() for engine in engines)
    finally:
        for engine in engines:
            engine.dispose()
