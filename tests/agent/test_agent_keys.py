"""keygen, key loading, and envelopes that verify with protocol.dsse."""

import json
import os
import stat

import pytest

from agent.errors import UsageError
from agent.keys import load_signing_key
from agent.outbox import Outbox
from protocol.dsse import PAYLOAD_TYPE, load_public_key, parse_envelope, verify_signatures
from protocol.encoding import jcs, strict_json_loads
from protocol.statements import parse_statement
from tests.agent.helpers import H200_XML


def _keygen(cli, path, *extra):
    rc, out, err = cli("keygen", "--out", path, *extra)
    assert rc == 0, err
    pem, keyid_line = out.split("-----END PUBLIC KEY-----\n")
    return pem + "-----END PUBLIC KEY-----\n", keyid_line.strip().removeprefix("keyid: ")


@pytest.mark.parametrize("algorithm", ["ed25519", "p256", "p384"])
def test_keygen_writes_0600_pkcs8_and_prints_keyid(cli, tmp_path, algorithm):
    path = tmp_path / "keys" / "signing.pem"
    pem, keyid = _keygen(cli, path, "--algorithm", algorithm)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS8
    public = load_public_key(pem)
    assert public.keyid == keyid
    assert len(keyid) == 64 and keyid == keyid.lower()
    assert load_signing_key(path, "UNUSED").keyid == keyid


def test_keygen_mode_ignores_umask(cli, tmp_path):
    old = os.umask(0)
    try:
        _keygen(cli, tmp_path / "k.pem")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "k.pem").st_mode) == 0o600


def test_keygen_refuses_to_overwrite(cli, tmp_path):
    path = tmp_path / "k.pem"
    _keygen(cli, path)
    before = path.read_bytes()
    rc, out, err = cli("keygen", "--out", path)
    assert rc == 2
    assert "refusing to overwrite" in err and out == ""
    assert path.read_bytes() == before


def test_keygen_default_path_from_env(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("CHIPREG_KEY", str(tmp_path / "from-env.pem"))
    _keygen_rc, _, err = cli("keygen")
    assert _keygen_rc == 0, err
    assert (tmp_path / "from-env.pem").exists()


def test_passphrase_round_trip(cli, tmp_path, monkeypatch):
    path = tmp_path / "k.pem"
    monkeypatch.setenv("MY_PASS", "correct horse battery staple")
    _, keyid = _keygen(cli, path, "--passphrase-env", "MY_PASS")
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    assert load_signing_key(path, "MY_PASS").keyid == keyid
    monkeypatch.setenv("MY_PASS", "wrong")
    with pytest.raises(UsageError, match="wrong passphrase"):
        load_signing_key(path, "MY_PASS")
    with pytest.raises(UsageError, match="encrypted"):
        load_signing_key(path, "UNSET_VAR", interactive=False)


def test_keygen_passphrase_env_missing(cli, tmp_path):
    rc, _, err = cli("keygen", "--out", tmp_path / "k.pem", "--passphrase-env", "NOT_SET_ANYWHERE")
    assert rc == 2 and "NOT_SET_ANYWHERE" in err
    assert not (tmp_path / "k.pem").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"hello", "not a PEM private key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "corrupt"),
    ],
)
def test_wrong_key_file(tmp_path, content, message):
    path = tmp_path / "k.pem"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(UsageError, match=message):
        load_signing_key(path, "X")


def test_rsa_key_is_refused(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "rsa.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)
    with pytest.raises(UsageError, match="unsupported signing key"):
        load_signing_key(path, "X")


def test_attest_with_missing_key_file_exits_2(cli, tmp_path):
    rc, _, err = cli(
        "attest",
        "location",
        "--from-xml",
        H200_XML,
        "--operator",
        "O",
        "--facility",
        "F",
        "--key",
        tmp_path / "nope.pem",
        "--url",
        "http://127.0.0.1:9",
    )
    assert rc == 2
    assert "signing key not found" in err and "Traceback" not in err


@pytest.mark.parametrize("algorithm", ["ed25519", "p256", "p384"])
def test_envelopes_verify_and_payload_is_jcs(cli, tmp_path, algorithm):
    path = tmp_path / "k.pem"
    _keygen(cli, path, "--algorithm", algorithm)
    key = load_signing_key(path, "X")
    statement = {
        "v": 1,
        "kind": "location",
        "issued_at": "2026-11-26T05:42:13Z",
        "operator": "OPR-1",
        "facility": "FAC-1",
        "observed_at": "2026-11-26T05:42:00Z",
        "scope": "partial",
        "chips": [{"chip": "nvidia:1653924010417"}],
    }
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        entry = outbox.sign_and_store(key, "location", lambda nonce: jcs({**statement, "nonce": nonce}))
        envelope = parse_envelope(entry.envelope, 1 << 20)
        assert envelope.payload_type == PAYLOAD_TYPE
        keys = verify_signatures(envelope, {key.keyid: key.public}.get)
        assert [k.keyid for k in keys] == [key.keyid]
        parsed = parse_statement(envelope.payload)
        assert parsed.nonce == entry.nonce and len(entry.nonce) == 32
        assert envelope.payload == jcs(strict_json_loads(envelope.payload))  # canonical bytes
        assert outbox.nonce_used(key.keyid, entry.nonce)
        assert json.loads(entry.envelope)["signatures"][0]["keyid"] == key.keyid


def test_keygen_default_path_is_in_the_config_dir(cli, tmp_path):
    rc, _, err = cli("keygen")
    assert rc == 0, err
    assert (tmp_path / "config" / "chipreg" / "signing-key.pem").exists()  # XDG_CONFIG_HOME from conftest
