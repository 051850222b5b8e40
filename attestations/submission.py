"""A signed statement as the API receives it: verify, store, or leave a Rejection row.

The HTTP layer hands over the body exactly as sent; this module decides. A
refusal is recorded (who, when, code, why; nothing of the statement) and the
domain error is raised again for core.problems to answer with.
"""

import hashlib

from attestations import checks
from attestations.models import Rejection
from attestations.store import store
from core import collector, metrics
from core.errors import Conflict, storable
from protocol.errors import ProtocolError


def submit(user, body):
    """Verify and store `body` for `user`; returns store's Accepted, or raises (ProtocolError, Conflict)."""
    try:
        # A big statement is millions of short-lived objects: no full collection walks them meanwhile.
        with collector.paused():
            accepted = store(checks.verify(body, user), user, body)
    except ProtocolError as exc:
        record_rejection(user, body, exc.status, exc.code, exc.detail)
        raise
    except checks.Replay as replay:
        detail = f"This (keyid, nonce) was accepted before, as statement {replay.first_id}."
        record_rejection(user, body, 409, "replayed_nonce", detail)
        raise Conflict(detail, code="replayed_nonce", first_id=replay.first_id) from None
    metrics.statement_accepted(accepted.attestation.kind, accepted.attestation.chip_count)
    return accepted


def record_rejection(user, body, status, code, detail):
    # Outside the store's transaction, which rolled back: the refusal itself is kept.
    metrics.statement_rejected(code)
    return Rejection.objects.create(
        organisation=user.organisation,
        user=user,
        status=status,
        code=code,
        detail=storable(detail or "")[:2000],
        body_bytes=len(body),
        body_sha256=hashlib.sha256(body).hexdigest(),
    )
