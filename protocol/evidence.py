"""Alert evidence bundles (LOG.md section 5): what an alert rests on, proving itself offline.

A bundle carries the alert's frozen evidence, a signed checkpoint whose tree includes
every log index the evidence names, and for each of those indices the entry (its leaf
bytes, and for an event the JCS bytes of its data) with its RFC 9162 inclusion proof.
`verify_bundle` needs nothing else but the log's verifier key: it checks, in this order,
each step named in the errors it raises:

1. format      the bundle's shape (members, types, one entry per named index, ascending);
2. checkpoint  the signed note verifies under the log key (protocol.note);
3. size        the bundle's `tree_size` is the size the checkpoint signs;
4. coverage    every index the sources name is below that size and has its entry;
5. inclusion   each entry's leaf hash, with its proof, leads to the checkpoint's root;
6. entry       each leaf is a LOG.md section 2 entry (JCS, type attestation or event, v 1);
7. data        an event's data, when carried, hashes to the leaf's `data_sha256`;
8. chips       (given the chip list) it hashes to the evidence's `chips_sha256`, one id a line;
9. envelope    (given envelopes) each rebuilds its attestation entry's leaf exactly.

Steps 5 to 7 bind what the entries say, not only that some leaf exists. What the
registry concluded from them (the value, the rule, the alert's title) is its claim,
carried for reading; the proofs are about the log.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from protocol.dsse import parse_envelope, statement_sha256
from protocol.encoding import b64decode_any, b64encode, is_jcs, jcs_loads, sha256_hex
from protocol.errors import ProtocolError
from protocol.leaves import attestation_leaf
from protocol.merkle import leaf_hash, verify_inclusion
from protocol.note import Checkpoint, verify_checkpoint

BUNDLE_TYPE = "alert-evidence"
BUNDLE_VERSION = 1
STEPS = ("format", "checkpoint", "size", "coverage", "inclusion", "entry", "data", "chips", "envelope")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_ENVELOPE_PAYLOAD = 1 << 40  # a verifier holding an envelope accepts whatever size it was given


class EvidenceError(ProtocolError):
    """A bundle that does not verify; `step` names the check that failed (one of STEPS)."""

    def __init__(self, step: str, detail: str):
        super().__init__("invalid_evidence", f"{step}: {detail}")
        self.step = step


@dataclass(frozen=True)
class VerifiedEntry:
    log_index: int
    type: str  # "attestation" or "event"
    event: str | None = None
    object: str | None = None
    at: str | None = None
    statement_sha256: str | None = None
    data: Any = None  # the event's data, parsed, when the bundle carries it
    data_checked: bool = False
    envelope_checked: bool = False


@dataclass(frozen=True)
class VerifiedEvidence:
    origin: str
    size: int
    root: bytes
    entries: list[VerifiedEntry] = field(default_factory=list)
    chips_checked: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "tree_size": self.size,
            "root": b64encode(self.root),
            "entries": [
                {
                    "log_index": e.log_index,
                    "type": e.type,
                    **({"event": e.event, "object": e.object} if e.type == "event" else {}),
                    **({"statement_sha256": e.statement_sha256} if e.type == "attestation" else {}),
                    "data_checked": e.data_checked,
                    "envelope_checked": e.envelope_checked,
                }
                for e in self.entries
            ],
            "chips_checked": self.chips_checked,
        }


# --- building (the registry) -------------------------------------------------------------------


def entry_object(log_index: int, leaf: bytes, inclusion: list[bytes], data_jcs: bytes | None = None) -> dict[str, Any]:
    """One member of a bundle's `entries`: the leaf, its proof and (events) the data's JCS text."""
    out: dict[str, Any] = {
        "log_index": log_index,
        "leaf": b64encode(leaf),
        "inclusion": [b64encode(h) for h in inclusion],
    }
    if data_jcs is not None:
        out["data_jcs"] = data_jcs.decode("utf-8")
    return out


def named_indices(sources: list[Any]) -> list[int]:
    """The distinct log indices the evidence's sources name, ascending (those without one name none)."""
    return sorted({s["log_index"] for s in sources if isinstance(s, dict) and _is_index(s.get("log_index"))})


# --- verifying (anyone) ------------------------------------------------------------------------


def _is_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _fail(step: str, detail: str) -> EvidenceError:
    return EvidenceError(step, detail)


def _member(obj: Mapping[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if name not in obj:
        raise _fail("format", f"{where} has no member {name!r}")
    value = obj[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _fail("format", f"{where}.{name} has the wrong type ({type(value).__name__})")
    return value


_NONE = type(None)
_NUMBER = (int, float)
# LOG.md 5's members of `alert` and `evidence` with their types (`sources` checked below, item by item). The
# registry's conclusions, carried for reading, but a bundle is one of this shape: step 1 checks it.
ALERT_MEMBERS = {
    "id": int,
    "kind": str,
    "title": str,
    "rule": (str, _NONE),
    "scope": str,
    "subject": str,
    "country": str,
    "operator": (str, _NONE),
    "severity": str,
    "raised_at": str,
    "log_index": (int, _NONE),
}
EVIDENCE_MEMBERS = {
    "id": int,
    "at": str,
    "value": (*_NUMBER, _NONE),
    "threshold": (*_NUMBER, _NONE),
    "comparison": str,
    "chip_count": int,
    "chips_sha256": str,
    "findings": list,
}


def _parse(bundle: Any) -> tuple[dict[str, Any], str, int, list[dict[str, Any]]]:
    """(evidence, checkpoint note, tree_size, entries) after checking the bundle's shape."""
    if isinstance(bundle, (bytes, bytearray, str)):
        try:
            bundle = jcs_loads(bundle, "invalid_evidence")
        except (ProtocolError, UnicodeDecodeError) as exc:
            raise _fail("format", f"the bundle is not JSON ({getattr(exc, 'detail', exc)})") from None
    if not isinstance(bundle, dict):
        raise _fail("format", "the bundle is not a JSON object")
    if bundle.get("type") != BUNDLE_TYPE or bundle.get("v") != BUNDLE_VERSION:
        raise _fail("format", f"not an {BUNDLE_TYPE!r} bundle of version {BUNDLE_VERSION}")
    alert = _member(bundle, "alert", dict, "bundle")
    for name, kind in ALERT_MEMBERS.items():
        _member(alert, name, kind, "alert")
    evidence = _member(bundle, "evidence", dict, "bundle")
    for name, kind in EVIDENCE_MEMBERS.items():
        _member(evidence, name, kind, "evidence")
    sources = _member(evidence, "sources", list, "evidence")
    for i, source in enumerate(sources):
        if not isinstance(source, dict):
            raise _fail("format", f"evidence.sources[{i}] is not an object")
        if source.get("log_index") is not None and not _is_index(source["log_index"]):
            raise _fail("format", f"evidence.sources[{i}].log_index is not a non-negative integer or null")
    note = _member(bundle, "checkpoint", str, "bundle")
    size = _member(bundle, "tree_size", int, "bundle")
    entries = _member(bundle, "entries", list, "bundle")
    previous = -1
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise _fail("format", f"entries[{i}] is not an object")
        index = _member(entry, "log_index", int, f"entries[{i}]")
        if index <= previous:
            raise _fail("format", f"entries must be in ascending log_index order, each once (entries[{i}])")
        previous = index
        _member(entry, "leaf", str, f"entries[{i}]")
        _member(entry, "inclusion", list, f"entries[{i}]")
        if "data_jcs" in entry and not isinstance(entry["data_jcs"], str):
            raise _fail("format", f"entries[{i}].data_jcs must be the JCS text of the event's data")
    return evidence, note, size, entries


def _checkpoint(note: str, log_key: str) -> Checkpoint:
    try:
        return verify_checkpoint(note, log_key)
    except ProtocolError as exc:
        raise _fail("checkpoint", exc.detail or exc.code) from None


def _coverage(evidence: dict[str, Any], entries: list[dict[str, Any]], size: int) -> None:
    named = named_indices(evidence["sources"])
    carried = [e["log_index"] for e in entries]
    for index in named:
        if index >= size:
            raise _fail("coverage", f"the checkpoint (tree size {size}) does not cover log index {index}")
    missing = sorted(set(named) - set(carried))
    if missing:
        raise _fail("coverage", f"no entry for log index {missing[0]}, which the sources name")
    extra = sorted(set(carried) - set(named))
    if extra:
        raise _fail("coverage", f"entry {extra[0]} is not named by any source")


def _decode(value: str, what: str, step: str) -> bytes:
    try:
        return b64decode_any(value, "invalid_evidence", what)
    except ProtocolError as exc:
        raise _fail(step, exc.detail) from None


def _included(entry: dict[str, Any], checkpoint: Checkpoint) -> bytes:
    index = entry["log_index"]
    leaf = _decode(entry["leaf"], f"entry {index}'s leaf", "format")
    proof = [_decode(h, f"entry {index}'s inclusion[{k}]", "format") for k, h in enumerate(entry["inclusion"])]
    if not verify_inclusion(index, checkpoint.size, leaf_hash(leaf), proof, checkpoint.root):
        raise _fail(
            "inclusion",
            f"entry {index}: the leaf's hash and its proof do not lead to the checkpoint's root "
            f"(tree size {checkpoint.size}); the leaf or its proof was altered",
        )
    return leaf


def _entry(index: int, leaf: bytes) -> dict[str, Any]:
    """The leaf as a LOG.md section 2 entry object."""
    if not is_jcs(leaf):
        raise _fail("entry", f"entry {index}: the leaf is not the JCS bytes of an entry object")
    obj = jcs_loads(leaf)
    if not isinstance(obj, dict) or obj.get("v") != 1 or obj.get("type") not in ("attestation", "event"):
        raise _fail("entry", f"entry {index}: the leaf is not an attestation or event entry of version 1")
    digest = obj.get("statement_sha256") if obj["type"] == "attestation" else obj.get("data_sha256")
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        raise _fail("entry", f"entry {index}: the leaf's hash member is not 64 lowercase hex digits")
    return obj


def _data(index: int, obj: dict[str, Any], entry: dict[str, Any]) -> tuple[Any, bool]:
    if "data_jcs" not in entry:
        return None, False
    if obj["type"] != "event":
        raise _fail("format", f"entry {index}: data_jcs on an attestation entry (only events carry data)")
    try:
        data = entry["data_jcs"].encode("utf-8")
    except UnicodeEncodeError:
        raise _fail("format", f"entry {index}: data_jcs is not encodable as UTF-8") from None
    if sha256_hex(data) != obj["data_sha256"]:
        raise _fail("data", f"entry {index}: the event's data does not hash to the leaf's data_sha256")
    return jcs_loads(data, "invalid_evidence"), True


def _chips(evidence: dict[str, Any], chips: bytes) -> None:
    expected = evidence.get("chips_sha256")
    if hashlib.sha256(chips).hexdigest() != expected:
        raise _fail("chips", "the chip list does not hash to the evidence's chips_sha256")
    count = evidence.get("chip_count")
    lines = chips.count(b"\n")
    if count is not None and lines != count:
        raise _fail("chips", f"the chip list has {lines} lines; the evidence counted {count} chips")


def _envelope(index: int, leaf: bytes, obj: dict[str, Any], envelope: bytes) -> None:
    if obj["type"] != "attestation":
        raise _fail("envelope", f"entry {index} is an event, not an attestation: no envelope rebuilds it")
    try:
        parsed = parse_envelope(envelope, _MAX_ENVELOPE_PAYLOAD)
        rebuilt = attestation_leaf(parsed.raw_signatures, statement_sha256(parsed))
    except (ProtocolError, ValueError) as exc:
        raise _fail("envelope", f"entry {index}: the envelope is not a valid DSSE envelope ({exc})") from None
    if rebuilt != leaf:
        raise _fail("envelope", f"entry {index}: the leaf is not the attestation leaf of this envelope")


def verify_bundle(
    bundle: Any,
    log_key: str,
    chips: bytes | None = None,
    envelopes: Mapping[int, bytes] | None = None,
) -> VerifiedEvidence:
    """Verify an evidence bundle (a parsed object, or its JSON bytes) with the log's verifier key line.

    `chips`: the evidence's chip list, if held (checked against `chips_sha256`). `envelopes`:
    {log index: DSSE envelope bytes} for attestation entries whose statements are held.
    Raises EvidenceError naming the first step that fails; returns what was proved.
    """
    evidence, note, size, entries = _parse(bundle)
    checkpoint = _checkpoint(note, log_key)
    if size != checkpoint.size:
        raise _fail("size", f"tree_size {size} is not the size the checkpoint signs ({checkpoint.size})")
    _coverage(evidence, entries, checkpoint.size)
    envelopes = dict(envelopes or {})
    unknown = sorted(set(envelopes) - {e["log_index"] for e in entries})
    if unknown:
        raise _fail("envelope", f"an envelope was given for log index {unknown[0]}, which the bundle does not carry")
    verified = []
    for entry in entries:
        index = entry["log_index"]
        leaf = _included(entry, checkpoint)
        obj = _entry(index, leaf)
        data, checked = _data(index, obj, entry)
        if index in envelopes:
            _envelope(index, leaf, obj, envelopes[index])
        verified.append(
            VerifiedEntry(
                log_index=index,
                type=obj["type"],
                event=obj.get("event"),
                object=obj.get("object"),
                at=obj.get("at"),
                statement_sha256=obj.get("statement_sha256"),
                data=data,
                data_checked=checked,
                envelope_checked=index in envelopes,
            )
        )
    if chips is not None:
        _chips(evidence, chips)
    return VerifiedEvidence(checkpoint.origin, checkpoint.size, checkpoint.root, verified, chips is not None)
