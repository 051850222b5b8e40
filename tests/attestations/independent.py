"""An independent client of ATTESTATION.md and LOG.md, written from the spec text alone.

It imports nothing from chipreg: JSON canonicalisation, PAE, DSSE envelopes,
the RFC 9162 inclusion check and the signed-note checkpoint check are done
here again, so that a test passing through both implementations shows they
agree on the wire, not merely with themselves.
"""

import base64
import hashlib
import json
import secrets

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

STATEMENT_TYPE = "application/vnd.chipreg.statement+json"


def canonical(obj):
    """RFC 8785 for the values statements use (strings, integers, simple decimals, lists, objects)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def pae(payload_type, body):
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def keyid(private_key):
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def public_pem(private_key):
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def raw_sign(private_key, message):
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(message)
    algorithm = hashes.SHA256() if private_key.curve.name == "secp256r1" else hashes.SHA384()
    return private_key.sign(message, ec.ECDSA(algorithm))


def envelope(statement, *private_keys, payload_type=STATEMENT_TYPE, body=None):
    body = canonical(statement) if body is None else body
    message = pae(payload_type, body)
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(body).decode(),
        "signatures": [
            {"keyid": keyid(k), "sig": base64.b64encode(raw_sign(k, message)).decode()} for k in private_keys
        ],
    }


def nonce():
    return secrets.token_hex(16)


def statement_sha256(env):
    return hashlib.sha256(pae(env["payloadType"], base64.b64decode(env["payload"]))).hexdigest()


def attestation_leaf(env):
    return canonical(
        {"signatures": env["signatures"], "statement_sha256": statement_sha256(env), "type": "attestation", "v": 1}
    )


# --- LOG.md: verifying a receipt offline -----------------------------------


def _node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(index, size, leaf_bytes, proof, root):
    """RFC 9162 section 2.1.3.2, from the RFC's pseudo-code."""
    if index >= size:
        return False
    fn, sn = index, size - 1
    r = hashlib.sha256(b"\x00" + leaf_bytes).digest()
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_checkpoint(note, key_line):
    """C2SP signed note: returns (origin, size, root) if a signature by `key_line` verifies."""
    name, key_hash_hex, key_b64 = key_line.strip().split("+", 2)  # base64 may contain "+"
    key_bytes = base64.b64decode(key_b64)
    assert key_bytes[0] == 1, "an Ed25519 verifier key"
    public = ed25519.Ed25519PublicKey.from_public_bytes(key_bytes[1:])
    body, _, signatures = note.partition("\n\n")
    body += "\n"
    origin, size, root_b64 = body.splitlines()[:3]
    for line in signatures.splitlines():
        if not line.startswith("\u2014 "):
            continue
        signer, sig_b64 = line[2:].rsplit(" ", 1)
        blob = base64.b64decode(sig_b64)
        if signer == name and blob[:4].hex() == key_hash_hex:
            public.verify(blob[4:], body.encode())
            return origin, int(size), base64.b64decode(root_b64)
    raise AssertionError("no signature by the pinned key")


def verify_receipt(receipt, key_line, env):
    _origin, size, root = verify_checkpoint(receipt["checkpoint"], key_line)
    leaf = base64.b64decode(receipt["leaf"])
    assert leaf == attestation_leaf(env), "the logged leaf is exactly the envelope's"
    proof = [base64.b64decode(h) for h in receipt["inclusion"]]
    return size == receipt["tree_size"] and verify_inclusion(receipt["log_index"], size, leaf, proof, root)
