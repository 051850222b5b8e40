"""Every known answer in vectors/ reproduces exactly (ATTESTATION.md, LOG.md)."""

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import dsse, leaves, merkle, note, statements
from protocol.encoding import b64decode_any, jcs
from tests.protocol.helpers import load_vector


@pytest.fixture(scope="module")
def merkle_vec():
    v = load_vector("merkle.json")
    v["leaf_hashes"] = [merkle.leaf_hash(bytes.fromhex(x)) for x in v["leaves_hex"]]
    return v


def test_merkle_roots_every_size(merkle_vec):
    assert merkle.EMPTY_ROOT.hex() == merkle_vec["roots_hex"]["0"]
    for size, root in merkle_vec["roots_hex"].items():
        assert merkle.root_from_leaf_hashes(merkle_vec["leaf_hashes"][: int(size)]).hex() == root


def test_merkle_inclusion_vectors(merkle_vec):
    lh = merkle_vec["leaf_hashes"]
    for case in merkle_vec["inclusion"]:
        i, n = case["index"], case["size"]
        proof = merkle.inclusion_proof(i, n, lh)
        assert [p.hex() for p in proof] == case["path_hex"]
        root = bytes.fromhex(merkle_vec["roots_hex"][str(n)])
        assert merkle.verify_inclusion(i, n, lh[i], [bytes.fromhex(p) for p in case["path_hex"]], root)


def test_merkle_consistency_vectors(merkle_vec):
    lh = merkle_vec["leaf_hashes"]
    for case in merkle_vec["consistency"]:
        m, n = case["first"], case["second"]
        proof = merkle.consistency_proof(m, n, lh)
        assert [p.hex() for p in proof] == case["path_hex"]
        root_m = bytes.fromhex(merkle_vec["roots_hex"][str(m)])
        root_n = bytes.fromhex(merkle_vec["roots_hex"][str(n)])
        assert merkle.verify_consistency(m, n, root_m, root_n, [bytes.fromhex(p) for p in case["path_hex"]])


def test_pae_vector():
    v = load_vector("pae.json")
    assert dsse.pae(v["payloadType"], v["payload_utf8"].encode()) == v["pae_utf8"].encode()


def test_checkpoint_vector_byte_for_byte(merkle_vec):
    v = load_vector("checkpoint.json")
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(v["note_key_seed_hex"]))
    assert note.verifier_key_line(v["origin"], key.public_key()) == v["verifier_key"]
    root = merkle.root_from_leaf_hashes(merkle_vec["leaf_hashes"])
    text = note.sign_checkpoint(key, v["origin"], 8, root)
    assert text == v["checkpoint"]
    checkpoint = note.verify_checkpoint(v["checkpoint"], note.parse_verifier_key(v["verifier_key"]))
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == (v["origin"], 8, root)


def test_envelope_ed25519_reproduces_everything():
    v = load_vector("envelope-ed25519.json")
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(v["private_key_seed_hex"]))
    public = dsse.load_public_key(v["public_key_pem"])
    assert public.algorithm == "ed25519"
    assert public.keyid == v["keyid"] == dsse.keyid_of(key)
    assert public.pem == v["public_key_pem"]

    payload = jcs(v["statement"])
    assert payload == v["payload_utf8"].encode()
    envelope = dsse.make_envelope(payload, [(key, v["keyid"])])
    assert envelope == v["envelope"]

    parsed = dsse.parse_envelope(json.dumps(v["envelope"]).encode(), 64 << 20)
    dsse.check_payload_type(parsed)
    assert parsed.payload == payload
    assert parsed.pae.hex() == v["pae_hex"]
    assert dsse.verify_signatures(parsed, {public.keyid: public}.get) == [public]
    assert dsse.statement_sha256(parsed) == v["statement_sha256"]

    leaf = leaves.attestation_leaf(parsed.raw_signatures, dsse.statement_sha256(parsed))
    assert leaf == v["log_leaf_utf8"].encode()
    assert merkle.leaf_hash(leaf).hex() == v["log_leaf_hash_hex"]

    statement = statements.parse_statement(parsed.payload)
    assert isinstance(statement, statements.LocationStatement)
    assert statement.chips == [("nvidia:1653824019022", "c-east-1"), ("nvidia:1653824019023", None)]


def test_envelope_p256_verifies():
    v = load_vector("envelope-p256.json")
    public = dsse.load_public_key(v["public_key_pem"])
    assert (public.algorithm, public.keyid) == ("ecdsa-p256", v["keyid"])
    parsed = dsse.parse_envelope(json.dumps(v["envelope"]).encode(), 64 << 20)
    dsse.check_payload_type(parsed)
    assert v["expect"] == "verifies"
    assert dsse.verify_signatures(parsed, {public.keyid: public}.get) == [public]
    # Same statement bytes as the Ed25519 vector: only the signatures differ.
    assert parsed.payload == b64decode_any(v["envelope"]["payload"])
    statements.parse_statement(parsed.payload)
