"""The README stays true: its configuration tables are the ones the code reads."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _settings_table() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "settings_table", ROOT / "scripts" / "settings_table.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_readme_lists_every_setting_the_services_read() -> None:
    table = _settings_table()
    readme = (ROOT / "README.md").read_text()
    assert table.current_block(readme) == table.render(), "run `make readme` and commit"


def test_every_variable_in_the_table_is_explained() -> None:
    rendered: str = _settings_table().render()
    rows = [line for line in rendered.splitlines() if line.startswith("| `")]
    assert len(rows) > 40
    unexplained = [row for row in rows if row.rstrip().endswith("|  |")]
    assert unexplained == [], "give these settings a docstring or description"


def test_readme_gives_the_two_commands_first() -> None:
    readme = (ROOT / "README.md").read_text()
    first_screen = readme[: readme.index("## ")]
    assert "make run" in first_screen
    assert "make test" in first_screen
    assert "docs/console.png" in first_screen
