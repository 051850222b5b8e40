"""README's Configuration table names every environment variable the settings read, and nothing they do not.

Operators configure chipreg from that table alone; a variable read but not listed is a setting nobody knows
to set, and one listed but never read is a setting that silently does nothing.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Set by scripts/run-tests.sh for its own test databases; not a setting of a deployment.
INTERNAL = {"CHIPREG_TEST_DB_NAME"}


def _read_by_settings():
    names = set()
    for module in ("config/settings.py", "config/settings_production.py"):
        names |= set(re.findall(r'\benv(?:_int|_bool|_list)?\(\s*"([A-Z][A-Z0-9_]*)"', (ROOT / module).read_text()))
    return names - INTERNAL


def _configuration_table():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split(" | ")[0])}


def test_every_variable_the_settings_read_is_in_the_readmes_table():
    assert sorted(_read_by_settings() - _configuration_table()) == []


def test_every_variable_in_the_readmes_table_is_read():
    code = "".join(
        path.read_text()
        for folder in ("config", "core", "compliance", "scripts")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".sh")
    )
    assert sorted(name for name in _configuration_table() if name not in code) == []
