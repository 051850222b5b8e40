"""The registry's log key and its signed checkpoints.

Checkpoints are signed at most once per CHIPREG_CHECKPOINT_INTERVAL_S, always
over the current head of the one append-only tree, so no two can disagree.
"""

import os
import time
from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from protocol import note
from transparency.log import current_size, root_at
from transparency.models import Checkpoint, LogHead


def generate_log_key(path):
    """Write a new Ed25519 private key (PKCS#8 PEM, mode 0600); refuse to overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return key


@lru_cache(maxsize=4)
def _load_key(path_str):
    with open(path_str, "rb") as fh:
        key = serialization.load_pem_private_key(fh.read(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{path_str} is not an Ed25519 private key")
    return key


def log_private_key():
    path = settings.CHIPREG_LOG_KEY_PATH
    if not path.exists():
        if not getattr(settings, "CHIPREG_LOG_KEY_AUTOCREATE", False):
            raise ImproperlyConfigured(
                f"The log key {path} does not exist. Create it once with `manage.py init_log_key` and back it up."
            )
        try:
            generate_log_key(path)
        except FileExistsError:
            pass  # another process created it first
    return _load_key(str(path))


def public_key_bytes():
    return log_private_key().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def verifier_key_line():
    return note.verifier_key_line(settings.CHIPREG_LOG_ORIGIN, public_key_bytes())


def latest_checkpoint():
    return Checkpoint.objects.order_by("-size").first()


def sign_if_due(wait=False):
    """Sign a checkpoint of the current head if it grew; return the latest checkpoint.

    At most one signature per CHIPREG_CHECKPOINT_INTERVAL_S: within the
    interval the latest checkpoint is returned as it is, unless `wait`, which
    waits out the remainder first (never while holding the writers' lock).
    Signing reads the size under the head lock, so every checkpoint is of a
    prefix of the one tree and no two can disagree.
    """
    latest = latest_checkpoint()
    if latest is not None and latest.size >= current_size():
        return latest
    if latest is not None:
        remaining = settings.CHIPREG_CHECKPOINT_INTERVAL_S - (timezone.now() - latest.signed_at).total_seconds()
        if remaining > 0:
            if not wait:
                return latest
            time.sleep(remaining)
    with transaction.atomic():
        head = LogHead.objects.select_for_update().get_or_create(id=1)[0]
        existing = Checkpoint.objects.filter(size__gte=head.size).order_by("-size").first()
        if existing is not None:
            return existing
        root = root_at(head.size)
        text = note.sign_checkpoint(log_private_key(), settings.CHIPREG_LOG_ORIGIN, head.size, root)
        return Checkpoint.objects.create(size=head.size, root=root, note=text, signed_at=timezone.now())


def checkpoint_covering(index):
    """The latest checkpoint whose tree includes leaf `index`, signing one if needed."""
    latest = latest_checkpoint()
    if latest is None or latest.size <= index:
        latest = sign_if_due(wait=True)
    return latest


def served_note(checkpoint):
    """The checkpoint with its witnesses' cosignature lines appended."""
    lines = [c.line for c in checkpoint.cosignatures.all()]
    return note.add_signature_lines(checkpoint.note, lines) if lines else checkpoint.note
