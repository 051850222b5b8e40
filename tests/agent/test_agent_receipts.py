"""`chipreg verify-receipt`: offline, against receipts built here from protocol functions."""

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.dsse import make_envelope, parse_envelope, statement_sha256
from protocol.encoding import jcs
from protocol.leaves import attestation_leaf, event_leaf
from tests.agent.helpers import FakeLog


def _envelope(nonce="ab" * 16):
    statement = {
        "v": 1,
        "kind": "location",
        "issued_at": "2026-11-26T05:42:13Z",
        "nonce": nonce,
        "operator": "OPR-1",
        "facility": "FAC-1",
        "observed_at": "2026-11-26T05:42:00Z",
        "scope": "partial",
        "chips": [{"chip": "nvidia:1653924010417"}],
    }
    env = make_envelope(jcs(statement), [(Ed25519PrivateKey.generate(), None)])
    return json.dumps(env).encode()


@pytest.fixture
def world(tmp_path):
    """A log of 7 leaves whose leaf 4 is the attestation of `envelope`; its receipt at size 7."""
    log = FakeLog("registry.test/log")
    for i in range(4):
        log.append(event_leaf("2026-11-26T05:00:00Z", "chip.registered", f"nvidia:SN{i:04d}", {"i": i})[0])
    envelope = _envelope()
    parsed = parse_envelope(envelope, 1 << 20)
    index = log.append(attestation_leaf(parsed.raw_signatures, statement_sha256(parsed)))
    log.append(event_leaf("2026-11-26T05:00:01Z", "key.registered", "k", {})[0])
    log.append(attestation_leaf(parse_envelope(_envelope("cd" * 16), 1 << 20).raw_signatures, "0" * 64))
    receipt = log.receipt(index)
    paths = {"receipt": tmp_path / "receipt.json", "envelope": tmp_path / "envelope.json"}
    paths["receipt"].write_text(json.dumps(receipt))
    paths["envelope"].write_bytes(envelope)
    return log, receipt, paths


def _write(path, receipt):
    path.write_text(json.dumps(receipt))
    return path


def test_valid_receipt(cli, world):
    log, _, paths = world
    rc, out, err = cli("verify-receipt", paths["receipt"], "--log-key", log.key_line)
    assert rc == 0, err
    assert out == "OK: leaf 4 is in registry.test/log at tree size 7\n"
    rc, out, err = cli("verify-receipt", paths["receipt"], "--log-key", log.key_line, "--envelope", paths["envelope"])
    assert rc == 0, err
    assert "matches the envelope" in out
    with_size = paths["receipt"].with_name("sized.json")
    _write(with_size, {**json.loads(paths["receipt"].read_text()), "tree_size": 7})  # the server adds tree_size
    assert cli("verify-receipt", with_size, "--log-key", log.key_line)[0] == 0


def test_log_key_from_file_and_env(cli, world, tmp_path, monkeypatch):
    log, _, paths = world
    keyfile = tmp_path / "log.key"
    keyfile.write_text(log.key_line + "\n")
    assert cli("verify-receipt", paths["receipt"], "--log-key", f"@{keyfile}")[0] == 0
    monkeypatch.setenv("CHIPREG_LOG_KEY", log.key_line)
    rc, out, _ = cli("verify-receipt", paths["receipt"], "--json")
    assert rc == 0 and json.loads(out)["tree_size"] == 7


def _flip(b64):
    raw = bytearray(base64.b64decode(b64))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda r: r["inclusion"].__setitem__(0, _flip(r["inclusion"][0])), id="proof-hash"),
        pytest.param(lambda r: r["inclusion"].pop(), id="proof-truncated"),
        pytest.param(lambda r: r["inclusion"].append(r["inclusion"][0]), id="proof-extended"),
        pytest.param(lambda r: r.__setitem__("leaf", _flip(r["leaf"])), id="leaf"),
        pytest.param(lambda r: r.__setitem__("log_index", 3), id="index"),
        pytest.param(lambda r: r.__setitem__("log_index", 99), id="index-out-of-tree"),
        pytest.param(lambda r: r.__setitem__("checkpoint", r["checkpoint"].replace("\n7\n", "\n8\n")), id="size"),
        pytest.param(lambda r: r.__setitem__("checkpoint", "garbage"), id="checkpoint-garbage"),
        pytest.param(lambda r: r.pop("inclusion"), id="missing-member"),
        pytest.param(lambda r: r.__setitem__("leaf", "not base64!"), id="leaf-not-base64"),
        pytest.param(lambda r: r.__setitem__("tree_size", 6), id="tree-size-mismatch"),
    ],
)
def test_mutated_receipt_exits_5(cli, world, tmp_path, mutate):
    log, receipt, _ = world
    bad = json.loads(json.dumps(receipt))
    mutate(bad)
    rc, out, err = cli("verify-receipt", _write(tmp_path / "bad.json", bad), "--log-key", log.key_line)
    assert rc == 5
    assert "receipt does not verify" in err and "Traceback" not in err and out == ""


def test_wrong_log_key_exits_5(cli, world):
    _, _, paths = world
    other = FakeLog("registry.test/log")  # same name, another key
    rc, _, err = cli("verify-receipt", paths["receipt"], "--log-key", other.key_line)
    assert rc == 5 and "checkpoint" in err
    elsewhere = FakeLog("other.test/log")
    rc, _, err = cli("verify-receipt", paths["receipt"], "--log-key", elsewhere.key_line)
    assert rc == 5


def test_envelope_that_is_not_the_leaf_exits_5(cli, world, tmp_path):
    log, _, paths = world
    other = tmp_path / "other.json"
    other.write_bytes(_envelope("ef" * 16))
    rc, _, err = cli("verify-receipt", paths["receipt"], "--log-key", log.key_line, "--envelope", other)
    assert rc == 5 and "not the attestation leaf of this envelope" in err
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    rc, _, err = cli("verify-receipt", paths["receipt"], "--log-key", log.key_line, "--envelope", broken)
    assert rc == 5 and "not a valid DSSE envelope" in err


def test_receipt_file_problems(cli, world, tmp_path):
    log, _, _ = world
    rc, _, err = cli("verify-receipt", tmp_path / "missing.json", "--log-key", log.key_line)
    assert rc == 2 and "cannot read receipt" in err
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    rc, _, err = cli("verify-receipt", junk, "--log-key", log.key_line)
    assert rc == 5 and "not JSON" in err
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000)  # past Python's recursion limit: was exit 1, a traceback line
    rc, _, err = cli("verify-receipt", deep, "--log-key", log.key_line)
    assert rc == 5 and "not JSON" in err


def test_bad_or_missing_log_key_is_a_usage_error(cli, world):
    _, _, paths = world
    rc, _, err = cli("verify-receipt", paths["receipt"])
    assert rc == 2 and "no log verifier key" in err
    rc, _, err = cli("verify-receipt", paths["receipt"], "--log-key", "name+00000000+AAAA")
    assert rc == 2 and "bad log verifier key" in err
