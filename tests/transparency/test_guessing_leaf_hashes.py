"""An event one may not read cannot be confirmed from its leaf hash by guessing its data (hostile review).

Every inclusion proof is public and carries the leaves' hashes (LOG.md section 4: "the leaf's hash ... is
public either way"). A leaf is the JCS of `at`, `event`, `object` and the SHA-256 of the data's JCS: when the
data is low-entropy and the rest is known, the hash confirms a guess at data one may not read. Events appended
together share their `at`; the parts of one operation sit at consecutive indices.

The attack: op-b registers a facility next to op-a's. One append logs the campus the registry proposes and
each operator's own membership of it (inventory.campuses._log): op-b reads its own `campus.membership` (the
campus code, the instant) and, at the index beside it, gets 403 for op-a's. The README promises that op-b
learns nothing of op-a's facilities in the campus ("not in the API, not in the code, not in any log event it
may read", tests/inventory/test_authority.py). With a list of likely facility codes and the public directory of
operators, op-b rebuilds op-a's membership leaf and checks each guess against the public inclusion proof.
"""

import base64
import hashlib
import itertools
import json

import rfc8785

from protocol import merkle, note
from transparency.models import LogEventData

from .helpers import b64d

A_SITE, B_SITE = (39.0, -77.0), (39.0, -76.99)  # under a kilometre apart: one campus


def _register(client, code, point):
    response = client.post(
        "/api/v1/facilities/",
        {"code": code, "name": code, "country": "US", "latitude": point[0], "longitude": point[1]},
    )
    assert response.status_code == 201, response.content


def _leaf(at, event, obj, data):
    data_sha256 = hashlib.sha256(rfc8785.dumps(data)).hexdigest()
    entry = {"at": at, "data_sha256": data_sha256, "event": event, "object": obj, "type": "event", "v": 1}
    return rfc8785.dumps(entry)


def test_op_b_cannot_confirm_op_as_facility_codes_from_a_leaf_hash(api, parties, settings):
    settings.CHIPREG_CHECKPOINT_INTERVAL_S = 0  # the checkpoint endpoint signs the head at once
    a, b = api(parties.users["op_a_admin"]), api(parties.users["op_b"])
    _register(a, "VA-ASH-2", A_SITE)
    _register(b, "B-NEXT", B_SITE)

    # op-b's own membership event: the campus code and the instant of the whole append.
    indices = sorted(LogEventData.objects.filter(event="campus.membership").values_list("index", flat=True))
    readable = [i for i in indices if b.get(f"/api/v1/log/entries/{i}").status_code == 200]
    assert len(readable) == 1
    own = b.get(f"/api/v1/log/entries/{readable[0]}").json()
    own_leaf = json.loads(base64.b64decode(own["leaf"]))
    at, campus = own_leaf["at"], own["data"]["campus"]

    # The signed head, checked with the log's key, and a public proof for each neighbouring index.
    anonymous = api(None)
    checkpoint = note.verify_checkpoint(
        anonymous.get("/api/v1/log/checkpoint").content.decode(),
        anonymous.get("/api/v1/log/key").content.decode().strip(),
    )
    operators = [o["code"] for o in b.get("/api/v1/organisations/?kind=operator&limit=100").json()["results"]]
    guesses = ["B-NEXT", "VA-ASH-1", "VA-ASH-2", "VA-ASH-3", "A-1", "US-VA-001"]
    confirmed = []
    for index in (readable[0] - 2, readable[0] - 1, readable[0] + 1):
        if index < 0 or index >= checkpoint.size:
            continue
        if b.get(f"/api/v1/log/entries/{index}").status_code != 403:
            continue  # one op-b may read (its own, or an attestation): nothing to guess
        proof = anonymous.get("/api/v1/log/proof/inclusion", {"index": index, "size": checkpoint.size}).json()
        hashes = [b64d(h) for h in proof["hashes"]]
        for operator, n in itertools.product(operators, (1, 2)):
            for codes in itertools.combinations(guesses, n):
                data = {"before": [], "campus": campus, "facilities": sorted(codes), "operator": operator}
                leaf = _leaf(at, "campus.membership", campus, data)
                if merkle.verify_inclusion(index, checkpoint.size, merkle.leaf_hash(leaf), hashes, checkpoint.root):
                    confirmed.append((index, operator, codes))
    assert confirmed == [], f"op-b confirmed another operator's facilities in its campus: {confirmed}"
