"""The registry's log key and its signed checkpoints.

Checkpoints are signed at most once per CHIPREG_CHECKPOINT_INTERVAL_S when
appends ask for them, and at once when frozen evidence names an entry no
checkpoint covers yet (sign_covering); always over the current head of the one
append-only tree, read under the writers' lock, so no two can disagree.
"""

import time
from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from protocol import keyfiles, merkle, note
from transparency.log import consistency_proof, current_size, root_at
from transparency.models import Checkpoint, LogHead


def generate_log_key(path):
    """Write a new Ed25519 private key (PKCS#8 PEM, mode 0600); refuse to overwrite (FileExistsError)."""
    key = Ed25519PrivateKey.generate()
    keyfiles.write_private_key(path, key, what="key")
    return key


@lru_cache(maxsize=4)
def load_ed25519_key(path_str):
    """The server's Ed25519 keys (log, webhooks), read once per path by protocol.keyfiles."""
    try:
        return keyfiles.read_private_key(path_str, kinds=(Ed25519PrivateKey,))
    except keyfiles.KeyFileError as exc:
        raise ImproperlyConfigured(str(exc)) from None


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
    return load_ed25519_key(str(path))


def public_key_bytes():
    return log_private_key().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def verifier_key_line():
    return note.verifier_key_line(settings.CHIPREG_LOG_ORIGIN, public_key_bytes())


def latest_checkpoint():
    return Checkpoint.objects.order_by("-size").first()


class InconsistentHead(RuntimeError):
    """The stored tree no longer extends the latest checkpoint: refuse to sign."""


def _remaining(latest):
    """Seconds left before another signature is allowed (<= 0: allowed now)."""
    if latest is None:
        return 0.0
    return settings.CHIPREG_CHECKPOINT_INTERVAL_S - (timezone.now() - latest.signed_at).total_seconds()


def sign_if_due(wait=False):
    """Sign a checkpoint of the current head if it grew; return the latest checkpoint.

    At most one signature per CHIPREG_CHECKPOINT_INTERVAL_S: within the
    interval the latest checkpoint is returned as it is, unless `wait`, which
    waits out the remainder first. The wait happens outside this function's
    lock; a caller that appended in its own open transaction still holds the
    writers' lock and must not ask to wait.

    The decision is re-made under the head lock, because two signers that both
    found the interval elapsed would otherwise sign twice in one interval.
    Signing reads the size under that lock, so every checkpoint is of a prefix
    of the one tree; before signing, the new root is also proved consistent
    with the latest checkpoint from the stored nodes, so a damaged store stops
    the signer instead of producing a split view.
    """
    while True:
        latest = latest_checkpoint()
        remaining = _remaining(latest)
        if remaining > 0 and not wait:
            return latest  # within the interval: nothing to sign yet, whatever the size
        if latest is not None and latest.size >= current_size():
            return latest
        if remaining > 0:
            time.sleep(remaining)
            continue
        with transaction.atomic():
            head = LogHead.objects.select_for_update().get_or_create(id=1)[0]
            latest = latest_checkpoint()
            if latest is not None and latest.size >= head.size:
                return latest
            if _remaining(latest) > 0:
                if not wait:
                    return latest
                continue  # another signer won the race; wait out its interval (lock released)
            return _sign(head.size, latest)


def _sign(size, latest):
    root = root_at(size)
    if latest is not None and latest.size > 0:
        proof = consistency_proof(latest.size, size)
        if not merkle.verify_consistency(latest.size, size, bytes(latest.root), root, proof):
            raise InconsistentHead(
                f"the stored tree of size {size} does not extend checkpoint {latest.size}; run manage.py verify_log"
            )
    text = note.sign_checkpoint(log_private_key(), settings.CHIPREG_LOG_ORIGIN, size, root)
    return Checkpoint.objects.create(size=size, root=root, note=text, signed_at=timezone.now())


class NotInLog(ValueError):
    """A leaf index the log does not hold (yet): nothing can be signed that covers it."""


def sign_covering(index):
    """A checkpoint whose tree includes leaf `index`: the latest if it does, else one of the head signed now.

    For evidence frozen inside a transaction (an alert's, compliance.evidence): it names entries
    that committed before it read them (every append is logged in its writer's transaction, so
    their indices are final), and it must be self-proving when it commits, so it cannot wait out
    the signing interval the way sign_if_due does: it may hold the writers' lock already, and a
    later checkpoint could not be frozen with it. The interval paces the signatures that appends
    ask for; this one signs at most once per call, and only when no checkpoint covers `index`.

    The head is read under its lock (the writers' lock), so the checkpoint covers exactly the
    committed log plus the caller's own appends, which commit (or roll back, checkpoint and all)
    with it. NotInLog when `index` is not below the head.
    """
    latest = latest_checkpoint()
    if latest is not None and latest.size > index:
        return latest
    with transaction.atomic():
        head = LogHead.objects.select_for_update().get_or_create(id=1)[0]
        latest = latest_checkpoint()
        if latest is not None and latest.size > index:
            return latest  # another signer covered it while this one waited for the lock
        if head.size <= index:
            raise NotInLog(f"the log has no entry {index} (size {head.size})")
        return _sign(head.size, latest)


def checkpoint_covering(index):
    """The latest checkpoint whose tree includes leaf `index`, signing one if needed."""
    latest = latest_checkpoint()
    if latest is None or latest.size <= index:
        latest = sign_if_due(wait=True)
    return latest


def served_note(checkpoint):
    """The checkpoint with its witnesses' cosignature lines appended, the earliest first.

    At most note.MAX_SIGNATURES - 1 of them (the acceptance refuses more; rows racing past
    that stay unserved), so the note stays one that every verifier reads (LOG.md section 3).
    """
    lines = [c.line for c in checkpoint.cosignatures.order_by("id")[: note.MAX_SIGNATURES - 1]]
    return note.add_signature_lines(checkpoint.note, lines) if lines else checkpoint.note
