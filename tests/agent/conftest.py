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

from tests.agent import helpers  # noqa: E402 - after the path is set


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


@pytest.fixture
def operator_env(cli, tmp_path, monkeypatch):
    """A signing key and the environment an operator would set."""
    key = tmp_path / "key.pem"
    rc, _, err = cli("keygen", "--out", key)
    assert rc == 0, err
    monkeypatch.setenv("CHIPREG_KEY", str(key))
    monkeypatch.setenv("CHIPREG_TOKEN", helpers.TOKEN)
    monkeypatch.setenv("CHIPREG_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CHIPREG_OPERATOR", "OPR-1")
    monkeypatch.setenv("CHIPREG_FACILITY", "FAC-1")
    return tmp_path / "state"


@pytest.fixture
def registry(monkeypatch):
    with helpers.FakeRegistry() as reg:
        monkeypatch.setenv("CHIPREG_URL", reg.url)
        monkeypatch.setenv("CHIPREG_LOG_KEY", reg.log.key_line)
        yield reg
