"""An in-memory log and an alert evidence bundle over it (LOG.md section 5), for the protocol and
agent tests: plain functions, no Django."""

import hashlib
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.dsse import make_envelope, parse_envelope, statement_sha256
from protocol.encoding import jcs
from protocol.evidence import entry_object
from protocol.leaves import attestation_leaf, event_leaf
from protocol.merkle import inclusion_proof, leaf_hash, root_from_leaf_hashes
from protocol.note import sign_checkpoint, verifier_key_line

ORIGIN = "registry.test/log"
CHIPS = b"nvidia:1653924010417\nnvidia:1653924010418\n"


def envelope_bytes(nonce):
    statement = {"v": 1, "kind": "location", "nonce": nonce, "chips": [{"chip": "nvidia:1653924010417"}]}
    return json.dumps(make_envelope(jcs(statement), [(Ed25519PrivateKey.generate(), None)])).encode()


class World:
    """A log of 8 leaves, a checkpoint at size 8, and the bundle of evidence naming leaves 2, 4 and 6."""

    def __init__(self):
        self.key = Ed25519PrivateKey.generate()
        self.key_line = verifier_key_line(ORIGIN, self.key.public_key())
        self.leaves, self.data = [], {}
        for i in range(4):
            leaf, data = event_leaf("2026-11-26T05:00:00Z", "placements.declared", f"FAC-{i}", {"chips": i, "x": 1e20})
            self.leaves.append(leaf)
            self.data[i] = data
        self.envelope = envelope_bytes("ab" * 16)
        parsed = parse_envelope(self.envelope, 1 << 20)
        self.leaves.append(attestation_leaf(parsed.raw_signatures, statement_sha256(parsed)))  # 4
        self.leaves.append(
            attestation_leaf(parse_envelope(envelope_bytes("cd" * 16), 1 << 20).raw_signatures, "0" * 64)
        )
        self.leaves.append(event_leaf("2026-11-26T05:00:01Z", "alert.raised", "alert:1", {"alert": 1})[0])  # 6
        self.data[6] = jcs({"alert": 1})
        self.leaves.append(b"not an entry")  # 7: in the tree, but not a LOG.md entry
        self.size = len(self.leaves)
        hashes = [leaf_hash(x) for x in self.leaves]
        self.note = sign_checkpoint(self.key, ORIGIN, self.size, root_from_leaf_hashes(hashes))
        self.hashes = hashes

    def entry(self, index, with_data=True):
        proof = inclusion_proof(index, self.size, self.hashes)
        return entry_object(index, self.leaves[index], proof, self.data.get(index) if with_data else None)

    def bundle(self, indices=(2, 4, 6)):
        sources = [{"source": "declaration", "id": str(i), "log_index": i} for i in indices]
        sources.append({"source": "monitor", "id": "silence", "log_index": None})  # names no entry
        return {
            "type": "alert-evidence",
            "v": 1,
            # Every member LOG.md 5 names, with its type (step 1 checks them).
            "alert": {
                "id": 1,
                "kind": "threshold",
                "title": "Covered chip cluster",
                "rule": "treaty-covered-cluster v1",
                "scope": "covered_cluster",
                "subject": "US-VA-001",
                "country": "US",
                "operator": "op-a",
                "severity": "high",
                "raised_at": "2026-11-26T05:00:01+00:00",
                "log_index": 6,
            },
            "evidence": {
                "id": 1,
                "at": "2026-11-26T05:00:01+00:00",
                "value": 20.0,
                "threshold": 16,
                "comparison": "gt",
                "chip_count": 2,
                "chips_sha256": hashlib.sha256(CHIPS).hexdigest(),
                "sources": sources,
                "findings": [],
            },
            "tree_size": self.size,
            "checkpoint": self.note,
            "entries": [self.entry(i) for i in sorted(indices)],
        }
