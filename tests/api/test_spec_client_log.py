"""LOG.md, exercised by an outside client written from the spec text (tests/api/spec_client.py)."""

import base64
import hashlib
import json

import pytest

from tests.api import spec_client as sc
from tests.api.spec_world import problem

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_world(spec_world, settings):
    settings.CHIPREG_CHECKPOINT_INTERVAL_S = 0  # a checkpoint whenever one is asked for
    return spec_world


def log_key(world):
    r = world.anonymous.get("/api/v1/log/key")
    assert r.status_code == 200, r.content
    text = r.content.decode("utf-8")
    return sc.parse_verifier_key(text)


def checkpoint(world, key):
    r = world.anonymous.get("/api/v1/log/checkpoint")
    assert r.status_code == 200, r.content
    assert r["Content-Type"] == "text/plain; charset=utf-8"
    return sc.verify_checkpoint(r.content.decode("utf-8"), key)


def accepted(world, n=1):
    out = []
    for _ in range(n):
        response, env = world.submit(world.location())
        assert response.status_code == 201, response.content
        out.append((response.json(), env))
    return out


def test_receipt_proves_exactly_what_was_signed(log_world):
    key = log_key(log_world)
    ((answer, env),) = accepted(log_world)
    r = log_world.op_a.get(f"/api/v1/attestations/{answer['id']}/receipt")  # as LOG.md writes it
    assert r.status_code == 200, r.content
    assert log_world.op_a.get(f"/api/v1/attestations/{answer['id']}/receipt/").json() == r.json()  # as the README
    receipt = r.json()
    assert set(receipt) == {"log_index", "tree_size", "leaf", "checkpoint", "inclusion"}
    assert receipt["log_index"] == answer["log_index"]
    leaf = base64.b64decode(receipt["leaf"])
    assert leaf == sc.attestation_leaf(env)  # anyone holding the envelope rebuilds the leaf
    assert json.loads(leaf)["statement_sha256"] == answer["statement_sha256"]
    cp = sc.verify_checkpoint(receipt["checkpoint"], key)
    assert receipt["tree_size"] == cp.size
    path = [base64.b64decode(h) for h in receipt["inclusion"]]
    assert sc.verify_inclusion(answer["log_index"], cp.size, sc.leaf_hash(leaf), path, cp.root)


def test_checkpoint_proofs_and_entries_agree(log_world):
    key = log_key(log_world)
    accepted(log_world, 2)
    # Ask a receipt to get a checkpoint covering everything so far.
    first = checkpoint(log_world, key)
    ((answer, env),) = accepted(log_world)
    log_world.op_a.get(f"/api/v1/attestations/{answer['id']}/receipt/")
    second = checkpoint(log_world, key)
    assert second.size > first.size >= 1

    # Every leaf of the tree, read with a token, hashed as RFC 6962 says, gives the signed root.
    hashes = []
    for index in range(second.size):
        r = log_world.treaty.get(f"/api/v1/log/entries/{index}")
        assert r.status_code == 200, r.content
        entry = r.json()
        assert entry["index"] == index
        leaf = base64.b64decode(entry["leaf"])
        obj = json.loads(leaf)
        assert sc.jcs(obj) == leaf, "a leaf is the JCS bytes of its entry"
        assert len(leaf) <= 64 * 1024
        assert obj["v"] == 1 and obj["type"] in ("attestation", "event")
        if obj["type"] == "event":
            assert set(obj) == {"at", "event", "object", "data_sha256", "type", "v"}
            assert obj["at"].endswith("Z")
            assert hashlib.sha256(sc.jcs(entry["data"])).hexdigest() == obj["data_sha256"]
        else:
            assert set(obj) == {"signatures", "statement_sha256", "type", "v"}
        hashes.append(sc.leaf_hash(leaf))
    assert sc.root(hashes[: first.size]) == first.root
    assert sc.root(hashes) == second.root
    assert base64.b64decode(log_world.treaty.get(f"/api/v1/log/entries/{answer['log_index']}").json()["leaf"]) == (
        sc.attestation_leaf(env)
    )

    # Proofs are public.
    for index in range(second.size):
        r = log_world.anonymous.get(f"/api/v1/log/proof/inclusion?index={index}&size={second.size}")
        assert r.status_code == 200, r.content
        body = r.json()
        assert (body["index"], body["size"]) == (index, second.size)
        path = [base64.b64decode(h) for h in body["hashes"]]
        assert sc.verify_inclusion(index, second.size, hashes[index], path, second.root)
    r = log_world.anonymous.get(f"/api/v1/log/proof/consistency?first={first.size}&second={second.size}")
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["first"], body["second"]) == (first.size, second.size)
    path = [base64.b64decode(h) for h in body["hashes"]]
    assert sc.verify_consistency(first.size, second.size, first.root, second.root, path)


def test_entries_need_a_token(log_world):
    accepted(log_world)
    problem(log_world.anonymous.get("/api/v1/log/entries/0"), 401, "not_authenticated")


@pytest.mark.parametrize(
    "query",
    [
        "inclusion?index={n}&size={n}",
        "inclusion?index=0&size={over}",
        "inclusion?index=-1&size={n}",
        "inclusion?index=x&size={n}",
        "inclusion?index=0",
        "inclusion?index=0&size=0",
        "consistency?first={n}&second={over}",
        "consistency?first={over}&second={n}",
        "consistency?first=-1&second={n}",
        "consistency?first=0&second=99999999999999999999999",
        "consistency?first=1",
    ],
)
def test_proof_ranges_answer_400_problem(log_world, query):
    key = log_key(log_world)
    ((answer, _),) = accepted(log_world)
    log_world.op_a.get(f"/api/v1/attestations/{answer['id']}/receipt/")
    n = checkpoint(log_world, key).size
    r = log_world.anonymous.get("/api/v1/log/proof/" + query.format(n=n, over=n + 1))
    assert r.status_code == 400, (query, r.content)
    assert r["Content-Type"].startswith("application/problem+json")
    assert r.json()["code"]


def test_entry_index_out_of_range(log_world):
    accepted(log_world)
    for index in ("999999", "-1", "99999999999999999999999"):
        r = log_world.treaty.get(f"/api/v1/log/entries/{index}")
        assert r.status_code == 400, (index, r.content)
        assert r["Content-Type"].startswith("application/problem+json")


def test_entry_readers(log_world):
    ((answer, _),) = accepted(log_world)
    # A statement's entry: any party.
    for client in (log_world.op_a, log_world.op_b, log_world.treaty):
        assert client.get(f"/api/v1/log/entries/{answer['log_index']}").status_code == 200
    # An event about op-a's facility: op-a and the treaty body, not op-b (403 forbidden).
    for index in range(answer["log_index"]):
        entry = log_world.treaty.get(f"/api/v1/log/entries/{index}").json()
        leaf = json.loads(base64.b64decode(entry["leaf"]))
        if leaf.get("event") == "facility.registered" and leaf["object"] == "US-VA-001":
            break
    else:
        raise AssertionError("no facility.registered event for US-VA-001")
    assert log_world.op_a.get(f"/api/v1/log/entries/{index}").status_code == 200
    problem(log_world.op_b.get(f"/api/v1/log/entries/{index}"), 403, "forbidden")
    # The leaf's hash stays public: its inclusion proof needs no token.
    size = answer["log_index"] + 1
    log_world.op_a.get(f"/api/v1/attestations/{answer['id']}/receipt")
    assert log_world.anonymous.get(f"/api/v1/log/proof/inclusion?index={index}&size={size}").status_code == 200


def test_a_witness_registers_and_cosigns_as_section_3_and_4_say(log_world):
    """A witness written from LOG.md alone: its key registered with {"name", "public_key"}, a C2SP
    tlog-cosignature of the latest checkpoint sent as {"witness", "size", "line"}, served back as an extra line."""
    import struct
    import time

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = log_key(log_world)
    accepted(log_world)
    witness_key = ed25519.Ed25519PrivateKey.generate()
    name = "witness.example/treaty"
    r = log_world.treaty.post("/api/v1/log/witnesses/", {"name": name, "public_key": sc.public_pem(witness_key)})
    assert r.status_code == 201, r.content
    raw = witness_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    # C2SP tlog-cosignature: key hash over name || 0x0A || 0x04 || key; signed "cosignature/v1\ntime T\n" || body.
    key_hash = hashlib.sha256(name.encode() + b"\x0a\x04" + raw).digest()[:4]
    assert r.json()["key_line"] == f"{name}+{key_hash.hex()}+{sc.b64(bytes([4]) + raw)}"
    served = log_world.anonymous.get("/api/v1/log/checkpoint").content.decode()
    cp = sc.verify_checkpoint(served, key)
    body = served.split("\n\n", 1)[0] + "\n"
    stamp = int(time.time())
    signature = witness_key.sign(b"cosignature/v1\ntime %d\n" % stamp + body.encode())
    line = "\u2014 " + name + " " + sc.b64(key_hash + struct.pack(">Q", stamp) + signature)
    stale = log_world.treaty.post("/api/v1/log/cosignatures", {"witness": name, "size": cp.size - 1, "line": line})
    problem(stale, 409, "stale_checkpoint")
    r = log_world.treaty.post("/api/v1/log/cosignatures", {"witness": name, "size": cp.size, "line": line})
    assert r.status_code == 201, r.content
    assert r.json() == {"witness": name, "size": cp.size, "line": line, "timestamp": stamp}
    problem(
        log_world.treaty.post("/api/v1/log/cosignatures", {"witness": name, "size": cp.size, "line": line}),
        409,
        "duplicate_cosignature",
    )
    again = sc.verify_checkpoint(log_world.anonymous.get("/api/v1/log/checkpoint").content.decode(), key)
    assert again.size == cp.size and line in again.other_signatures
