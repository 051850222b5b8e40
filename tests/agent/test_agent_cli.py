"""The command line itself: help, exit codes, configuration precedence, no Django."""

import subprocess
import sys

import pytest

from agent.config import load_config
from agent.errors import EXIT_CODES
from tests.agent.helpers import ROOT

COMMANDS = [
    [],
    ["keygen"],
    ["register-key"],
    ["inventory"],
    ["sample"],
    ["attest"],
    ["attest", "location"],
    ["attest", "usage"],
    ["flush"],
    ["verify-receipt"],
    ["monitor"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "chipreg")
def test_help_everywhere(cli, command):
    rc, out, _err = cli(*command, "--help")
    assert rc == 0
    assert "usage: chipreg" in out and "exit codes" in out


def test_exit_codes_are_documented():
    import agent.cli

    for code in EXIT_CODES:
        assert f"  {code}  " in agent.cli.__doc__
    readme = (ROOT / "agent" / "README.md").read_text()
    for code in EXIT_CODES:
        assert f"| {code} |" in readme


def test_usage_errors_exit_2(cli):
    assert cli()[0] == 2
    assert cli("no-such-command")[0] == 2
    assert cli("attest")[0] == 2
    assert cli("attest", "usage")[0] == 2  # --since is required
    rc, _, err = cli("attest", "location", "--dry-run", "--from-xml", "x.xml")
    assert rc == 2 and "no operator" in err


def test_unexpected_error_is_one_line(cli, monkeypatch):
    import agent.cli

    def boom(args):
        raise RuntimeError("kaput")

    monkeypatch.setattr(agent.cli, "cmd_inventory", boom)
    rc, _, err = cli("inventory")
    assert rc == 1
    assert err == "chipreg: unexpected error: RuntimeError: kaput (rerun with --debug)\n"
    rc, _out, err = cli("inventory", "--debug")
    assert rc == 1 and "Traceback" in err


def test_config_precedence(tmp_path, monkeypatch):
    config = tmp_path / "agent.toml"
    config.write_text(
        'url = "https://file.example"\ntoken = "file-token"\nstate_dir = "/file/state"\noperator = "OP-FILE"\n'
    )
    config.chmod(0o600)  # it holds a token (tests/agent/test_agent_hostile.py: an open one is refused)
    cfg = load_config({}, env={}, config_path=str(config))
    assert (cfg.url, cfg.token, str(cfg.state_dir), cfg.operator) == (
        "https://file.example",
        "file-token",
        "/file/state",
        "OP-FILE",
    )
    env = {"CHIPREG_URL": "https://env.example/", "CHIPREG_TOKEN": "env-token", "CHIPREG_STATE_DIR": "/env/state"}
    cfg = load_config({}, env=env, config_path=str(config))
    assert (cfg.url, cfg.token, str(cfg.state_dir), cfg.operator) == (
        "https://env.example",
        "env-token",
        "/env/state",
        "OP-FILE",
    )
    cfg = load_config({"url": "http://flag.example", "state_dir": "/flag"}, env=env, config_path=str(config))
    assert (cfg.url, cfg.token, str(cfg.state_dir)) == ("http://flag.example", "env-token", "/flag")


def test_default_config_file_is_read(tmp_path):
    path = tmp_path / "xdg" / "chipreg" / "agent.toml"
    path.parent.mkdir(parents=True)
    path.write_text('facility = "FAC-9"\n')
    assert load_config({}, env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")}).facility == "FAC-9"
    assert load_config({}, env={"XDG_CONFIG_HOME": str(tmp_path / "none")}).facility is None


@pytest.mark.parametrize(
    "content, message",
    [("url = ", "not valid TOML"), ("colour = 'blue'", "unknown key"), ("timeout = 'soon'", "timeout")],
)
def test_bad_config_file(cli, tmp_path, content, message):
    config = tmp_path / "agent.toml"
    config.write_text(content)
    rc, _, err = cli("inventory", "--config", config, "--from-xml", "x")
    assert rc == 2 and message in err and "Traceback" not in err


def test_missing_explicit_config_file(cli, tmp_path):
    rc, _, err = cli("--config", tmp_path / "nope.toml", "inventory", "--from-xml", "x")
    assert rc == 2 and "config file not found" in err


def test_agent_imports_no_django():
    code = (
        "import sys, importlib\n"
        "for m in ['agent.cli', 'agent.client', 'agent.config', 'agent.hardware', 'agent.inventory', 'agent.keys', 'agent.models',\n"
        "          'agent.monitor', 'agent.nvml', 'agent.outbox', 'agent.receipts', 'agent.samples',\n"
        "          'agent.statements', 'agent.submit', 'agent.util']:\n"
        "    importlib.import_module(m)\n"
        "from agent.cli import main\n"
        "assert main(['--help']) == 0\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework', 'pynvml'))\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_python_dash_m(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "inventory", "--from-xml", tmp_path / "missing.xml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("chipreg: error: cannot read") and "Traceback" not in proc.stderr
