"""`chipreg verify-evidence`: an alert's evidence bundle checked offline (LOG.md section 5)."""

import base64
import json

import pytest

from tests.protocol.evidence_world import CHIPS, World


@pytest.fixture
def world(tmp_path):
    w = World()
    w.paths = {
        "bundle": tmp_path / "bundle.json",
        "chips": tmp_path / "chips.txt",
        "envelope": tmp_path / "envelope.json",
        "key": tmp_path / "log.key",
    }
    w.paths["bundle"].write_text(json.dumps(w.bundle()))
    w.paths["chips"].write_bytes(CHIPS)
    w.paths["envelope"].write_bytes(w.envelope)
    w.paths["key"].write_text(w.key_line + "\n")
    return w


def test_a_bundle_verifies(cli, world):
    rc, out, err = cli("verify-evidence", world.paths["bundle"], "--log-key", f"@{world.paths['key']}")
    assert rc == 0, err
    assert (
        out == "OK: 3 log entries of the evidence are in registry.test/log at tree size 8, 2 event(s) with their data\n"
    )
    rc, out, err = cli(
        "verify-evidence",
        world.paths["bundle"],
        "--log-key",
        world.key_line,
        "--chips",
        world.paths["chips"],
        "--envelope",
        f"4={world.paths['envelope']}",
        "--json",
    )
    assert rc == 0, err
    summary = json.loads(out)
    assert summary["ok"] and summary["tree_size"] == 8 and summary["chips_checked"]
    assert [e["envelope_checked"] for e in summary["entries"]] == [False, True, False]


def test_a_tampered_bundle_exits_5_naming_the_step(cli, world, tmp_path):
    bundle = world.bundle()
    leaf = bytearray(base64.b64decode(bundle["entries"][0]["leaf"]))
    leaf[30] ^= 1
    bundle["entries"][0]["leaf"] = base64.b64encode(bytes(leaf)).decode()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bundle))
    rc, out, err = cli("verify-evidence", bad, "--log-key", world.key_line)
    assert rc == 5 and out == ""
    assert "evidence bundle does not verify at step inclusion: entry 2" in err and "Traceback" not in err
    rc, _, err = cli("verify-evidence", world.paths["bundle"], "--log-key", world.key_line, "--chips", bad)
    assert rc == 5 and "step chips" in err


def test_bad_arguments_are_usage_errors(cli, world, tmp_path):
    for envelope in ("4", "x=file", f"4={tmp_path / 'missing'}"):
        rc, _, err = cli("verify-evidence", world.paths["bundle"], "--log-key", world.key_line, "--envelope", envelope)
        assert rc == 2, (envelope, err)
    rc, _, err = cli("verify-evidence", tmp_path / "missing.json", "--log-key", world.key_line)
    assert rc == 2 and "cannot read evidence bundle" in err
    rc, _, err = cli("verify-evidence", world.paths["bundle"])
    assert rc == 2 and "no log verifier key" in err
