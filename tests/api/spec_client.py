"""An outside client of chipreg, written from docs/spec/*.md and the README's API section alone.

It imports nothing from chipreg (only `cryptography` and the standard library): the
canonical JSON, PAE, DSSE envelope, key ids, the RFC 9162 Merkle verifiers and the
signed-note checkpoint checks are written here from the spec text, so a test that
passes through this client and the server shows that they agree on the wire.
"""

import base64
import hashlib
import math
import re
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

STATEMENT_TYPE = "application/vnd.chipreg.statement+json"


# --- ATTESTATION.md section 3: RFC 8785 (JCS) -------------------------------


def _jcs_number(x):
    if isinstance(x, bool):
        raise TypeError("booleans are not numbers")
    if isinstance(x, int):
        x = float(x) if abs(x) >= 2**53 else x
        if isinstance(x, int):
            return str(x)
    if not math.isfinite(x):
        raise ValueError("JCS has no NaN or Infinity")
    if x == 0:
        return "0"
    if x.is_integer() and abs(x) < 1e21:
        return str(int(x))
    # ECMAScript Number.prototype.toString: shortest round trip, exponent without leading zeros.
    text = repr(x)
    mantissa, _, exponent = text.partition("e")
    if not exponent:
        return text
    exp = int(exponent)
    if -7 < exp < 21:  # ES writes these positionally
        digits = mantissa.replace(".", "").lstrip("-")
        point = (mantissa.lstrip("-").find(".") if "." in mantissa else len(mantissa.lstrip("-"))) + exp
        sign = "-" if x < 0 else ""
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        return f"{sign}{digits[:point]}.{digits[point:]}".rstrip(".")
    return f"{mantissa}e{'+' if exp > 0 else '-'}{abs(exp)}"


def _jcs_string(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif o < 0x20:
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _jcs(value):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return _jcs_number(value)
    if isinstance(value, str):
        return _jcs_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_jcs(v) for v in value) + "]"
    if isinstance(value, dict):
        # Members sorted by their names' UTF-16 code units.
        items = sorted(value.items(), key=lambda kv: kv[0].encode("utf-16-be"))
        return "{" + ",".join(_jcs_string(k) + ":" + _jcs(v) for k, v in items) + "}"
    raise TypeError(type(value))


def jcs(value) -> bytes:
    return _jcs(value).encode("utf-8")


# --- ATTESTATION.md sections 1 and 2 ----------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64url_nopad(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64decode_any(text: str) -> bytes:
    """Standard or URL-safe, with or without padding."""
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def spki_der(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_pem(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def keyid(private_key) -> str:
    return hashlib.sha256(spki_der(private_key.public_key())).hexdigest()


def pae(payload_type: str, body: bytes) -> bytes:
    t = payload_type.encode("utf-8")
    return b"DSSEv1 " + str(len(t)).encode() + b" " + t + b" " + str(len(body)).encode() + b" " + body


def sign(private_key, message: bytes) -> bytes:
    """Ed25519: 64 raw bytes; ECDSA P-256/SHA-256 and P-384/SHA-384: DER ECDSA-Sig-Value."""
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(message)
    digest = {"secp256r1": hashes.SHA256(), "secp384r1": hashes.SHA384()}[private_key.curve.name]
    return private_key.sign(message, ec.ECDSA(digest))


def verify(public_key, signature: bytes, message: bytes) -> bool:
    try:
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, message)
        else:
            digest = {"secp256r1": hashes.SHA256(), "secp384r1": hashes.SHA384()}[public_key.curve.name]
            public_key.verify(signature, message, ec.ECDSA(digest))
        return True
    except InvalidSignature:
        return False


def envelope(statement, *private_keys, payload_type=STATEMENT_TYPE, body=None, encode=b64):
    """A DSSE envelope of `statement` (JCS bytes unless `body` is given), signed by every key."""
    body = jcs(statement) if body is None else body
    message = pae(payload_type, body)
    return {
        "payloadType": payload_type,
        "payload": encode(body),
        "signatures": [{"keyid": keyid(k), "sig": encode(sign(k, message))} for k in private_keys],
    }


def statement_sha256(env) -> str:
    return hashlib.sha256(pae(env["payloadType"], b64decode_any(env["payload"]))).hexdigest()


def nonce(n=16) -> str:
    return secrets.token_hex(n)


# --- LOG.md section 2: leaves -----------------------------------------------


def attestation_leaf(env) -> bytes:
    return jcs(
        {"signatures": env["signatures"], "statement_sha256": statement_sha256(env), "type": "attestation", "v": 1}
    )


# --- LOG.md section 1: RFC 9162 ----------------------------------------------


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root(hashes_):
    """MTH over leaf hashes."""
    if not hashes_:
        return hashlib.sha256(b"").digest()
    if len(hashes_) == 1:
        return hashes_[0]
    k = _split(len(hashes_))
    return node_hash(root(hashes_[:k]), root(hashes_[k:]))


def inclusion_path(m, hashes_):
    """RFC 9162 2.1.3.1 PATH(m, D[n]), leaf upward."""
    n = len(hashes_)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*inclusion_path(m, hashes_[:k]), root(hashes_[k:])]
    return [*inclusion_path(m - k, hashes_[k:]), root(hashes_[:k])]


def consistency_path(m, hashes_):
    """RFC 9162 2.1.4.1 PROOF(m, D[n])."""

    def subproof(m, d, b):
        n = len(d)
        if m == n:
            return [] if b else [root(d)]
        k = _split(n)
        if m <= k:
            return [*subproof(m, d[:k], b), root(d[k:])]
        return [*subproof(m - k, d[k:], False), root(d[:k])]

    return subproof(m, hashes_, True)


def verify_inclusion(index, size, leaf_h, path, expected_root) -> bool:
    """RFC 9162 2.1.3.2, with the exact proof length."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_h
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while (fn & 1) == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(first, second, first_root, second_root, path) -> bool:
    """RFC 9162 2.1.4.2."""
    if first > second:
        return False
    if first == second:
        return not path and first_root == second_root
    if first == 0:
        return not path  # the empty tree is consistent with every tree
    if not path:
        return False
    if first & (first - 1) == 0:  # a power of two: prepend first_root
        path = [first_root, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while (fn & 1) == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


# --- LOG.md section 3: checkpoints (C2SP signed note) ------------------------


def note_key_hash(name: str, public_raw: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\x0a" + b"\x01" + public_raw).digest()[:4]


def verifier_key_line(name: str, public_key: ed25519.Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    encoded = b64(bytes([1]) + raw)
    return f"{name}+{note_key_hash(name, raw).hex()}+{encoded}"


@dataclass
class VerifierKey:
    name: str
    key_hash: bytes
    public: ed25519.Ed25519PublicKey


def parse_verifier_key(line: str) -> VerifierKey:
    name, hash_hex, key_b64 = line.strip().split("+", 2)  # the base64 key may itself hold "+"
    raw = base64.b64decode(key_b64, validate=True)
    assert raw[0] == 1 and len(raw) == 33, "algorithm byte 0x01 then a 32-byte Ed25519 key"
    assert len(hash_hex) == 8 and note_key_hash(name, raw[1:]).hex() == hash_hex
    return VerifierKey(name, bytes.fromhex(hash_hex), ed25519.Ed25519PublicKey.from_public_bytes(raw[1:]))


@dataclass
class Checkpoint:
    origin: str
    size: int
    root: bytes
    other_signatures: list


def sign_checkpoint(private_key, origin, size, root_hash) -> str:
    body = f"{origin}\n{size}\n{b64(root_hash)}\n"
    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    sig = note_key_hash(origin, raw) + private_key.sign(body.encode())
    return f"{body}\n\u2014 {origin} {b64(sig)}\n"


def verify_checkpoint(text: str, key: VerifierKey) -> Checkpoint:
    """Raises AssertionError unless `text` is a checkpoint signed by `key`, exactly as LOG.md 3 says."""
    body, sep, sigs = text.partition("\n\n")
    assert sep, "a blank line separates the body from the signatures"
    lines = body.split("\n")
    assert len(lines) == 3, "origin, size, root: three lines"
    origin, size_text, root_b64 = lines
    assert re.fullmatch(r"0|[1-9][0-9]*", size_text), "tree size in decimal"
    assert origin == key.name, "the key name equals the origin"
    root_hash = base64.b64decode(root_b64, validate=True)
    assert len(root_hash) == 32
    message = (body + "\n").encode("utf-8")
    assert sigs.endswith("\n"), "each signature line ends with a newline"
    ours, others = False, []
    for line in sigs[:-1].split("\n"):
        assert line.startswith("\u2014 "), "an em dash and one space"
        name, _, sig_b64 = line[2:].rpartition(" ")
        sig = base64.b64decode(sig_b64, validate=True)
        if name == key.name and sig[:4] == key.key_hash:
            assert len(sig) == 68, "4-byte key hash and 64-byte Ed25519 signature"
            key.public.verify(sig[4:], message)
            ours = True
        else:
            others.append(line)
    assert ours, "no signature by the log's key"
    return Checkpoint(origin, int(size_text), root_hash, others)
