"""Event leaves are the JCS event objects of LOG.md section 2, their data served beside them."""

import hashlib
import json

import rfc8785

from protocol import merkle, note
from registry.registration import register_chips
from tests.factories import chip_rows
from transparency.checkpoints import verifier_key_line

from .helpers import b64d


def test_event_entry_serves_leaf_and_data_that_hash_together(api, parties):
    result = register_chips(chip_rows("ENT", 3), parties.users["op_a_admin"])
    index = result.batch.log_index
    client = api(parties.users["treaty"])
    response = client.get(f"/api/v1/log/entries/{index}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["index"] == index
    leaf = b64d(body["leaf"])
    entry = json.loads(leaf)
    # The leaf is exactly the JCS bytes of the event object, with exactly its members.
    assert rfc8785.dumps(entry) == leaf
    assert set(entry) == {"at", "event", "object", "data_sha256", "type", "v"}
    assert entry["type"] == "event" and entry["v"] == 1
    assert entry["event"] == "chip.registered"
    assert entry["object"] == f"registration:{result.batch.id}"
    assert entry["at"].endswith("Z")
    # A verifier recomputes data_sha256 from the served data alone.
    assert hashlib.sha256(rfc8785.dumps(body["data"])).hexdigest() == entry["data_sha256"]
    assert body["data"]["count"] == 3 and body["data"]["organisation"] == "op-a"

    # And the leaf is in the signed tree: an inclusion proof against the checkpoint.
    text = client.get("/api/v1/log/checkpoint").content.decode()
    cp = note.verify_checkpoint(text, verifier_key_line())
    proof = client.get("/api/v1/log/proof/inclusion", {"index": index, "size": cp.size}).json()["hashes"]
    assert merkle.verify_inclusion(index, cp.size, merkle.leaf_hash(leaf), [b64d(h) for h in proof], cp.root)


def test_entry_data_follows_visibility(api, parties):
    index = register_chips(chip_rows("VIS", 1), parties.users["op_b"]).batch.log_index
    assert api(parties.users["op_b"]).get(f"/api/v1/log/entries/{index}").status_code == 200
    denied = api(parties.users["op_a_admin"]).get(f"/api/v1/log/entries/{index}")
    assert denied.status_code == 403
    assert denied["Content-Type"] == "application/problem+json"
    assert api(None).get(f"/api/v1/log/entries/{index}").status_code == 401
