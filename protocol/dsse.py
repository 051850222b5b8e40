"""DSSE envelopes and signing keys (ATTESTATION.md sections 1 and 2).

The registry verifies the payload bytes exactly as sent and never re-serialises
them, so everything here works on bytes: PAE is built from the decoded payload,
signatures are checked over PAE, and the statement is parsed only afterwards
(statements.py), once every signature has verified.

Decisions where the spec is silent (documented for signers in the error detail):
- unknown members in the envelope or in a signature object are refused
  (`malformed_envelope`), as unknown statement members are: a signer must never
  believe a field was honoured, and the signature objects go verbatim into the
  log leaf, so they carry only `keyid` and `sig`;
- at most MAX_SIGNATURES signatures, each keyid listed once, keyid 1..256
  characters, signature 1..512 base64 characters: bounds that keep key lookups,
  verification work and the log leaf (64 KiB) small whatever is sent;
- a body longer than the base64 of `max_payload_bytes` plus 1 MiB is refused
  with `payload_too_large` before it is parsed, so nobody makes the server parse
  a gigabyte of JSON to learn that it was too large.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from protocol.encoding import b64decode_any, b64encode, sha256_hex, strict_json_loads
from protocol.errors import ProtocolError
from protocol.note import is_strong_ed25519_key

PAYLOAD_TYPE = "application/vnd.chipreg.statement+json"
MAX_SIGNATURES = 16
MAX_KEYID_CHARS = 256
MAX_SIG_B64_CHARS = 512
BODY_SLACK_BYTES = 1 << 20

ALGORITHMS = ("ed25519", "ecdsa-p256", "ecdsa-p384")
_ENVELOPE_KEYS = frozenset({"payloadType", "payload", "signatures"})
_SIGNATURE_KEYS = frozenset({"keyid", "sig"})


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSEv1 pre-authentication encoding: what every signature covers."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


# --- keys --------------------------------------------------------------------------


def _unsupported(detail: str) -> ProtocolError:
    return ProtocolError(
        "unsupported_key", f"{detail}; accepted: Ed25519, ECDSA P-256 or P-384 as a PEM SubjectPublicKeyInfo"
    )


@dataclass(frozen=True)
class PublicKey:
    """A registered signing key in one of the three accepted algorithms."""

    algorithm: str
    keyid: str  # lowercase hex SHA-256 of the DER SubjectPublicKeyInfo
    pem: str  # canonical PEM, re-serialised (so e.g. compressed EC points are expanded)
    key: Any  # the cryptography public key object

    def verify(self, sig: bytes, message: bytes) -> bool:
        try:
            if self.algorithm == "ed25519":
                self.key.verify(sig, message)
            elif self.algorithm == "ecdsa-p256":
                self.key.verify(sig, message, ec.ECDSA(hashes.SHA256()))
            else:
                self.key.verify(sig, message, ec.ECDSA(hashes.SHA384()))
        except (InvalidSignature, ValueError):
            return False
        return True


def _algorithm_of(key: object) -> str:
    if isinstance(key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey)):
        return "ed25519"
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        if isinstance(key.curve, ec.SECP256R1):
            return "ecdsa-p256"
        if isinstance(key.curve, ec.SECP384R1):
            return "ecdsa-p384"
        raise _unsupported(f"curve {key.curve.name} is not accepted")
    raise _unsupported(f"{type(key).__name__} keys are not accepted")


def public_key_from_object(key: object) -> PublicKey:
    """Wrap a cryptography public key (raises unsupported_key for other types)."""
    algorithm = _algorithm_of(key)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined]
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined]
    return PublicKey(algorithm, hashlib.sha256(der).hexdigest(), pem.decode("ascii"), key)


def load_public_key(pem: str | bytes) -> PublicKey:
    """Load a PEM SubjectPublicKeyInfo; anything unusable is `unsupported_key`.

    The keyid is computed over the canonical DER re-serialisation, so the same
    key always has the same id however its point was encoded on submission.
    """
    if isinstance(pem, str):
        try:
            pem = pem.encode("ascii")
        except UnicodeEncodeError:
            raise _unsupported("the key is not ASCII PEM") from None
    if not isinstance(pem, (bytes, bytearray)):
        raise _unsupported("the key must be PEM text")
    try:
        key = serialization.load_pem_public_key(bytes(pem))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise _unsupported(f"not a usable PEM public key ({type(exc).__name__})") from None
    if isinstance(key, ed25519.Ed25519PublicKey) and not is_strong_ed25519_key(
        key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ):
        # A small-order point "verifies" signatures anyone can make: its holder could disown what it signed.
        raise _unsupported("an Ed25519 key of small order (or a non-canonical point) binds no one")
    return public_key_from_object(key)


def sign(private_key: object, message: bytes) -> bytes:
    """Sign with an Ed25519 (raw 64 bytes) or ECDSA P-256/P-384 (DER) private key."""
    algorithm = _algorithm_of(private_key)
    if algorithm == "ed25519":
        return private_key.sign(message)  # type: ignore[attr-defined]
    digest = hashes.SHA256() if algorithm == "ecdsa-p256" else hashes.SHA384()
    return private_key.sign(message, ec.ECDSA(digest))  # type: ignore[attr-defined]


def keyid_of(key: object) -> str:
    """keyid of a public or private key object."""
    if isinstance(key, (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        key = key.public_key()
    return public_key_from_object(key).keyid


# --- envelopes ---------------------------------------------------------------------


class EnvelopeSignature(NamedTuple):
    keyid: str
    sig: bytes
    sig_b64: str  # as sent


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: list[EnvelopeSignature]
    raw_signatures: list[dict[str, str]]  # verbatim, in order: they go into the log leaf

    @property
    def pae(self) -> bytes:
        return pae(self.payload_type, self.payload)


def max_body_bytes(max_payload_bytes: int) -> int:
    """The largest request body that can carry a payload of the allowed size."""
    return 4 * ((max_payload_bytes + 2) // 3) + BODY_SLACK_BYTES


def _malformed(detail: str) -> ProtocolError:
    return ProtocolError("malformed_envelope", detail)


def parse_envelope(body: bytes, max_payload_bytes: int) -> Envelope:
    """Check 1 of ATTESTATION.md section 2: shape and base64, then size."""
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError("body must be bytes")
    if len(body) > max_body_bytes(max_payload_bytes):
        raise ProtocolError(
            "payload_too_large", f"request body is {len(body)} bytes; the payload limit is {max_payload_bytes} bytes"
        )
    obj = strict_json_loads(bytes(body), code="malformed_envelope")
    missing = _ENVELOPE_KEYS - obj.keys()
    if missing:
        raise _malformed(f"missing member(s): {', '.join(sorted(missing))}")
    unknown = obj.keys() - _ENVELOPE_KEYS
    if unknown:
        raise _malformed(f"unknown member(s): {', '.join(sorted(unknown))[:200]}")
    payload_type, payload_b64, sigs = obj["payloadType"], obj["payload"], obj["signatures"]
    if not isinstance(payload_type, str):
        raise _malformed("payloadType must be a string")
    if not isinstance(payload_b64, str):
        raise _malformed("payload must be a base64 string")
    if not isinstance(sigs, list) or not sigs:
        raise _malformed("signatures must be a non-empty array")
    if len(sigs) > MAX_SIGNATURES:
        raise _malformed(f"at most {MAX_SIGNATURES} signatures")
    parsed: list[EnvelopeSignature] = []
    seen: set[str] = set()
    for i, entry in enumerate(sigs):
        if not isinstance(entry, dict):
            raise _malformed(f"signatures[{i}] must be an object")
        if entry.keys() != _SIGNATURE_KEYS:
            raise _malformed(f"signatures[{i}] must have exactly the members keyid and sig")
        keyid, sig_b64 = entry["keyid"], entry["sig"]
        if not isinstance(keyid, str) or not 0 < len(keyid) <= MAX_KEYID_CHARS:
            raise _malformed(f"signatures[{i}].keyid must be a string of 1 to {MAX_KEYID_CHARS} characters")
        if keyid in seen:
            raise _malformed(f"signatures[{i}].keyid lists a key a second time")
        seen.add(keyid)
        if not isinstance(sig_b64, str) or not 0 < len(sig_b64) <= MAX_SIG_B64_CHARS:
            raise _malformed(f"signatures[{i}].sig must be base64 of 1 to {MAX_SIG_B64_CHARS} characters")
        sig = b64decode_any(sig_b64, "malformed_envelope", f"signatures[{i}].sig")
        parsed.append(EnvelopeSignature(keyid, sig, sig_b64))
    payload = b64decode_any(payload_b64, "malformed_envelope", "payload")
    if len(payload) > max_payload_bytes:
        raise ProtocolError(
            "payload_too_large", f"payload is {len(payload)} bytes; the limit is {max_payload_bytes} bytes"
        )
    return Envelope(payload_type, payload, parsed, list(sigs))


def check_payload_type(envelope: Envelope) -> None:
    """Check 2: only chipreg statements are accepted."""
    if envelope.payload_type != PAYLOAD_TYPE:
        raise ProtocolError(
            "unsupported_payload_type", f"payloadType must be {PAYLOAD_TYPE!r}, got {envelope.payload_type[:100]!r}"
        )


def verify_signatures(envelope: Envelope, lookup_key: Callable[[str], PublicKey | None]) -> list[PublicKey]:
    """Check 3: every listed signature verifies over PAE against its registered key.

    All keyids are resolved first, so an unknown key is reported as
    `unknown_key` whatever the order of the signatures; then one signature that
    fails rejects the whole envelope with `bad_signature`. Returns the keys in
    signature order. Validity at issued_at and authorisation come later (check 5).
    """
    keys: list[PublicKey] = []
    for i, s in enumerate(envelope.signatures):
        key = lookup_key(s.keyid)
        if key is None:
            raise ProtocolError("unknown_key", f"signatures[{i}]: no registered key with keyid {s.keyid[:80]!r}")
        keys.append(key)
    message = envelope.pae
    for i, (s, key) in enumerate(zip(envelope.signatures, keys, strict=True)):
        if not key.verify(s.sig, message):
            raise ProtocolError("bad_signature", f"signatures[{i}] does not verify with key {key.keyid}")
    return keys


def statement_sha256(envelope: Envelope) -> str:
    """Hex SHA-256 of the PAE bytes: the statement's identity in answers and the log."""
    return sha256_hex(envelope.pae)


def make_envelope(
    statement_bytes: bytes,
    signers: Sequence[tuple[object, str | None]],
    payload_type: str = PAYLOAD_TYPE,
) -> dict[str, Any]:
    """Build an envelope for signing clients; a None keyid is computed from the key."""
    message = pae(payload_type, statement_bytes)
    signatures = []
    for private_key, keyid in signers:
        if keyid is None:
            keyid = keyid_of(private_key)
        signatures.append({"keyid": keyid, "sig": b64encode(sign(private_key, message))})
    return {"payloadType": payload_type, "payload": b64encode(statement_bytes), "signatures": signatures}
