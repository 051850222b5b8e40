"""Agent tests: no Django, no database. Run them alone with

    .venv/bin/pytest tests/agent -p no:django --confcutdir=tests/agent -q

(`--confcutdir` keeps pytest from loading tests/conftest.py, which imports
Django; they also pass inside the full suite, where pytest-django is active.)
"""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """No operator configuration leaks in: config and state live under tmp_path."""
    for var in (
        "CHIPREG_URL",
        "CHIPREG_TOKEN",
        "CHIPREG_KEY",
        "CHIPREG_STATE_DIR",
        "CHIPREG_CONFIG",
        "CHIPREG_OPERATOR",
        "CHIPREG_FACILITY",
        "CHIPREG_LOG_KEY",
        "CHIPREG_KEY_PASSPHRASE",
        "CHIPREG_DEBUG",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.delitem(sys.modules, "pynvml", raising=False)
    return tmp_path


@pytest.fixture
def cli(capsys):
    """Run `chipreg ARGS...` in-process; returns (exit code, stdout, stderr)."""
    from agent.cli import main

    def run(*args):
        rc = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return rc, out, err

    return run
