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
    obj = _strict_loads(text, code)
    if require_object and not isinstance(obj, dict):
        raise ProtocolError(code, "the top level must be a JSON object")
    # Only JSON escapes can produce surrogates; the scan is skipped otherwise.
    if ("\\ud" in text or "\\uD" in text) and _has_lone_surrogate(obj):
        raise ProtocolError(code, "string contains an unpaired UTF-16 surrogate")
    return obj


def _strict_loads(text: str, code: str, parse_int=None) -> Any:
    """json.loads refusing duplicate members, NaN and Infinity, and non-finite floats; each refusal a
    ProtocolError with `code`."""
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            parse_int=parse_int,
        )
    except RecursionError:
        raise ProtocolError(code, "JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError is a ValueError, as are the hooks' refusals
        raise ProtocolError(code, f"invalid JSON: {exc}") from None


def jcs(obj: Any) -> bytes:
    """RFC 8785 canonical JSON: the only serialisation that is hashed or signed here."""
    return rfc8785.dumps(obj)


# RFC 8785 section 3.2.2.3: JSON numbers are IEEE 754 doubles; an integer is
# exact only up to 2**53 - 1 in magnitude (`rfc8785` refuses Python ints beyond).
MAX_SAFE_INTEGER = 2**53 - 1


def _ijson_int(text: str) -> int | float:
    """An integer literal as a JCS reader sees it: a double once beyond the safe range.

    JCS writes the double 1e20 as `100000000000000000000`; read back as a
    Python int it could not be written again, so the bytes it came from would
    look non-canonical. Read as the double it is, it writes the same bytes.
    """
    if len(text) > 400:  # a double tops out near 1.8e308; longer literals are refused, not guessed
        raise ValueError(f"integer literal of {len(text)} digits is not a JSON number this registry accepts")
    value = int(text)
    return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else float(value)


def jcs_loads(data: bytes | str, code: str = "malformed_json") -> Any:
    """Parse JSON with the number model of RFC 8785 (doubles), strictly; the inverse of `jcs`.

    For any value v that `jcs_value` accepts, jcs(jcs_loads(jcs(v))) == jcs(v).
    """
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray, memoryview)) else data
    return _strict_loads(text, code, parse_int=_ijson_int)


def is_jcs(data: bytes) -> bool:
    """Whether `data` is exactly the RFC 8785 serialisation of the JSON value it encodes."""
    try:
        return jcs(jcs_loads(bytes(data))) == bytes(data)
    except (ProtocolError, UnicodeDecodeError, ValueError, TypeError):
        return False


def jcs_value(obj: Any, _path: str = "$") -> Any:
    """`obj` as the JSON value JCS can write exactly, for data that is logged.

    Integers beyond 2**53 - 1 are doubles in JSON: one that a double holds
    exactly (10**20, a float's value read back as an int) becomes that double,
    which writes the same digits; one it cannot hold would be silently rounded
    by every JSON reader, so it is refused (send it as a string). Floats must
    be finite. Tuples become lists; every key must be a string.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        if -MAX_SAFE_INTEGER <= obj <= MAX_SAFE_INTEGER:
            return obj
        as_float = float(obj) if abs(obj) < 2**1024 else math.inf
        if math.isfinite(as_float) and int(as_float) == obj:
            return as_float
        raise ValueError(f"{_path}: integer {obj} is not exact as a JSON number (a double); log it as a string")
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"{_path}: {obj} is not a JSON number")
        return obj
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise ValueError(f"{_path}: member name {key!r} is not a string")
            out[key] = jcs_value(value, f"{_path}.{key}")
        return out
    if isinstance(obj, (list, tuple)):
        return [jcs_value(item, f"{_path}[{i}]") for i, item in enumerate(obj)]
    raise ValueError(f"{_path}: {type(obj).__name__} is not a JSON value")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
