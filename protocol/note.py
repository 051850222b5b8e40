"""Signed checkpoints and witness cosignatures (LOG.md section 3).

Formats are C2SP's, byte for byte, so that Go's `golang.org/x/mod/sumdb/note`,
the transparency-dev witnesses and any other off-the-shelf verifier read them:

- signed-note: text, a blank line, then lines `— <name> <base64(keyhash||sig)>`;
  Ed25519 key hash = SHA-256(name || 0x0A || 0x01 || pubkey)[:4];
- tlog-checkpoint: the text is `<origin>\\n<size>\\n<base64 root>\\n` plus optional
  non-empty extension lines;
- tlog-cosignature (Ed25519, type 0x04): the witness signs
  `cosignature/v1\\ntime <t>\\n` + the whole note text, and its signature is
  keyhash(4) || t as uint64 big-endian (8) || Ed25519 signature (64).

Parsing is strict, because a lenient parser can be shown a note that a strict
verifier elsewhere would read differently.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocol.encoding import b64decode_std, b64encode
from protocol.errors import ProtocolError

SIG_TYPE_ED25519 = 0x01
SIG_TYPE_COSIGNATURE_V1 = 0x04
EM_DASH_PREFIX = "\u2014 "
# signed-note: verifiers MUST accept at least 16 signatures and SHOULD cap them.
MAX_SIGNATURES = 64
MAX_NOTE_BYTES = 1 << 20
_U64_MAX = (1 << 64) - 1
_U63_MAX = (1 << 63) - 1

_SIZE_RE = re.compile(r"0|[1-9][0-9]{0,19}")
_HEX8_RE = re.compile(r"[0-9a-f]{8}")


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_hash: bytes  # 4 bytes
    public_key: Ed25519PublicKey
    sig_type: int = SIG_TYPE_ED25519

    @property
    def public_key_raw(self) -> bytes:
        return self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    signatures: list[tuple[str, bytes, bytes]] = field(default_factory=list)  # (name, key hash, signature)
    body: bytes = b""  # the signed note text: the three lines, extensions, final newline
    extensions: tuple[str, ...] = ()


def _err(detail: str, code: str = "invalid_checkpoint") -> ProtocolError:
    return ProtocolError(code, detail)


def _raw_public(pubkey: bytes | Ed25519PublicKey) -> bytes:
    if isinstance(pubkey, Ed25519PublicKey):
        return pubkey.public_bytes(Encoding.Raw, PublicFormat.Raw)
    if isinstance(pubkey, (bytes, bytearray)) and len(pubkey) == 32:
        return bytes(pubkey)
    raise TypeError("public key must be an Ed25519PublicKey or 32 raw bytes")


_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _edwards_add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    # Complete addition on -x^2 + y^2 = 1 + d x^2 y^2 (d is not a square: no exceptions).
    (x1, y1), (x2, y2) = a, b
    t = _D * x1 * x2 * y1 * y2 % _P
    x3 = (x1 * y2 + y1 * x2) * pow(1 + t, _P - 2, _P) % _P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, _P - 2, _P) % _P
    return x3, y3


def is_strong_ed25519_key(raw: bytes) -> bool:
    """Whether 32 bytes are the canonical encoding of an Ed25519 point of large order.

    A small-order key (the identity, or any point of order 2, 4 or 8) verifies forged
    signatures: with R the identity and S = 0, [S]B = R + [k]A holds for every (or every
    eighth) message. Such a key signs nothing anyone can hold its owner to, so a log or a
    witness key must not be one. Non-canonical encodings and points off the curve are refused too.
    """
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != 32:
        return False
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    sign = raw[31] >> 7
    if y >= _P:
        return False
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return False  # not on the curve
    if x == 0 and sign:
        return False  # non-canonical: -0
    if x & 1 != sign:
        x = _P - x
    point = (x, y)
    for _ in range(3):  # [8]A: the identity exactly when A's order divides 8
        point = _edwards_add(point, point)
    return point != (0, 1)


def _valid_key_name(name: object) -> bool:
    # Non-empty, no Unicode space, no '+', and (as all note text) no control character.
    return (
        isinstance(name, str)
        and name != ""
        and "+" not in name
        and not any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in name)
    )


def _check_key_name(name: object) -> str:
    if not _valid_key_name(name):
        raise ValueError(f"invalid note key name {name!r}")
    return name  # type: ignore[return-value]


def key_hash(name: str, pubkey: bytes | Ed25519PublicKey, sig_type: int = SIG_TYPE_ED25519) -> bytes:
    """First 4 bytes of SHA-256(name || 0x0A || type || public key)."""
    raw = _raw_public(pubkey)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + raw).digest()[:4]


def _key_line(name: str, pubkey: bytes | Ed25519PublicKey, sig_type: int) -> str:
    _check_key_name(name)
    raw = _raw_public(pubkey)
    return f"{name}+{key_hash(name, raw, sig_type).hex()}+{b64encode(bytes([sig_type]) + raw)}"


def verifier_key_line(name: str, pubkey: bytes | Ed25519PublicKey) -> str:
    """`<name>+<8 hex key hash>+<base64(0x01 || pubkey)>`, as Go's note.NewVerifier reads."""
    return _key_line(name, pubkey, SIG_TYPE_ED25519)


def cosigner_key_line(name: str, pubkey: bytes | Ed25519PublicKey) -> str:
    """A witness's vkey: as verifier_key_line but with type 0x04 (tlog-cosignature)."""
    return _key_line(name, pubkey, SIG_TYPE_COSIGNATURE_V1)


def _parse_key_line(line: str, sig_type: int, code: str) -> VerifierKey:
    if not isinstance(line, str):
        raise _err("key line must be a string", code)
    # Only the first two '+' separate: the base64 key may itself contain '+'.
    parts = line.split("+", 2)
    if len(parts) != 3:
        raise _err("key line must be <name>+<hash>+<key>", code)
    name, hash_hex, key_b64 = parts
    if not _valid_key_name(name):
        raise _err("invalid key name", code)
    if not _HEX8_RE.fullmatch(hash_hex):
        raise _err("key hash must be 8 lowercase hex digits", code)
    blob = b64decode_std(key_b64, code, "key")
    if len(blob) != 33 or blob[0] != sig_type:
        raise _err(f"key must be 0x{sig_type:02x} followed by a 32-byte Ed25519 key", code)
    raw = blob[1:]
    expected = key_hash(name, raw, sig_type)
    if expected.hex() != hash_hex:
        raise _err("key hash does not match name and key", code)
    if not is_strong_ed25519_key(raw):
        raise _err("not an Ed25519 public key of large order (canonical, on the curve)", code)
    try:
        public_key = Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise _err("not an Ed25519 public key", code) from None
    return VerifierKey(name, expected, public_key, sig_type)


def parse_verifier_key(line: str) -> VerifierKey:
    """Parse and check a log verifier key line (type 0x01); raise invalid_checkpoint."""
    return _parse_key_line(line, SIG_TYPE_ED25519, "invalid_checkpoint")


def parse_cosigner_key(line: str) -> VerifierKey:
    """Parse and check a witness vkey (type 0x04); raise invalid_cosignature."""
    return _parse_key_line(line, SIG_TYPE_COSIGNATURE_V1, "invalid_cosignature")


def _check_origin(origin: object) -> str:
    # The log's key name equals the origin (LOG.md), so the origin obeys key-name rules.
    if not _valid_key_name(origin):
        raise ValueError(f"invalid origin {origin!r}")
    return origin  # type: ignore[return-value]


def checkpoint_body(origin: str, size: int, root: bytes, extensions: tuple[str, ...] | list[str] = ()) -> bytes:
    """The signed note text: origin, size, base64 root, each ending in a newline."""
    _check_origin(origin)
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= _U64_MAX:
        raise ValueError("size must be an int in [0, 2**64)")
    if not isinstance(root, (bytes, bytearray)) or len(root) != 32:
        raise ValueError("root must be 32 bytes")
    lines = [origin, str(size), b64encode(bytes(root))]
    for ext in extensions:
        if not isinstance(ext, str) or not ext or "\n" in ext or any(ord(c) < 0x20 for c in ext):
            raise ValueError("extension lines must be non-empty single lines without control characters")
        lines.append(ext)
    return "".join(line + "\n" for line in lines).encode("utf-8")


def _signature_line(name: str, blob: bytes) -> str:
    return f"{EM_DASH_PREFIX}{name} {b64encode(blob)}\n"


def sign_note(private_key: Ed25519PrivateKey, name: str, text: bytes) -> str:
    """An Ed25519 (type 0x01) signature line for a note text."""
    _check_key_name(name)
    sig = private_key.sign(text)
    return _signature_line(name, key_hash(name, private_key.public_key()) + sig)


def sign_checkpoint(
    private_key: Ed25519PrivateKey, origin: str, size: int, root: bytes, extensions: tuple[str, ...] = ()
) -> str:
    """The complete signed checkpoint; the key name is the origin (LOG.md section 3)."""
    body = checkpoint_body(origin, size, root, extensions)
    return body.decode("utf-8") + "\n" + sign_note(private_key, origin, body)


def _split_note(text: str | bytes, code: str) -> tuple[bytes, list[str]]:
    """(note text bytes, signature lines without their newlines), checking signed-note syntax."""
    if isinstance(text, (bytes, bytearray)):
        raw = bytes(text)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _err("note is not UTF-8", code) from None
    elif isinstance(text, str):
        try:
            raw = text.encode("utf-8")
        except UnicodeEncodeError:
            raise _err("note is not encodable as UTF-8", code) from None
    else:
        raise TypeError("note must be str or bytes")
    if len(raw) > MAX_NOTE_BYTES:
        raise _err("note too large", code)
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise _err("note contains a control character", code)
    if not text.endswith("\n"):
        raise _err("note must end with a newline", code)
    sep = text.rfind("\n\n")
    if sep < 0:
        raise _err("note has no blank line before its signatures", code)
    body, sig_block = text[: sep + 1], text[sep + 2 :]
    lines = sig_block[:-1].split("\n") if sig_block else []
    if not lines:
        raise _err("note has no signature", code)
    if len(lines) > MAX_SIGNATURES:
        raise _err(f"note has more than {MAX_SIGNATURES} signatures", code)
    return body.encode("utf-8"), lines


def _parse_signature_line(line: str, code: str) -> tuple[str, bytes, bytes]:
    if not line.startswith(EM_DASH_PREFIX):
        raise _err("signature line must start with an em dash and a space", code)
    rest = line[len(EM_DASH_PREFIX) :]
    parts = rest.split(" ")
    if len(parts) != 2 or not _valid_key_name(parts[0]):
        raise _err("signature line must be '— <name> <base64>'", code)
    blob = b64decode_std(parts[1], code, "signature")
    if len(blob) < 5:
        raise _err("signature too short", code)
    return parts[0], blob[:4], blob[4:]


def parse_signature_lines(
    text: str | bytes, code: str = "invalid_checkpoint"
) -> tuple[bytes, list[tuple[str, bytes, bytes]]]:
    """Split any signed note into (text bytes, [(name, key hash, signature)])."""
    body, lines = _split_note(text, code)
    return body, [_parse_signature_line(line, code) for line in lines]


def parse_checkpoint(text: str | bytes) -> Checkpoint:
    """Parse a signed checkpoint without verifying it; raise invalid_checkpoint."""
    body, signatures = parse_signature_lines(text)
    lines = body.decode("utf-8")[:-1].split("\n")
    if len(lines) < 3:
        raise _err("checkpoint needs origin, size and root lines")
    origin, size_s, root_s, *extensions = lines
    if not origin:
        raise _err("empty origin")
    if not _SIZE_RE.fullmatch(size_s) or int(size_s) > _U64_MAX:
        raise _err("tree size must be decimal without leading zeros")
    root = b64decode_std(root_s, "invalid_checkpoint", "root hash")
    if len(root) != 32:
        raise _err("root hash must be 32 bytes")
    if any(not ext for ext in extensions):
        raise _err("extension lines must not be empty")
    return Checkpoint(origin, int(size_s), root, signatures, body, tuple(extensions))


def verify_checkpoint(text: str | bytes, verifier_key: VerifierKey | str) -> Checkpoint:
    """Parse and verify a checkpoint signed by `verifier_key`; raise invalid_checkpoint.

    Per signed-note, lines of other keys (witnesses) are ignored, but every line
    that names this key (name and key hash) must verify, and one must exist.
    The origin must equal the key name, as LOG.md requires of this log.
    """
    if isinstance(verifier_key, str):
        verifier_key = parse_verifier_key(verifier_key)
    checkpoint = parse_checkpoint(text)
    if checkpoint.origin != verifier_key.name:
        raise _err("checkpoint origin does not match the log's key name")
    ours = [sig for name, kh, sig in checkpoint.signatures if name == verifier_key.name and kh == verifier_key.key_hash]
    if not ours:
        raise _err("no signature by the log's key")
    for sig in ours:
        try:
            verifier_key.public_key.verify(sig, checkpoint.body)
        except InvalidSignature:
            raise _err("the log's signature does not verify") from None
    return checkpoint


# --- witness cosignatures (tlog-cosignature, Ed25519) ---------------------------


def _cosigned_message(checkpoint_body: bytes, timestamp: int) -> bytes:
    return b"cosignature/v1\ntime %d\n" % timestamp + checkpoint_body


def _as_body(checkpoint_body: bytes | str) -> bytes:
    if isinstance(checkpoint_body, str):
        return checkpoint_body.encode("utf-8")
    if isinstance(checkpoint_body, (bytes, bytearray)):
        return bytes(checkpoint_body)
    raise TypeError("checkpoint body must be bytes or str")


def cosign(private_key: Ed25519PrivateKey, name: str, checkpoint_body: bytes | str, timestamp: int) -> str:
    """A witness's cosignature/v1 line over a note text (the whole text, extensions included)."""
    _check_key_name(name)
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or not 0 <= timestamp <= _U63_MAX:
        raise ValueError("timestamp must be an int in [0, 2**63)")
    body = _as_body(checkpoint_body)
    sig = private_key.sign(_cosigned_message(body, timestamp))
    kh = key_hash(name, private_key.public_key(), SIG_TYPE_COSIGNATURE_V1)
    return _signature_line(name, kh + struct.pack(">Q", timestamp) + sig)


def verify_cosignature(line: str, checkpoint_body: bytes | str, name: str, pubkey: bytes | Ed25519PublicKey) -> int:
    """Check one cosignature line from witness (name, pubkey); return its timestamp.

    Raises invalid_cosignature for a line of another key, a malformed line, a
    timestamp beyond 2**63 - 1 or a signature that does not verify.
    """
    code = "invalid_cosignature"
    if not isinstance(line, str):
        raise TypeError("line must be a str")
    raw = _raw_public(pubkey)
    text = line[:-1] if line.endswith("\n") else line
    if "\n" in text:
        raise _err("one signature line expected", code)
    if not is_strong_ed25519_key(raw):
        raise _err("the witness key is not an Ed25519 public key of large order", code)
    sig_name, kh, rest = _parse_signature_line(text, code)
    if sig_name != name or kh != key_hash(name, raw, SIG_TYPE_COSIGNATURE_V1):
        raise _err("cosignature is not from this witness key", code)
    if len(rest) != 8 + 64:
        raise _err("cosignature must be an 8-byte timestamp and a 64-byte signature", code)
    (timestamp,) = struct.unpack(">Q", rest[:8])
    if timestamp > _U63_MAX:
        raise _err("cosignature timestamp out of range", code)
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(
            rest[8:], _cosigned_message(_as_body(checkpoint_body), timestamp)
        )
    except InvalidSignature:
        raise _err("cosignature does not verify", code) from None
    return timestamp


def add_signature_lines(note_text: str, lines: list[str]) -> str:
    """Append signature lines (e.g. witness cosignatures) to a signed note.

    Each line must be a well-formed signature line; one already present is not
    repeated, so serving the same cosignature twice cannot grow the note.
    """
    _, existing = _split_note(note_text, "invalid_checkpoint")
    out = note_text
    present = set(existing)
    for line in lines:
        text = line[:-1] if line.endswith("\n") else line
        if "\n" in text:
            raise _err("one signature line expected")
        _parse_signature_line(text, "invalid_checkpoint")
        if text in present:
            continue
        present.add(text)
        out += text + "\n"
    _split_note(out, "invalid_checkpoint")  # re-check limits on the result
    return out
