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
import os
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


def _development_key_file():
    """`make run` on a laptop: with no key configured and CHIPREG_TIPS_KEY_AUTOCREATE on (never in
    production settings), a pair is made once in the var folder, so the demo takes and triages tips. The
    private key then lies beside the server, which a real deployment must never do."""
    if getattr(settings, "CHIPREG_TIPS_PUBLIC_KEY", "") or not getattr(settings, "CHIPREG_TIPS_KEY_AUTOCREATE", False):
        return None
    path = Path(settings.VAR_DIR) / "tips-private.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        private, _ = new_keypair()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(private + "\n")
    return path


def public_key():
    development = _development_key_file()
    if development is not None:
        key = _read_private(development)
        if key is None:
            raise TipsUnavailable(f"The development tips key {development} does not read; remove it to make another.")
        return key.public_key
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
    path = getattr(settings, "CHIPREG_TIPS_PRIVATE_KEY_FILE", "") or _development_key_file() or ""
    if not path:
        return None
    return _read_private(path)


def _read_private(path):
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
