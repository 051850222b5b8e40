"""Log receipts checked on the server, the way any outside verifier would.

For each statement: the checkpoint covering its leaf is verified against the
log's public key (signed-note, protocol.note), then the leaf's inclusion proof
against that checkpoint's root (RFC 9162, protocol.merkle), and the leaf is
checked to name the statement's SHA-256. All proofs for a page come from one
bulk read of the stored subtree hashes.
"""

import json
from dataclasses import dataclass

from protocol import merkle, note
from protocol.errors import ProtocolError
from transparency.checkpoints import checkpoint_covering, served_note, verifier_key_line
from transparency.log import get_nodes_bulk
from transparency.models import LogLeaf


@dataclass
class Receipt:
    log_index: int | None
    tree_size: int | None = None
    checkpoint: str = ""
    verified: bool = False
    problem: str = ""


def verify_receipts(attestations):
    """{attestation pk: Receipt} for attestations (model instances with log_index, statement_sha256)."""
    attestations = [a for a in attestations]
    indexed = [a for a in attestations if a.log_index is not None]
    out = {a.pk: Receipt(log_index=None, problem="not in the log") for a in attestations if a.log_index is None}
    if not indexed:
        return out
    checkpoint = checkpoint_covering(max(a.log_index for a in indexed))
    if checkpoint is None or checkpoint.size <= max(a.log_index for a in indexed):
        for a in indexed:
            out[a.pk] = Receipt(log_index=a.log_index, problem="no signed checkpoint covers this entry yet")
        return out
    text = served_note(checkpoint)
    try:
        signed = note.verify_checkpoint(text, verifier_key_line())
        signature_problem = ""
        if signed.size != checkpoint.size or signed.root != bytes(checkpoint.root):
            signature_problem = "the signed checkpoint does not match the stored one"
    except ProtocolError as exc:
        signed, signature_problem = None, f"checkpoint signature: {exc.detail or exc.code}"
    size = checkpoint.size
    leaves = {
        i: bytes(leaf)
        for i, leaf in LogLeaf.objects.filter(index__in=[a.log_index for a in indexed]).values_list("index", "leaf")
    }
    ranges = {a.log_index: merkle.inclusion_proof_ranges(a.log_index, size) for a in indexed}
    every = [r for rs in ranges.values() for r in rs]
    nodes = get_nodes_bulk(merkle.nodes_for_ranges(every)) if every else {}
    for a in indexed:
        receipt = Receipt(log_index=a.log_index, tree_size=size, checkpoint=text)
        leaf = leaves.get(a.log_index)
        if leaf is None:
            receipt.problem = "the log has no leaf at this index"
        elif signature_problem:
            receipt.problem = signature_problem
        else:
            try:
                proof = merkle.proof_from_nodes(ranges[a.log_index], lambda wanted: nodes)
            except KeyError:
                proof = None
            if proof is None:
                receipt.problem = "stored Merkle nodes are missing"
            elif not merkle.verify_inclusion(a.log_index, signed.size, merkle.leaf_hash(leaf), proof, signed.root):
                receipt.problem = "the inclusion proof does not verify against the checkpoint"
            elif _leaf_statement(leaf) != a.statement_sha256:
                receipt.problem = "the leaf does not name this statement"
            else:
                receipt.verified = True
        out[a.pk] = receipt
    return out


def _leaf_statement(leaf):
    try:
        return json.loads(leaf).get("statement_sha256")
    except (ValueError, AttributeError):
        return None
