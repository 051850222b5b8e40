"""Tips: received sealed, added to with a receipt code, triaged by the treaty body. The one writer of
Tip and TipAddition rows.

What is kept in plaintext is what triage needs without the private key (received time, sealed size,
state, the treaty body's own triage). The submitter's address and token are never stored: not in the
row, not in the sealed body, not in the log event (the request's address only ever reaches the rate
limits, as a keyed hash: casework.limits). A signed-in submitter's identity goes inside the sealed body
(readable by the treaty body alone), whether or not it asked to stay anonymous; `anonymous` there tells
the treaty body not to pass it on.
"""

import base64
import hashlib
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from casework import cases, sealing
from casework.choices import TipState, TriageAction
from casework.log_events import object_id
from casework.models import Case, Tip, TipAddition
from compliance import attachments as attachment_checks
from core.errors import Conflict, Invalid, NotFound, TooLarge
from transparency.events import append_event

RECEIPT_PREFIX = "tip_"


def receipt_digest(receipt):
    return hashlib.sha256(str(receipt).encode()).hexdigest()


def new_receipt():
    return RECEIPT_PREFIX + secrets.token_urlsafe(32)


def _document(kind, data, user, now):
    """The JSON sealed for the treaty body: the submitter's words and files, and who (signed in) sent it."""
    max_count = int(getattr(settings, "CHIPREG_TIP_ATTACHMENTS_MAX", 3))
    files = data.get("attachments") or []
    if len(files) > max_count:
        raise Invalid(f"At most {max_count} attachments per tip; got {len(files)}.", code="too_many_attachments")
    checked = [
        attachment_checks.check(f["name"], f["content_type"], attachment_checks.decode(f["content"], i), i)
        for i, f in enumerate(files)
    ]
    submitter = None
    if user is not None and user.is_authenticated:
        org = getattr(user, "organisation", None)
        submitter = {"username": user.get_username(), "organisation": org.code if org is not None else None}
    return {
        "v": 1,
        "kind": kind,
        "received_at": now.isoformat(),
        "text": data.get("text", ""),
        "serials": list(data.get("serials") or []),
        "coordinates": data.get("coordinates"),
        "attachments": [{**a.summary(), "content": base64.b64encode(a.content).decode()} for a in checked],
        "submitter": submitter,
        "anonymous": bool(data.get("anonymous", True)) if submitter else True,
    }


def _sealed(document):
    sealed = sealing.seal(document)
    limit = int(getattr(settings, "CHIPREG_TIP_MAX_BYTES", 64 * 1024))
    if len(sealed) > limit:
        raise TooLarge(f"A tip is at most {limit} bytes sealed; this one is {len(sealed)}.", max_bytes=limit)
    return sealed


def _event_data(ref, sealed):
    # Only hashes, a size and a nonce: the data is the treaty body's to read, and its hash is public.
    return {
        "tip": str(ref),
        "size": len(sealed),
        "sealed_sha256": hashlib.sha256(sealed).hexdigest(),
        "nonce": secrets.token_hex(16),
    }


def submit(user, data):
    """(tip, receipt code): the code is returned once and stored only as its SHA-256."""
    sealing.public_key()  # 503 tips_unavailable before anything else when no key is configured
    now = timezone.now()
    sealed = _sealed(_document("tip", data, user, now))
    receipt = new_receipt()
    with transaction.atomic():
        tip = Tip(received_at=now, size=len(sealed), sealed=sealed, receipt_sha256=receipt_digest(receipt), log_index=0)
        tip.log_index = append_event(
            "tip.received", object_id(), _event_data(tip.ref, sealed), at=now, parties=[], countries=[]
        )
        tip.save()
    return tip, receipt


def add(user, receipt, data):
    """An addition to the tip whose receipt code this is (404 `unknown_receipt` for any other code)."""
    sealing.public_key()
    tip = Tip.objects.filter(receipt_sha256=receipt_digest(receipt)).first() if receipt else None
    if tip is None:
        raise NotFound("No tip has this receipt code.", code="unknown_receipt")
    now = timezone.now()
    sealed = _sealed(_document("addition", data, user, now))
    with transaction.atomic():
        row = TipAddition(tip=tip, received_at=now, size=len(sealed), sealed=sealed, log_index=0)
        row.log_index = append_event(
            "tip.added_to", object_id(), _event_data(tip.ref, sealed), at=now, parties=[], countries=[]
        )
        row.save()
    return row


def read(tip):
    """{"tip": document, "additions": [documents]} opened with the private key, or sealing.Unreadable."""
    key = sealing.private_key()
    return {
        "tip": sealing.open_sealed(tip.sealed, key),
        "additions": [sealing.open_sealed(a.sealed, key) for a in tip.additions.all()],
    }


def triage(user, tip, action, *, title="", case_code="", reason=""):
    """Into a new case, into an existing open case, or dismissed with a reason; once."""
    with transaction.atomic():
        tip = Tip.objects.select_for_update().get(pk=tip.pk)
        if tip.state != TipState.NEW:
            raise Conflict("This tip was triaged already.", code="already_triaged")
        now = timezone.now()
        data = {"tip": str(tip.ref), "action": action, "nonce": secrets.token_hex(16)}
        if action == TriageAction.DISMISS:
            if not reason.strip():
                raise Invalid("A dismissal says why.", code="reason_required")
            tip.state, tip.dismiss_reason = TipState.DISMISSED, reason
            data["reason"] = reason
        else:
            if action == TriageAction.NEW_CASE:
                case = cases.open_case(user, title)
            elif action == TriageAction.ADD_TO_CASE:
                case = Case.objects.filter(code=case_code).first() if case_code else None
                if case is None:
                    raise Invalid("No such case.", code="unknown_case")
            else:
                raise Invalid(f"Unknown triage action {action!r}.", code="invalid")
            tip.state, tip.case = TipState.IN_CASE, case
            data["case"] = str(case.ref)
        tip.triaged_at, tip.triaged_by = now, user
        append_event("tip.triaged", object_id(), data, at=now, parties=[], countries=[])
        tip.save(update_fields=["state", "case", "dismiss_reason", "triaged_at", "triaged_by"])
        if tip.case_id:
            cases.link(user, tip.case, "tip", str(tip.ref), _from_triage=True)
    return tip
