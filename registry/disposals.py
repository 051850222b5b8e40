"""Chips leave the books only with evidence: disposal requests and their witnessing.

A holder (an operator, or a manufacturer for chips it holds) asks to have chips destroyed or
decommissioned: method, place, date and at least one attachment (photos, a certificate). The request is a
log event committing to the chips (SHA-256 of their ids) and to each attachment's SHA-256; the chips'
status does not change, so they stay in every total and under the silence check. An inspector of the
chips' country (an inspectorate's admin or member whose jurisdictions hold it) or the treaty body then
accepts it, having witnessed it or checked the evidence, or refuses it with a reason. Acceptance is a log
event too, and sets the chips' status in the same transaction through registry.chip_writes: each chip's
history row names the request (`after.disposal`) and points at the acceptance's log index, so the
evidence is reachable from the chip and from the log.

Nobody witnesses their own word: only inspectorates and the treaty body decide, and they hold no chips.
"""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.attachments import check_all
from core.errors import Conflict, Forbidden, Invalid
from core.permissions import WRITE_ROLES
from outbox import emit
from protocol.serials import normalize_chip_id, parse_chip_id
from registry import chip_writes
from registry.choices import DISPOSAL_STATUSES, STATUS_TRANSITIONS, ChipStatus, DisposalState, OrgKind
from registry.models import Chip, DisposalAttachment, DisposalChip, DisposalRequest
from registry.registration import chips_digest
from registry.services import check_transition

HOLDERS = (OrgKind.OPERATOR, OrgKind.MANUFACTURER)


def _holder(user):
    org = user.organisation if user.organisation_id else None
    if org is None or org.kind not in HOLDERS or user.role not in WRITE_ROLES:
        raise Forbidden("Only the holder of chips (an operator or manufacturer) asks for their disposal.")
    return org


def _resolve(org, chip_ids):
    """The chips `org` holds among `chip_ids`; any other id (another party's, or none at all) is refused
    the same way, naming only the caller's own input."""
    try:
        listed = [parse_chip_id(normalize_chip_id(c)) for c in chip_ids]
    except (ValueError, AttributeError, TypeError):
        raise Invalid("Each chip is `<manufacturer>:<serial>`.", code="invalid") from None
    pairs = set()
    for row, pair in enumerate(listed, 1):
        if pair in pairs:  # as a shipment's or a receipt's list: a chip listed twice is a row error
            message = f"{':'.join(pair)} is listed twice."
            raise Invalid(f"Row {row}: {message}", code="invalid_rows", errors=[{"row": row, "message": message}])
        pairs.add(pair)
    by_maker = {}
    for maker, serial in pairs:
        by_maker.setdefault(maker, set()).add(serial)
    chips = []
    for maker, serials in by_maker.items():
        chips += Chip.objects.filter(custodian=org, manufacturer__code=maker, serial__in=serials).select_related(
            "manufacturer"
        )
    if len(chips) != len(pairs):
        found = {(c.manufacturer.code, c.serial) for c in chips}
        missing = sorted(f"{m}:{s}" for m, s in pairs - found)
        raise Invalid(
            f"You hold no chip {', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}.",
            code="unknown_chips",
            chips=missing[:100],
        )
    return chips


def request_disposal(user, *, kind, chip_ids, method, place, date, files, reason=""):
    """Store a request awaiting witness; the chips do not change. Returns the DisposalRequest."""
    org = _holder(user)
    if kind not in DISPOSAL_STATUSES:
        raise Invalid(f"A disposal is one of {', '.join(sorted(DISPOSAL_STATUSES))}.", code="invalid")
    if not chip_ids:
        raise Invalid("Name at least one chip.", code="invalid")
    if len(chip_ids) > settings.CHIPREG_DISPOSAL_MAX_CHIPS:
        raise Invalid(f"At most {settings.CHIPREG_DISPOSAL_MAX_CHIPS} chips per request.", code="too_many_chips")
    if not files:
        raise Invalid(
            "A disposal needs its evidence: at least one attachment (photos or a certificate).",
            code="evidence_required",
        )
    if date > timezone.localdate():
        raise Invalid("The date of a disposal is not in the future.", code="invalid")
    attachments = check_all(
        files, settings.CHIPREG_DISPOSAL_ATTACHMENTS_MAX, settings.CHIPREG_DISPOSAL_ATTACHMENT_MAX_BYTES
    )
    from transparency.events import append_event

    with transaction.atomic():
        chips = _resolve(org, chip_ids)
        locked = chip_writes.lock(c.pk for c in chips)
        countries = {c.country for c in chips}
        if len(countries) != 1 or "" in countries:
            raise Invalid(
                "One request is for chips in one country, the jurisdiction whose inspectors witness it"
                " (and chips the books place in no country cannot be witnessed there).",
                code="several_countries",
            )
        for _, custodian_id, status in locked:
            if custodian_id != org.pk:  # moved since the read above
                raise Conflict("A chip changed custody meanwhile; send the request again.", code="chips_changed")
            if status == kind:  # nothing for a witness to see: a request no one could ever accept
                raise Conflict(f"A chip is {status} already: there is nothing to witness.", code="invalid_transition")
            check_transition(status, kind)
        statuses = {pk: status for pk, _, status in locked}
        # A former holder's request still awaiting witness can no longer be accepted (its chips changed custody:
        # decide refuses it, chips_changed); it must not hold the holder's own request, nor tell it that one
        # exists. Those chips leave it (the request itself stays, for its witness to refuse).
        DisposalChip.objects.filter(chip_id__in=list(statuses), pending=True).exclude(request__organisation=org).update(
            pending=False
        )
        ids = [c.public_id for c in chips]
        request = DisposalRequest.objects.create(
            kind=kind,
            organisation=org,
            requested_by=user,
            country=countries.pop(),
            method=method,
            place=place,
            date=date,
            reason=reason,
            chip_count=len(chips),
            chips_sha256=chips_digest(ids),
        )
        try:
            with transaction.atomic():
                DisposalChip.objects.bulk_create(
                    DisposalChip(request=request, chip_id=c.pk, status=statuses[c.pk]) for c in chips
                )
        except IntegrityError:
            raise Conflict(
                "A chip is already in a disposal request awaiting witness.", code="already_requested"
            ) from None
        DisposalAttachment.objects.bulk_create(
            DisposalAttachment(
                request=request,
                position=i,
                name=a.name,
                content_type=a.content_type,
                size=a.size,
                sha256=a.sha256,
                content=a.content,
            )
            for i, a in enumerate(attachments)
        )
        request.log_index = append_event(
            "disposal.requested",
            f"disposal:{request.pk}",
            {
                "request": request.pk,
                "kind": kind,
                "organisation": org.code,
                "by": user.username,
                "country": request.country,
                "method": method,
                "place": place,
                "date": date.isoformat(),
                "reason": reason,
                "chips": len(ids),
                "chips_sha256": request.chips_sha256,
                "attachments": [a.summary() for a in attachments],
            },
            parties=[org.code],
            countries=[request.country],
        )
        request.save(update_fields=["log_index"])
    return request


def pending_of(chip_pks, organisation):
    """Of these chips, those in a disposal request of `organisation` awaiting witness (its shipment waits for the
    decision; another party's request, left behind a change of custody, is not its to know of or wait for)."""
    rows = DisposalChip.objects.filter(chip_id__in=list(chip_pks), pending=True, request__organisation=organisation)
    return set(rows.values_list("chip_id", flat=True))


def may_witness(user, request):
    """An inspectorate's admin or member whose jurisdictions hold the chips, or the treaty body's."""
    org = user.organisation if user.organisation_id else None
    if org is None or user.role not in WRITE_ROLES:
        return False
    if org.kind == OrgKind.TREATY_BODY:
        return True
    return org.kind == OrgKind.INSPECTORATE and request.country in (org.jurisdictions or [])


def decide(user, request, *, accept, reason=""):
    """Accept (the chips leave the books: their status changes, each change naming the request) or refuse
    (a reason is due; the chips stay as they are). Returns the request."""
    if not may_witness(user, request):
        raise Forbidden(
            "Only an inspector of the chips' country or the treaty body witnesses a disposal.", code="not_witness"
        )
    if not accept and not (reason or "").strip():
        raise Invalid("A refusal says why.", code="reason_required")
    from transparency.events import append_event

    with transaction.atomic():
        request = DisposalRequest.objects.select_for_update().select_related("organisation").get(pk=request.pk)
        if request.state != DisposalState.PENDING:
            raise Conflict(f"This request is already {request.state}.", code="already_decided")
        rows = list(DisposalChip.objects.filter(request=request).values_list("chip_id", "status", "pending"))
        asked = {pk: status for pk, status, _ in rows}
        pks = list(asked)
        locked = chip_writes.lock(pks)
        if accept and not all(pending for *_, pending in rows):
            # Chips taken out of it (their custody changed under it, and their next holder asked): the evidence
            # predates that change, whoever holds them now.
            raise Conflict(
                "Chips of this request changed custody since it was asked; it cannot be accepted: refuse it, and "
                "the holder asks again.",
                code="chips_changed",
            )
        if accept:
            for pk, custodian_id, status in locked:
                # Shipped, reported lost, handed over since the request: the books no longer say what was asked.
                # (Lost -> destroyed is a transition: a status other than the one the witness was told is a
                # change, or a chip reported lost would leave the watch list on evidence about another state.)
                if (
                    custodian_id != request.organisation_id
                    or status != asked[pk]
                    or status == ChipStatus.IN_TRANSIT
                    or request.kind not in STATUS_TRANSITIONS[status]
                ):
                    raise Conflict(
                        f"A chip of this request changed since it was asked (now {status}, or in another's "
                        "custody); it cannot be accepted: refuse it, and the holder asks again.",
                        code="chips_changed",
                    )
            # Moved to another country since (a declaration there): its inspectorate, not this request's, is
            # the witness now, and would not read the acceptance.
            if Chip.objects.filter(pk__in=pks).exclude(country=request.country).exists():
                raise Conflict(
                    "A chip of this request lies in another country since it was asked; it cannot be accepted "
                    "here: refuse it, and the holder asks again where the chips are.",
                    code="chips_changed",
                )
        now = timezone.now()
        org = user.organisation
        request.state = DisposalState.ACCEPTED if accept else DisposalState.REFUSED
        request.decided_by, request.decided_by_organisation, request.decided_at = user, org, now
        request.decision_reason = reason or ""
        request.decision_log_index = append_event(
            "disposal.accepted" if accept else "disposal.refused",
            f"disposal:{request.pk}",
            {
                "request": request.pk,
                "kind": request.kind,
                "organisation": request.organisation.code,
                "country": request.country,
                "chips": request.chip_count,
                "chips_sha256": request.chips_sha256,
                "attachments_sha256": list(request.attachments.order_by("position").values_list("sha256", flat=True)),
                "requested_log_index": request.log_index,
                "by": user.username,
                "by_organisation": org.code,
                "reason": request.decision_reason,
                "at": now.isoformat(),
            },
            parties=[request.organisation.code],
            countries=[request.country],
        )
        request.save(
            update_fields=[
                "state",
                "decided_by",
                "decided_by_organisation",
                "decided_at",
                "decision_reason",
                "decision_log_index",
            ]
        )
        DisposalChip.objects.filter(request=request).update(pending=False)
        if accept:
            chip_writes.set_status(
                pks,
                ChipStatus(request.kind),
                actor=user,
                reason=f"Disposal request {request.pk} witnessed by {org.code}: {request.method}, {request.place}.",
                log_index=request.decision_log_index,
                detail={"disposal": request.pk},
            )
            # The chips leave the totals: the evaluation recomputes what they counted in.
            emit("chips.changed", organisations=[request.organisation_id], chips=pks)
    return request
