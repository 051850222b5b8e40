"""The FWIDs of a TCG DICE TcbInfo certificate extension (OID 2.23.133.5.4.1), read from its DER.

`cryptography` hands unknown extensions over as raw DER, and no maintained
package we already depend on parses this one, so this reads just what
HARDWARE.md check 5 needs, strictly:

    DiceTcbInfo ::= SEQUENCE {
        vendor [0] IMPLICIT UTF8String OPTIONAL, model [1] ..., version [2] ...,
        svn [3] IMPLICIT INTEGER OPTIONAL, layer [4] ..., index [5] ...,
        fwids [6] IMPLICIT SEQUENCE OF FWID OPTIONAL, flags [7] ..., vendorInfo [8] ..., type [9] ... }
    FWID ::= SEQUENCE { hashAlg OBJECT IDENTIFIER, digest OCTET STRING }

(TCG DICE Attestation Architecture, section 6.1.) NVIDIA's GH100 leaf
certificates carry the same OID in its earlier RIoT "composite device identity"
shape, which the fixture shows:

    SEQUENCE { version INTEGER, deviceId SubjectPublicKeyInfo, fwid FWID }

so an FWID directly inside the outer SEQUENCE counts too. Anything that is not
DER of these shapes raises ValueError.
"""

from __future__ import annotations

TCB_INFO_OID = "2.23.133.5.4.1"
SEQUENCE, OCTET_STRING, OID = 0x30, 0x04, 0x06
FWIDS_TAG = 0xA6  # [6], constructed


def _tlv(data: bytes, at: int) -> tuple[int, bytes, int]:
    """(tag, value, next offset) of the DER element at `at`; definite lengths only."""
    if at + 2 > len(data):
        raise ValueError("truncated DER")
    tag, length = data[at], data[at + 1]
    at += 2
    if tag & 0x1F == 0x1F:
        raise ValueError("multi-byte DER tags are not used here")
    if length & 0x80:
        size = length & 0x7F
        if size == 0 or size > 4 or at + size > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[at : at + size], "big")
        at += size
    if at + length > len(data):
        raise ValueError("DER element runs past its container")
    return tag, data[at : at + length], at + length


def _children(data: bytes) -> list[tuple[int, bytes]]:
    out, at = [], 0
    while at < len(data):
        tag, value, at = _tlv(data, at)
        out.append((tag, value))
    return out


def fwids(der: bytes) -> list[bytes]:
    """The digests of the extension's FWID list, in order (empty when it has none)."""
    tag, body, end = _tlv(der, 0)
    if tag != SEQUENCE or end != len(der):
        raise ValueError("TcbInfo is not one DER SEQUENCE")
    digests = []
    for child_tag, value in _children(body):
        if child_tag == FWIDS_TAG:
            for fwid_tag, fwid in _children(value):
                digest = _fwid(fwid_tag, fwid)
                if digest is None:
                    raise ValueError("an FWID is not SEQUENCE { OBJECT IDENTIFIER, OCTET STRING }")
                digests.append(digest)
        else:
            digest = _fwid(child_tag, value)  # the composite-identity shape
            if digest is not None:
                digests.append(digest)
    return digests


def _fwid(tag: int, value: bytes) -> bytes | None:
    """The digest of an FWID element, or None when the element is not one."""
    if tag != SEQUENCE:
        return None
    parts = _children(value)
    if len(parts) != 2 or parts[0][0] != OID or parts[1][0] != OCTET_STRING:
        return None
    return parts[1][1]
