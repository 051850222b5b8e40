"""protocol.keyfiles: the one writer and reader of the project's private key files (agent and server)."""

import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import keyfiles


def test_round_trip_mode_0600_whatever_the_umask(tmp_path):
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "sub" / "k.pem"
    old = os.umask(0)
    try:
        keyfiles.write_private_key(path, key)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = keyfiles.read_private_key(path, kinds=(Ed25519PrivateKey,))
    assert loaded.public_key().public_bytes_raw() == key.public_key().public_bytes_raw()


def test_never_overwrites(tmp_path):
    path = tmp_path / "k.pem"
    keyfiles.write_private_key(path, Ed25519PrivateKey.generate())
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="refusing to overwrite"):  # a create-once race reads it as such
        keyfiles.write_private_key(path, Ed25519PrivateKey.generate())
    assert path.read_bytes() == before


def test_encrypted_key_asks_for_the_passphrase_only_then(tmp_path):
    path = tmp_path / "k.pem"
    keyfiles.write_private_key(path, ec.generate_private_key(ec.SECP256R1()), b"secret")
    asked = []
    key = keyfiles.read_private_key(path, lambda: asked.append(1) or b"secret")
    assert isinstance(key, ec.EllipticCurvePrivateKey) and asked == [1]
    with pytest.raises(keyfiles.KeyFileError, match="wrong passphrase"):
        keyfiles.read_private_key(path, b"nope")
    with pytest.raises(keyfiles.KeyFileError, match="encrypted"):
        keyfiles.read_private_key(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"hello", "not a PEM private key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "corrupt"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "k.pem"
    path.write_bytes(content)
    with pytest.raises(keyfiles.KeyFileError, match=message):
        keyfiles.read_private_key(path)


def test_missing_and_wrong_kind(tmp_path):
    with pytest.raises(keyfiles.KeyFileMissing):
        keyfiles.read_private_key(tmp_path / "none.pem")
    path = tmp_path / "ec.pem"
    keyfiles.write_private_key(path, ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(keyfiles.KeyFileError, match="Ed25519"):
        keyfiles.read_private_key(path, kinds=(Ed25519PrivateKey,))
