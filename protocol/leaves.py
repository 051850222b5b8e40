"""Transparency-log leaves (LOG.md section 2): JCS bytes of one entry object.

Leaves are small and hash-bound to the evidence: an attestation leaf carries
the signatures verbatim and the hash of PAE, so anyone holding the envelope can
rebuild it; an event leaf carries the hash of its data, which is served beside it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from protocol.encoding import jcs, jcs_value, sha256_hex
from protocol.errors import ProtocolError
from protocol.times import format_time, parse_time

MAX_LEAF_BYTES = 64 * 1024
EVENT_NAME_RE = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
_SHA256_HEX_RE = re.compile(r"[0-9a-f]{64}")

__all__ = ["MAX_LEAF_BYTES", "attestation_leaf", "event_leaf", "format_time"]


def _bounded(leaf: bytes) -> bytes:
    if len(leaf) > MAX_LEAF_BYTES:
        raise ProtocolError("leaf_too_large", f"log leaf is {len(leaf)} bytes; the limit is {MAX_LEAF_BYTES}")
    return leaf


def attestation_leaf(raw_signatures: list[dict[str, Any]], statement_sha256_hex: str) -> bytes:
    """The leaf of an accepted attestation: signatures as sent, in order, and the PAE hash."""
    if not isinstance(raw_signatures, list) or not raw_signatures:
        raise ValueError("raw_signatures must be the envelope's non-empty signature list")
    if not isinstance(statement_sha256_hex, str) or not _SHA256_HEX_RE.fullmatch(statement_sha256_hex):
        raise ValueError("statement_sha256 must be 64 lowercase hex characters")
    entry = {"signatures": raw_signatures, "statement_sha256": statement_sha256_hex, "type": "attestation", "v": 1}
    return _bounded(jcs(entry))


def event_leaf(at: datetime | str, event: str, object_id: str, data: object) -> tuple[bytes, bytes]:
    """(leaf bytes, JCS bytes of data) for a registry event.

    ValueError if `data` is not a JSON value whose numbers are exact doubles
    (see protocol.encoding.jcs_value).

    `at` as a string must already be RFC 3339 UTC with `Z` and is kept verbatim;
    a datetime is written by format_time. Event names are dotted lowercase
    (`key.revoked`).
    """
    if isinstance(at, datetime):
        at_s = format_time(at)
    else:
        parse_time(at)  # ValueError if not the wire form
        at_s = at
    if not isinstance(event, str) or not EVENT_NAME_RE.fullmatch(event):
        raise ValueError(f"event name must be dotted lowercase, e.g. key.revoked: {event!r}")
    if not isinstance(object_id, str) or not object_id:
        raise ValueError("object id must be a non-empty string")
    # The data as the JSON numbers (doubles) a verifier reads back, so the stored
    # bytes are JCS again when parsed and re-serialised (a float 1e20 is written
    # as 21 digits; an int beyond 2**53 that a double cannot hold is refused).
    data_jcs = jcs(jcs_value(data))
    entry = {
        "at": at_s,
        "data_sha256": sha256_hex(data_jcs),
        "event": event,
        "object": object_id,
        "type": "event",
        "v": 1,
    }
    return _bounded(jcs(entry)), data_jcs
