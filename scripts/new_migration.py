"""Developer helper: autogenerate the next Alembic migration from the SQLModel tables.

    python scripts/new_migration.py 0002 "knowledge base tables"
"""

import sys
import tempfile
from pathlib import Path

from alembic import command

from llmmon.storage.engine import make_engine
from llmmon.storage.migrate import _alembic_config, upgrade_database


def main() -> None:
    rev_id, message = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'gen.db'}"
        engine = make_engine(url)
        upgrade_database(engine)
        config = _alembic_config(url)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.revision(config, message=message, autogenerate=True, rev_id=rev_id)


if __name__ == "__main__":
    main()
