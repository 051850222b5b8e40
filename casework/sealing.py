"""Tip bodies sealed to the treaty body's public key (libsodium sealed boxes, through PyNaCl).

A sealed box is encrypted to a Curve25519 public key with a fresh ephemeral key per message: only the
holder of the private key opens it, and the sender (the server) cannot open what it sealed. The public key
is configuration (`CHIPREG_TIPS_PUBLIC_KEY`, base64 of 32 bytes); the private key is never in the database
nor in the public deployment's settings: it is a file held by the treaty body, named by
`CHIPREG_TIPS_PRIVATE_KEY_FILE` only on the deployment the treaty body triages from. Where it is not
configured, tips are stored and listed (time, size, state) but their bodies cannot be read.

`manage.py tips_keypair` makes a pair.
"""

import base64
import binascii
import json
from pathlib import Path

from django.conf import settings
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from core.errors import DomainError


class TipsUnavailable(DomainError):
    status = 503
    code = "tips_unavailable"


class Unreadable(Exception):
    """The private key is not configured here, or does not open this box."""


def public_key():
    raw = getattr(settings, "CHIPREG_TIPS_PUBLIC_KEY", "") or ""
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise TipsUnavailable("This registry takes no tips: the treaty body's public key is not configured.")
    return PublicKey(key)


def private_key():
    """The treaty body's private key where this deployment holds it (a file), else None."""
    path = getattr(settings, "CHIPREG_TIPS_PRIVATE_KEY_FILE", "") or ""
    if not path:
        return None
    try:
        raw = base64.b64decode(Path(path).read_text().strip(), validate=True)
    except (OSError, binascii.Error, ValueError):
        return None
    return PrivateKey(raw) if len(raw) == 32 else None


def can_read():
    return private_key() is not None


def seal(document):
    """The sealed box of a JSON document (sorted keys, UTF-8)."""
    plain = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return SealedBox(public_key()).encrypt(plain)


def open_sealed(sealed, key=None):
    """The document in a sealed box, or Unreadable."""
    key = key or private_key()
    if key is None:
        raise Unreadable("The treaty body's private key is not configured on this deployment.")
    try:
        return json.loads(SealedBox(key).decrypt(bytes(sealed)))
    except CryptoError:
        raise Unreadable("This box does not open with the configured private key.") from None


def new_keypair():
    """(private key base64, public key base64)."""
    key = PrivateKey.generate()
    return base64.b64encode(bytes(key)).decode(), base64.b64encode(bytes(key.public_key)).decode()
