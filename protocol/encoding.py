"""Strict decoding of the bytes that arrive on the wire, and canonical encoding.

Everything that is signed or hashed must mean exactly one thing, so the decoders
here refuse the leniencies of the standard library (duplicate JSON members,
NaN, whitespace in base64, non-canonical base64 tails) instead of guessing.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import math
from typing import Any

import rfc8785

from protocol.errors import ProtocolError

_STD_ONLY = frozenset(b"+/")
_URL_ONLY = frozenset(b"-_")
_URL_TO_STD = bytes.maketrans(b"-_", b"+/")
_B64_VALUE = {c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def b64decode_any(s: str, code: str = "malformed_envelope", what: str = "value") -> bytes:
    """Decode standard or URL-safe base64, padded or not (ATTESTATION.md section 2).

    Refused: anything but a str, characters outside the alphabet (whitespace
    included), a mix of both alphabets, wrong padding, and non-zero unused bits
    in the last character. The last rule makes the decoding injective, so two
    different strings never carry the same signature into the log.
    """
    if not isinstance(s, str):
        raise ProtocolError(code, f"{what} must be a base64 string")
    try:
        data = s.encode("ascii")
    except UnicodeEncodeError:
        raise ProtocolError(code, f"{what} is not base64 (non-ASCII character)") from None
    has_std = any(c in data for c in (43, 47))  # '+', '/'
    has_url = any(c in data for c in (45, 95))  # '-', '_'
    if has_std and has_url:
        raise ProtocolError(code, f"{what} mixes standard and URL-safe base64 alphabets")
    if has_url:
        data = data.translate(_URL_TO_STD)
    body = data.rstrip(b"=")
    pad = len(data) - len(body)
    rem = len(body) % 4
    if rem == 1 or pad > 2 or (pad and (len(data) % 4 or pad != (4 - rem) % 4)):
        raise ProtocolError(code, f"{what} is not base64 (bad length or padding)")
    if not pad and rem:
        data = body + b"=" * (4 - rem)
    try:
        out = binascii.a2b_base64(data, strict_mode=True)
    except binascii.Error:
        raise ProtocolError(code, f"{what} is not base64 (character outside the alphabet)") from None
    # A tail of 2 or 3 characters carries 4 or 2 unused bits that must be zero.
    if rem:
        last = _B64_VALUE[body[-1]]
        if last & (0x0F if rem == 2 else 0x03):
            raise ProtocolError(code, f"{what} is not canonical base64 (non-zero trailing bits)")
    return out


def b64encode(b: bytes) -> str:
    """Standard, padded base64: the one form this registry emits."""
    return binascii.b2a_base64(b, newline=False).decode("ascii")


def b64decode_std(s: str, code: str, what: str = "value") -> bytes:
    """Decode only standard, padded, canonical base64 (signed notes use no other)."""
    if not isinstance(s, str) or len(s) % 4 or "-" in s or "_" in s:
        raise ProtocolError(code, f"{what} is not standard padded base64")
    return b64decode_any(s, code, what)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number this registry accepts")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is not finite")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate member name {key[:80]!r}")
            seen.add(key)
    return obj


def _has_lone_surrogate(obj: Any) -> bool:
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def strict_json_loads(data: bytes | str, code: str = "malformed_statement", require_object: bool = True) -> Any:
    """Parse JSON refusing everything that could make two readers disagree.

    Refused: bytes that are not UTF-8 (a BOM included), duplicate member names
    at any depth, NaN/Infinity, numbers that overflow a double (1e999), escaped
    lone surrogates (they cannot be re-encoded as UTF-8, so JCS could not hash
    them), integers too long to parse, nesting too deep to parse, and, unless
    `require_object` is false, a top level that is not an object.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(code, f"not UTF-8 (byte {exc.start})") from None
    elif isinstance(data, str):
        text = data
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ProtocolError(code, "text contains an unpaired surrogate") from None
    else:
        raise TypeError("strict_json_loads expects bytes or str")
    try:
        obj = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except RecursionError:
        raise ProtocolError(code, "JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError is a ValueError, as are the hooks' refusals
        raise ProtocolError(code, f"invalid JSON: {exc}") from None
    if require_object and not isinstance(obj, dict):
        raise ProtocolError(code, "the top level must be a JSON object")
    # Only JSON escapes can produce surrogates; the scan is skipped otherwise.
    if ("\\ud" in text or "\\uD" in text) and _has_lone_surrogate(obj):
        raise ProtocolError(code, "string contains an unpaired UTF-16 surrogate")
    return obj


def jcs(obj: Any) -> bytes:
    """RFC 8785 canonical JSON: the only serialisation that is hashed or signed here."""
    return rfc8785.dumps(obj)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
