"""Signed notes, checkpoints and cosignatures.

`IndependentVerifier` below is written from the C2SP texts (signed-note,
tlog-checkpoint, tlog-cosignature) and LOG.md alone, with hashlib, base64 and
the Ed25519 primitive: it does not import protocol.note, so a shared
misreading of the spec would show up as a disagreement.
"""

import base64
import hashlib
import struct

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from protocol import note
from protocol.errors import ProtocolError
from tests.protocol.helpers import FAST, load_vector

ORIGIN = "registry.example/log"
SEED = bytes.fromhex(load_vector("checkpoint.json")["note_key_seed_hex"])


# --- the independent verifier ------------------------------------------------------


class IndependentVerifier:
    def __init__(self, vkey: str):
        name, hash_hex, key_b64 = vkey.split("+", 2)  # base64 may contain '+'
        blob = base64.b64decode(key_b64, validate=True)
        assert blob[0] in (0x01, 0x04) and len(blob) == 33
        self.name, self.type, self.raw = name, blob[0], blob[1:]
        self.key_id = hashlib.sha256(name.encode() + b"\n" + blob).digest()[:4]
        assert self.key_id.hex() == hash_hex
        self.key = Ed25519PublicKey.from_public_bytes(self.raw)

    @staticmethod
    def split(note_text: str):
        assert note_text.endswith("\n")
        text, _, sigs = note_text.rpartition("\n\n")
        lines = sigs.split("\n")
        assert lines[-1] == ""
        out = []
        for line in lines[:-1]:
            assert line.startswith("\u2014 ")
            name, b64 = line[2:].split(" ")
            blob = base64.b64decode(b64, validate=True)
            out.append((name, blob[:4], blob[4:]))
        return (text + "\n").encode(), out

    def verify_checkpoint(self, note_text: str):
        text, sigs = self.split(note_text)
        lines = text.decode().split("\n")
        origin, size, root_b64 = lines[0], lines[1], lines[2]
        assert origin == self.name
        assert size == str(int(size))
        root = base64.b64decode(root_b64, validate=True)
        assert len(root) == 32
        ok = False
        for name, kid, sig in sigs:
            if name == self.name and kid == self.key_id:
                self.key.verify(sig, text)  # raises InvalidSignature
                ok = True
        assert ok, "no signature of this key"
        return origin, int(size), root

    def verify_cosignature(self, note_text: str) -> int:
        assert self.type == 0x04
        text, sigs = self.split(note_text)
        for name, kid, blob in sigs:
            if name == self.name and kid == self.key_id:
                assert len(blob) == 72
                timestamp = struct.unpack(">Q", blob[:8])[0]
                message = b"cosignature/v1\ntime " + str(timestamp).encode() + b"\n" + text
                self.key.verify(blob[8:], message)
                return timestamp
        raise AssertionError("no cosignature of this key")


def _key(seed: bytes = SEED) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed)


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@FAST
@given(
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    seed=st.binary(min_size=32, max_size=32),
    origin=st.from_regex(r"[a-z0-9.-]{1,30}/[a-z0-9/_-]{0,30}", fullmatch=True),
)
def test_independent_verifier_accepts_what_we_sign(size, root, seed, origin):
    key = _key(seed)
    text = note.sign_checkpoint(key, origin, size, root)
    vkey = note.verifier_key_line(origin, key.public_key())
    assert IndependentVerifier(vkey).verify_checkpoint(text) == (origin, size, root)
    checkpoint = note.verify_checkpoint(text, vkey)
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == (origin, size, root)
    assert checkpoint.body == note.checkpoint_body(origin, size, root)


@FAST
@given(
    timestamp=st.integers(0, 2**63 - 1),
    seed=st.binary(min_size=32, max_size=32),
    name=st.from_regex(r"witness\.[a-z]{1,10}/w[0-9]{1,3}", fullmatch=True),
)
def test_independent_verifier_accepts_our_cosignatures(timestamp, seed, name):
    log_key, witness = _key(), _key(seed)
    text = note.sign_checkpoint(log_key, ORIGIN, 42, b"\x07" * 32)
    checkpoint = note.parse_checkpoint(text)
    line = note.cosign(witness, name, checkpoint.body, timestamp)
    cosigned = note.add_signature_lines(text, [line])
    wkey = note.cosigner_key_line(name, witness.public_key())
    assert IndependentVerifier(wkey).verify_cosignature(cosigned) == timestamp
    assert note.verify_cosignature(line, checkpoint.body, name, _raw(witness)) == timestamp
    # The log's own signature still verifies, the witness line is ignored by it.
    assert note.verify_checkpoint(cosigned, note.verifier_key_line(ORIGIN, log_key.public_key())).size == 42
    assert IndependentVerifier(note.verifier_key_line(ORIGIN, log_key.public_key())).verify_checkpoint(cosigned)


def test_cosignature_matches_spec_example_layout():
    witness = _key(b"\x01" * 32)
    body = note.checkpoint_body("example.com/behind-the-sofa", 20852163, b"\x00" * 32)
    line = note.cosign(witness, "witness.example.com/w1", body, 1679315147)
    assert line.startswith("\u2014 witness.example.com/w1 ") and line.endswith("\n")
    blob = base64.b64decode(line.split(" ")[2])
    assert len(blob) == 4 + 8 + 64
    assert blob[:4] == note.key_hash("witness.example.com/w1", witness.public_key(), 0x04)
    assert struct.unpack(">Q", blob[4:12])[0] == 1679315147
    message = (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        + base64.b64encode(b"\x00" * 32)
        + b"\n"
    )
    witness.public_key().verify(blob[12:], message)


def test_cosignature_rejections():
    witness, other = _key(b"\x02" * 32), _key(b"\x03" * 32)
    body = note.checkpoint_body(ORIGIN, 5, b"\x01" * 32)
    line = note.cosign(witness, "w.example/1", body, 1000)
    raw = _raw(witness)
    with pytest.raises(ProtocolError) as e:
        note.verify_cosignature(line, note.checkpoint_body(ORIGIN, 6, b"\x01" * 32), "w.example/1", raw)
    assert e.value.code == "invalid_cosignature"
    with pytest.raises(ProtocolError):
        note.verify_cosignature(line, body, "w.example/2", raw)
    with pytest.raises(ProtocolError):
        note.verify_cosignature(line, body, "w.example/1", _raw(other))
    # A plain note signature (type 0x01) by the same key is not a cosignature.
    plain = note.sign_note(witness, "w.example/1", body)
    with pytest.raises(ProtocolError):
        note.verify_cosignature(plain, body, "w.example/1", raw)
    # Timestamp tampering breaks the signature.
    blob = bytearray(base64.b64decode(line.split(" ")[2]))
    blob[11] ^= 1
    forged = f"\u2014 w.example/1 {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(ProtocolError):
        note.verify_cosignature(forged, body, "w.example/1", raw)


def test_key_lines_round_trip_and_rejections():
    key = _key()
    line = note.verifier_key_line(ORIGIN, key.public_key())
    vk = note.parse_verifier_key(line)
    assert (vk.name, vk.public_key_raw) == (ORIGIN, _raw(key))
    assert vk.key_hash == note.key_hash(ORIGIN, _raw(key))
    name, h, k = line.split("+", 2)
    bad_type = base64.b64encode(b"\x04" + _raw(key)).decode()
    for bad in [
        f"{name}+{h}",
        f"{name}+{h}+{k}x",
        f"{name}+{h.upper()}+{k}",
        f"{name}+00000000+{k}",
        f"{name}x+{h}+{k}",
        f"{name}+{h}+{bad_type}",
        f"{name}+{h}+{k[:-2]}",
        f"{name}+{h}+{base64.urlsafe_b64encode(base64.b64decode(k)).decode().rstrip('=')}",
        f"a b+{h}+{k}",
        "",
    ]:
        with pytest.raises(ProtocolError) as e:
            note.parse_verifier_key(bad)
        assert e.value.code == "invalid_checkpoint", bad
    # The base64 key may contain '+', which must not be taken for a separator.
    seed = next(
        bytes([i]) * 32 for i in range(256) if "+" in note.verifier_key_line("n", _key(bytes([i]) * 32).public_key())
    )
    plus_line = note.verifier_key_line("n", _key(seed).public_key())
    assert note.parse_verifier_key(plus_line).public_key_raw == _raw(_key(seed))
    assert IndependentVerifier(plus_line).raw == _raw(_key(seed))
    # A cosigner key line is not a log verifier key, and vice versa.
    cline = note.cosigner_key_line(ORIGIN, key.public_key())
    with pytest.raises(ProtocolError):
        note.parse_verifier_key(cline)
    assert note.parse_cosigner_key(cline).sig_type == 0x04
    with pytest.raises(ProtocolError):
        note.parse_cosigner_key(line)


def _good():
    return note.sign_checkpoint(_key(), ORIGIN, 8, b"\x05" * 32)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.replace("\n8\n", "\n08\n"),
        lambda t: t.replace("\n8\n", "\n+8\n"),
        lambda t: t.replace("\n8\n", "\n8 \n"),
        lambda t: t.replace("\n8\n", "\n\u0668\n"),  # Arabic-Indic digit eight
        lambda t: t.replace("\n8\n", "\n18446744073709551616\n"),
        lambda t: t.replace("BQUF", "BQU"),
        lambda t: t.replace("=\n\n", "\n\n"),
        lambda t: t.replace(ORIGIN + "\n", "\n", 1),
        lambda t: t.replace("\n\n", "\n\n\n"),
        lambda t: t.replace("\n\n", "\n"),
        lambda t: t[:-1],
        lambda t: t.replace("\u2014 ", "-- "),
        lambda t: t.replace("\u2014 ", "\u2014  "),
        lambda t: t.replace("\n\n", "\n\n\u2014 x AAAA\n"),  # too short a signature
        lambda t: t.replace(ORIGIN + "\n", ORIGIN + "\r\n", 1),
        lambda t: t.replace(ORIGIN + "\n", ORIGIN + "\n8\nAAAA\n\n", 1),
        lambda t: t.rsplit("\n\n", 1)[0] + "\n\n",
        lambda t: t.replace("\n\n", "\next\n\n"),  # unsigned extension line: signature fails
        lambda t: t.replace("8\n", "9\n", 1),
    ],
)
def test_malformed_or_tampered_checkpoints_are_refused(mutate):
    text = _good()
    bad = mutate(text)
    assert bad != text
    with pytest.raises(ProtocolError) as e:
        note.verify_checkpoint(bad, note.verifier_key_line(ORIGIN, _key().public_key()))
    assert e.value.code == "invalid_checkpoint"


def test_extension_lines_are_signed_and_parsed():
    key = _key()
    text = note.sign_checkpoint(key, ORIGIN, 3, b"\x09" * 32, extensions=("ext one", "ext-two"))
    checkpoint = note.verify_checkpoint(text, note.verifier_key_line(ORIGIN, key.public_key()))
    assert checkpoint.extensions == ("ext one", "ext-two")
    assert IndependentVerifier(note.verifier_key_line(ORIGIN, key.public_key())).verify_checkpoint(text)


def test_wrong_key_and_unknown_signatures():
    key, other = _key(), _key(b"\x09" * 32)
    text = note.sign_checkpoint(key, ORIGIN, 8, b"\x05" * 32)
    with pytest.raises(ProtocolError):
        note.verify_checkpoint(text, note.verifier_key_line(ORIGIN, other.public_key()))
    # Same name, other key: ignored as unknown, so the log's signature still decides.
    extra = note.sign_note(other, ORIGIN, note.parse_checkpoint(text).body)
    assert note.verify_checkpoint(
        note.add_signature_lines(text, [extra]), note.verifier_key_line(ORIGIN, key.public_key())
    )
    # A second line claiming the log's key that does not verify rejects the whole note.
    forged = note.sign_note(key, ORIGIN, b"something else\n")
    with pytest.raises(ProtocolError):
        note.verify_checkpoint(
            note.add_signature_lines(text, [forged]), note.verifier_key_line(ORIGIN, key.public_key())
        )
    # Origin must be the key name.
    other_origin = note.sign_checkpoint(key, "other.example/log", 8, b"\x05" * 32)
    with pytest.raises(ProtocolError):
        note.verify_checkpoint(other_origin, note.verifier_key_line(ORIGIN, key.public_key()))


def test_add_signature_lines_is_idempotent_and_checks_lines():
    key = _key()
    text = _good()
    line = note.cosign(key, "w.example/1", note.parse_checkpoint(text).body, 5)
    once = note.add_signature_lines(text, [line])
    assert note.add_signature_lines(once, [line]) == once
    assert once.count("\u2014 ") == 2
    with pytest.raises(ProtocolError):
        note.add_signature_lines(text, ["not a signature line"])
    with pytest.raises(ProtocolError):
        note.add_signature_lines(text, [line + line])
    lines = [note.cosign(_key(bytes([i]) * 32), f"w.example/{i}", b"x\n", 1) for i in range(note.MAX_SIGNATURES)]
    with pytest.raises(ProtocolError):
        note.add_signature_lines(text, lines)


def test_checkpoint_body_refuses_bad_inputs():
    for args in [("", 1, b"\x00" * 32), ("a b", 1, b"\x00" * 32), ("a+b", 1, b"\x00" * 32), ("a\nb", 1, b"\x00" * 32)]:
        with pytest.raises(ValueError):
            note.checkpoint_body(*args)
    with pytest.raises(ValueError):
        note.checkpoint_body(ORIGIN, -1, b"\x00" * 32)
    with pytest.raises(ValueError):
        note.checkpoint_body(ORIGIN, 1, b"\x00" * 31)
    with pytest.raises(ValueError):
        note.checkpoint_body(ORIGIN, True, b"\x00" * 32)


@FAST
@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_parse_checkpoint_fuzz_raises_only_protocol_error(text):
    try:
        note.parse_checkpoint(text)
    except ProtocolError:
        pass
    try:
        note.verify_checkpoint(_good().replace("8", text, 1), note.verifier_key_line(ORIGIN, _key().public_key()))
    except ProtocolError:
        pass


def test_invalid_signature_does_not_leak_other_exceptions():
    with pytest.raises(InvalidSignature):
        _key().public_key().verify(b"\x00" * 64, b"x")
