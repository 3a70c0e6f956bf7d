"""README.md stays true: the two set-up commands come first, and the settings table matches Settings."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

from llmmon.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SETUP_COMMANDS = [
    "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/llmmon demo",
    "bash scripts/test.sh",
]


def _settings_table_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("settings_table", ROOT / "scripts" / "settings_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_starts_with_the_two_setup_commands() -> None:
    lines = README.splitlines()
    assert lines[0] == "# llmmon"
    first_block = README.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert first_block == SETUP_COMMANDS
    # Nothing but the title comes before them.
    assert [line for line in lines[: lines.index(SETUP_COMMANDS[0])] if line.strip()] == [
        "# llmmon",
        "```bash",
    ]
    assert (ROOT / "scripts" / "test.sh").is_file()


def test_readme_settings_table_lists_every_setting() -> None:
    script = _settings_table_script()
    table = script.readme_table(README)
    assert table is not None, "settings table markers missing from README.md"
    assert table == script.settings_table(), (
        "README settings table is stale: run python scripts/settings_table.py --write"
    )
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `(LLMMON_[A-Z0-9_]+)` \| [^|]* \| (.*) \|$", table, re.M)
    }
    for name, field in Settings.model_fields.items():
        env = f"LLMMON_{name.upper()}"
        assert env in rows, f"{env} is not in the README settings table"
        assert field.description, f"Settings.{name} has no description"
        assert rows[env] == field.description.replace("|", "\\|")


def test_readme_quickstart_uses_the_public_api() -> None:
    import llmmon

    for name in ("configure", "wrap_openai", "prompt", "trace"):
        assert f"llmmon.{name}(" in README
        assert hasattr(llmmon, name), f"llmmon.{name} is in the README quickstart but not exported"
