"""Changing a chip: status, identity and a model correction, each recorded in
the chip's append-only history and in the transparency log.

Custody is not changed here: it moves only through a transfer the receiver
confirms (inventory.services.transfers). Who may change which field is
registry.authority's to decide."""

from django.db import transaction

from core.errors import Conflict, Invalid
from outbox import emit
from registry import authority, hooks
from registry.choices import DISPOSAL_STATUSES, STATUS_TRANSITIONS, WATCHED_STATUSES, ChipEventKind, ChipStatus
from registry.models import ChipEvent

IDENTITY_FIELDS = ("uuid", "board_part_number", "attestation_key_fingerprint")
LOG_EVENT_NAMES = {
    ChipEventKind.STATUS: "chip.status_changed",
    ChipEventKind.CUSTODY: "chip.custody_changed",
    ChipEventKind.IDENTITY: "chip.identity_changed",
    ChipEventKind.MODEL: "chip.model_corrected",
}


def _record(chip, kind, before, after, user, reason):
    from transparency.events import append_event

    data = {
        "chip": chip.public_id,
        "before": before,
        "after": after,
        "by": user.username,
        "organisation": user.organisation.code if user.organisation_id else None,
        "reason": reason,
    }
    # Seen by the one who changed it, the chip's holder and the inspectorate
    # where the chip is (the holder may not be the one who changed it: a
    # manufacturer's or the treaty body's model correction); a model
    # correction also by the chip's manufacturer, whose word the model is.
    parties = {data["organisation"], chip.custodian.code}
    if kind == ChipEventKind.MODEL:
        parties.add(chip.manufacturer.code)
    parties = sorted(parties - {None})
    log_index = append_event(
        LOG_EVENT_NAMES[kind], chip.public_id, data, parties=parties, countries=[chip.country] if chip.country else []
    )
    return ChipEvent.objects.create(
        chip=chip,
        kind=kind,
        actor=user,
        actor_organisation=user.organisation,
        before=before,
        after=after,
        reason=reason,
        log_index=log_index,
    )


# Leaving "in transit" otherwise than lost or stolen is the receiver's confirmation (inventory.services.transfers):
# a shipper that set its chip at rest again could ship it to a third party, whose custody the first receiver's
# confirmation would then take. Entering it without a transfer takes a chip out of every count, bound nowhere.
TRANSIT_EXITS_BY_HOLDER = {ChipStatus.LOST, ChipStatus.STOLEN}


def check_transition(current, new):
    if new != current and ChipStatus.IN_TRANSIT in (current, new) and new not in TRANSIT_EXITS_BY_HOLDER:
        raise Conflict(
            "A chip goes in transit only by a transfer (POST /api/v1/transfers/) and arrives only when its "
            "receiver confirms it; in transit, its holder may only report it lost or stolen.",
            code="transit_by_transfer",
        )
    if new != current and new not in STATUS_TRANSITIONS[current]:
        allowed = ", ".join(sorted(STATUS_TRANSITIONS[current])) or "none (final)"
        raise Conflict(
            f"A chip cannot go from {current} to {new}. Allowed from {current}: {allowed}.", code="invalid_transition"
        )


@transaction.atomic
def change_chip(chip, user, *, status=None, model=None, identity=None, reason=""):
    """Apply the requested changes to `chip` (locked), one history event per kind.

    Returns the events written; a request that changes nothing writes nothing.
    The caller has checked that `user` holds the chip (restrict(user, "change"))
    for status and identity; a model correction is checked here too, whoever calls.
    """
    from transparency.log import hold_writers

    hold_writers()  # the log's lock before the chip's row, as every chip writer takes them (chip_writes.lock)
    chip = type(chip).objects.select_for_update().select_related("manufacturer", "custodian").get(pk=chip.pk)
    events = []
    if status is not None and status != chip.status:
        if status in DISPOSAL_STATUSES:
            # Off the books only with evidence someone else witnessed (registry.disposals).
            raise Conflict(
                f"A chip becomes {status} only by a disposal request an inspector of its country or the treaty "
                "body witnesses (POST /api/v1/disposals/).",
                code="disposal_by_request",
            )
        check_transition(chip.status, status)
        events.append((ChipEventKind.STATUS, {"status": chip.status}, {"status": status}))
        chip.status = status
    if model is not None and model.pk != chip.model_id:
        authority.check_chip_model_correction(user, chip)
        if model.manufacturer_id != chip.manufacturer_id:
            raise Invalid(f"{model.slug} is not a {chip.manufacturer.code} model.")
        events.append((ChipEventKind.MODEL, {"model": chip.model.slug}, {"model": model.slug}))
        chip.model = model
    if identity:
        before = {f: getattr(chip, f) for f in IDENTITY_FIELDS if f in identity and identity[f] != getattr(chip, f)}
        if before:
            after = {f: identity[f] for f in before}
            for field, value in after.items():
                setattr(chip, field, value)
            events.append((ChipEventKind.IDENTITY, before, after))
    if not events:
        return []
    chip.save()
    emit("chips.changed", organisations=[chip.custodian_id], chips=[chip.pk])
    if any(kind == ChipEventKind.MODEL for kind, _, _ in events):
        # Its work already reported is counted again at the corrected model (attestations.recount).
        emit("chips.model_corrected", chips=[chip.pk])
    recorded = [_record(chip, kind, before, after, user, reason) for kind, before, after in events]
    if chip.status in WATCHED_STATUSES and any(e.kind == ChipEventKind.STATUS for e in recorded):
        # Lost or stolen takes effect at once, with its alert and its place on the watch list.
        event = next(e for e in recorded if e.kind == ChipEventKind.STATUS)
        hooks.fire(
            "chips.lost",
            chips=[(chip.pk, chip.public_id, chip.custodian_id, chip.country)],
            status=chip.status,
            actor=user,
            log_index=event.log_index,
        )
    return recorded
