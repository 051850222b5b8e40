"""docs/spec/vectors/, reproduced by the outside client of tests/api/spec_client.py (no chipreg code)."""

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tests.api import spec_client as sc

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "spec" / "vectors"


def vector(name):
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def merkle_vec():
    v = vector("merkle.json")
    v["hashes"] = [sc.leaf_hash(bytes.fromhex(x)) for x in v["leaves_hex"]]
    return v


def test_pae_vector():
    v = vector("pae.json")
    assert sc.pae(v["payloadType"], v["payload_utf8"].encode()) == v["pae_utf8"].encode()


def test_ed25519_envelope_vector_byte_for_byte():
    v = vector("envelope-ed25519.json")
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(v["private_key_seed_hex"]))
    assert sc.public_pem(key) == v["public_key_pem"]
    assert sc.keyid(key) == v["keyid"]
    payload = sc.jcs(v["statement"])
    assert payload == v["payload_utf8"].encode()
    message = sc.pae(v["envelope"]["payloadType"], payload)
    assert message.hex() == v["pae_hex"]
    assert hashlib.sha256(message).hexdigest() == v["statement_sha256"]
    # Ed25519 is deterministic: the whole envelope is reproduced.
    assert sc.envelope(v["statement"], key) == v["envelope"]
    assert sc.statement_sha256(v["envelope"]) == v["statement_sha256"]
    leaf = sc.attestation_leaf(v["envelope"])
    assert leaf == v["log_leaf_utf8"].encode()
    assert sc.leaf_hash(leaf).hex() == v["log_leaf_hash_hex"]


def test_p256_envelope_vector_verifies():
    v = vector("envelope-p256.json")
    public = serialization.load_pem_public_key(v["public_key_pem"].encode())
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    assert hashlib.sha256(sc.spki_der(public)).hexdigest() == v["keyid"]
    env = v["envelope"]
    (sig,) = env["signatures"]
    assert sig["keyid"] == v["keyid"]
    message = sc.pae(env["payloadType"], sc.b64decode_any(env["payload"]))
    assert v["expect"] == "verifies"
    assert sc.verify(public, sc.b64decode_any(sig["sig"]), message)
    assert not sc.verify(public, sc.b64decode_any(sig["sig"]), message + b" ")


def test_merkle_roots(merkle_vec):
    for size, expected in merkle_vec["roots_hex"].items():
        assert sc.root(merkle_vec["hashes"][: int(size)]).hex() == expected


def test_merkle_inclusion_vectors(merkle_vec):
    for case in merkle_vec["inclusion"]:
        i, n = case["index"], case["size"]
        hashes = merkle_vec["hashes"][:n]
        assert [h.hex() for h in sc.inclusion_path(i, hashes)] == case["path_hex"]
        path = [bytes.fromhex(h) for h in case["path_hex"]]
        root = bytes.fromhex(merkle_vec["roots_hex"][str(n)])
        assert sc.verify_inclusion(i, n, hashes[i], path, root)
        # The exact length is insisted on: one hash more or one fewer fails.
        assert not sc.verify_inclusion(i, n, hashes[i], [*path, root], root)
        if path:
            assert not sc.verify_inclusion(i, n, hashes[i], path[:-1], root)


def test_merkle_consistency_vectors(merkle_vec):
    for case in merkle_vec["consistency"]:
        m, n = case["first"], case["second"]
        assert [h.hex() for h in sc.consistency_path(m, merkle_vec["hashes"][:n])] == case["path_hex"]
        path = [bytes.fromhex(h) for h in case["path_hex"]]
        rm, rn = (bytes.fromhex(merkle_vec["roots_hex"][str(s)]) for s in (m, n))
        assert sc.verify_consistency(m, n, rm, rn, path)
        if path:
            assert not sc.verify_consistency(m, n, rm, rn, path[:-1])
            assert not sc.verify_consistency(m, n, rm, rn, [*path, rn])


def test_merkle_every_proof_of_every_size_verifies(merkle_vec):
    hashes = merkle_vec["hashes"]
    for n in range(1, 9):
        r = sc.root(hashes[:n])
        for i in range(n):
            assert sc.verify_inclusion(i, n, hashes[i], sc.inclusion_path(i, hashes[:n]), r)
        for m in range(1, n + 1):
            assert sc.verify_consistency(m, n, sc.root(hashes[:m]), r, sc.consistency_path(m, hashes[:n]))


def test_checkpoint_vector_byte_for_byte(merkle_vec):
    v = vector("checkpoint.json")
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(v["note_key_seed_hex"]))
    assert sc.verifier_key_line(v["origin"], key.public_key()) == v["verifier_key"]
    root = sc.root(merkle_vec["hashes"])
    assert sc.sign_checkpoint(key, v["origin"], 8, root) == v["checkpoint"]
    cp = sc.verify_checkpoint(v["checkpoint"], sc.parse_verifier_key(v["verifier_key"]))
    assert (cp.origin, cp.size, cp.root, cp.other_signatures) == (v["origin"], 8, root, [])
    # One changed byte of the signed message fails.
    tampered = v["checkpoint"].replace("\n8\n", "\n9\n", 1)
    with pytest.raises((AssertionError, InvalidSignature)):
        sc.verify_checkpoint(tampered, sc.parse_verifier_key(v["verifier_key"]))


def test_base64_forms_decode_alike():
    data = bytes(range(256))
    for text in (
        base64.b64encode(data).decode(),
        base64.b64encode(data).decode().rstrip("="),
        base64.urlsafe_b64encode(data).decode(),
        sc.b64url_nopad(data),
    ):
        assert sc.b64decode_any(text) == data


def test_jcs_numbers_as_rfc8785_writes_them():
    # RFC 8785 appendix B examples.
    for value, text in (
        (0.0, "0"),
        (-0.0, "0"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (333333333.3333333, "333333333.3333333"),
        (1e23, "1e+23"),
        (4.50, "4.5"),
        (9007199254740992, "9007199254740992"),
    ):
        assert sc.jcs(value).decode() == text
