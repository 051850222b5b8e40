"""Offline verification of a registry receipt (LOG.md section 4).

A receipt is `{"log_index", "leaf": base64, "checkpoint": signed note,
"inclusion": [base64, ...]}`. It verifies when the checkpoint is signed by the
pinned log key, the leaf's hash is included at `log_index` in the tree that the
checkpoint commits to, and (given the envelope) the leaf is exactly the
attestation leaf that anyone can rebuild from the envelope (LOG.md section 2).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import UsageError, VerificationError
from protocol.dsse import parse_envelope, statement_sha256
from protocol.encoding import b64decode_any, b64encode
from protocol.errors import ProtocolError
from protocol.leaves import attestation_leaf
from protocol.merkle import leaf_hash, verify_inclusion
from protocol.note import Checkpoint, parse_checkpoint, verify_checkpoint

# The registry's payload limit is at least 64 MiB (ATTESTATION.md section 6); a
# verifier holding an envelope accepts whatever size it was given.
_MAX_PAYLOAD = 1 << 40


@dataclass(frozen=True)
class VerifiedReceipt:
    log_index: int
    size: int
    origin: str
    root: bytes
    leaf: bytes
    statement_sha256: str | None  # when the envelope was checked

    def summary(self) -> dict[str, Any]:
        return {
            "log_index": self.log_index,
            "tree_size": self.size,
            "origin": self.origin,
            "root": b64encode(self.root),
            "statement_sha256": self.statement_sha256,
        }


def load_json_file(path: str | Path, what: str) -> Any:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # nested too deeply to read: no JSON either
        raise VerificationError(f"{what} {path} is not JSON") from None


def _fail(detail: str) -> VerificationError:
    return VerificationError(f"receipt does not verify: {detail}")


def parse_receipt(receipt: Any) -> tuple[int, bytes, str, list[bytes]]:
    if not isinstance(receipt, dict):
        raise _fail("not a JSON object")
    missing = {"log_index", "leaf", "checkpoint", "inclusion"} - receipt.keys()
    if missing:
        raise _fail(f"missing member(s) {', '.join(sorted(missing))}")
    index = receipt["log_index"]
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise _fail("log_index must be a non-negative integer")
    if not isinstance(receipt["checkpoint"], str):
        raise _fail("checkpoint must be the signed note text")
    proof = receipt["inclusion"]
    if not isinstance(proof, list):
        raise _fail("inclusion must be an array of base64 hashes")
    try:
        leaf = b64decode_any(receipt["leaf"], "invalid_proof", "leaf")
        hashes = [b64decode_any(h, "invalid_proof", f"inclusion[{i}]") for i, h in enumerate(proof)]
    except ProtocolError as exc:
        raise _fail(exc.detail) from None
    return index, leaf, receipt["checkpoint"], hashes


def envelope_leaf(envelope_bytes: bytes) -> tuple[bytes, str]:
    """(attestation leaf, statement_sha256) rebuilt from an envelope's bytes."""
    try:
        envelope = parse_envelope(envelope_bytes, _MAX_PAYLOAD)
        sha = statement_sha256(envelope)
        return attestation_leaf(envelope.raw_signatures, sha), sha
    except (ProtocolError, ValueError) as exc:
        raise VerificationError(f"envelope is not a valid DSSE envelope: {exc}") from None


def verify_receipt(receipt: Any, log_key: str | None, envelope_bytes: bytes | None = None) -> VerifiedReceipt:
    """Verify everything a receipt claims; raise VerificationError naming the first failure.

    `log_key` None skips the checkpoint signature (only when no key is pinned:
    the inclusion is then proved against an unauthenticated root).
    """
    index, leaf, note, proof = parse_receipt(receipt)
    try:
        checkpoint: Checkpoint = verify_checkpoint(note, log_key) if log_key else parse_checkpoint(note)
    except ProtocolError as exc:
        raise _fail(f"checkpoint: {exc.detail}") from None
    if "tree_size" in receipt and receipt["tree_size"] != checkpoint.size:
        raise _fail(f"tree_size {receipt['tree_size']!r} is not the checkpoint's size {checkpoint.size}")
    if not verify_inclusion(index, checkpoint.size, leaf_hash(leaf), proof, checkpoint.root):
        raise _fail(
            f"the inclusion proof of leaf {index} does not lead to the checkpoint's root (size {checkpoint.size})"
        )
    sha = None
    if envelope_bytes is not None:
        rebuilt, sha = envelope_leaf(envelope_bytes)
        if rebuilt != leaf:
            raise _fail("the leaf is not the attestation leaf of this envelope")
    return VerifiedReceipt(index, checkpoint.size, checkpoint.origin, checkpoint.root, leaf, sha)


def load_log_key(value: str | None) -> str:
    """The pinned verifier key line, given inline or as @FILE."""
    if not value:
        raise UsageError("no log verifier key: pass --log-key KEYLINE (or @FILE), or set CHIPREG_LOG_KEY")
    if value.startswith("@"):
        try:
            value = Path(value[1:]).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"cannot read log key file {value[1:]}: {exc.strerror or exc}") from None
    from protocol.note import parse_verifier_key

    try:
        parse_verifier_key(value.strip())
    except ProtocolError as exc:
        raise UsageError(f"bad log verifier key: {exc.detail}") from None
    return value.strip()
