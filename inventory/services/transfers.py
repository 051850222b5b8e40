"""Transfers: shipment by the custodian, receipt by the receiver, differences as findings."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from core.errors import Conflict, Forbidden, Invalid
from core.lookups import Array
from inventory import hooks
from inventory.chiprefs import resolve_chips
from inventory.choices import FindingKind, FindingSource, PlacementSource, TransferStatus
from inventory.models import Facility, Placement, Transfer, TransferItem
from inventory.services import exports, not_in_future
from inventory.services.findings import raise_findings
from inventory.services.listings import listing_digest, refresh_verification
from inventory.services.placements import place, unplace
from inventory.services.reconciliation import Discrepancy
from outbox import emit
from protocol.times import format_time
from registry import chip_writes, disposals
from registry.choices import ChipStatus, OrgKind
from transparency.events import append_event
from transparency.log import current_size

SHIPPABLE = {ChipStatus.MANUFACTURED, ChipStatus.INSTALLED, ChipStatus.DECOMMISSIONED}
MAX_REPORTED = 20
CHUNK = 10_000  # chips per query: a million-chip shipment reads in bounded memory


def receiver_facility(receiver, code):
    """The receiver's facility of that code. Another operator's facility and no facility are one answer:
    the shipper learns no more than that the receiver runs no such facility."""
    facility = Facility.objects.filter(code=code, operator=receiver).first()
    if facility is None:
        raise Invalid(f"{receiver.code} runs no facility {str(code)[:64]!r}.", code="unknown_facility")
    return facility


def held_at_rest(chip_ids, holder, refusal):
    """The chips resolved, every one the holder's and at rest (SHIPPABLE), or one 409 `not_in_custody` that
    lists the first problems (`refusal` says what was not done, `{code}` the holder's)."""
    resolved = resolve_chips(chip_ids)
    problems = []
    for chip_id in chip_ids:
        info = resolved.get(chip_id)
        if info is None or info[1] != holder.pk:
            problems.append({"chip": chip_id, "reason": "not in your custody"})
        elif info[2] not in SHIPPABLE:
            problems.append({"chip": chip_id, "reason": f"status is {info[2]}"})
    if problems:
        raise Conflict(
            f"{len(problems)} chip(s) {refusal.format(code=holder.code)}. "
            f"First: {problems[0]['chip']} ({problems[0]['reason']}).",
            code="not_in_custody",
            chips=problems[:MAX_REPORTED],
        )
    return resolved


def ship(
    user,
    rows,
    receiver,
    shipped_at,
    origin_facility=None,
    destination_facility=None,
    export_authorisation=None,
    destination_code=None,
):
    """Declare chips leaving. Every chip must be in the shipper's custody and at rest (else 409). Chips leaving
    for another country leave only under an approved export authorisation that covers them (else 409
    `export_not_authorised`, nothing shipped): `export_authorisation` is its id. `destination_code`: the
    receiver's facility by its code, looked up only once the caller is known to be a party that holds chips (an
    inspectorate learns nothing here of which facilities the receiver runs)."""
    shipper = user.organisation
    if shipper is None or shipper.kind not in (OrgKind.OPERATOR, OrgKind.MANUFACTURER):
        raise Forbidden("Only the custodian of chips (an operator or a manufacturer) ships them.")
    not_in_future(shipped_at, "shipped_at")
    if receiver.kind not in (OrgKind.OPERATOR, OrgKind.MANUFACTURER):
        raise Invalid("Chips are shipped to operators or manufacturers.")
    if destination_code:
        destination_facility = receiver_facility(receiver, destination_code)
    if receiver.pk == shipper.pk and destination_facility is None:
        raise Invalid("A transfer within one organisation names its destination facility.")
    if destination_facility is not None and destination_facility.operator_id != receiver.pk:
        # Says nothing of who does run it (receiver_facility is the usual way in, with the same answer).
        raise Invalid(f"{receiver.code} runs no facility {destination_facility.code!r}.", code="unknown_facility")
    chip_ids = [chip_id for _, chip_id, _ in rows]
    mark = current_size()  # before the books are read below: whatever moved the chips since is logged at it or later
    resolved = held_at_rest(chip_ids, shipper, "cannot be shipped by {code}; nothing was shipped")
    origin = origin_country(chip_ids, resolved, origin_facility, shipper)
    destination = destination_facility.country if destination_facility else receiver.country
    pks = [resolved[c][0] for c in chip_ids]
    with transaction.atomic():
        locked = chip_writes.lock(pks)  # the log's lock first: the books hold still from here to the commit
        if any(custodian != shipper.pk or status not in SHIPPABLE for _, custodian, status in locked):
            raise Conflict("Some chips changed hands while shipping; nothing was shipped.", code="not_in_custody")
        if current_size() != mark:
            _origin_again(chip_ids, shipper, origin, origin_facility)
        # Chips the shipper asked to have destroyed or decommissioned leave once the witness has decided: a
        # request left pending behind them would hold their next holder's own (registry.disposals).
        pending = disposals.pending_of(pks, shipper)
        if pending:
            raise Conflict(
                f"{len(pending)} chip(s) are in a disposal request awaiting witness; it is decided (or refused) "
                "before they ship. Nothing was shipped.",
                code="disposal_pending",
            )
        # Dated before the chips came where the books have them, the shipment would close no placement (only those
        # begun by then are closed): they would travel, and be received, still placed at the site they left.
        refuse_before_arrival(pks, shipper, shipped_at)
        # Dated before what the shipper's own statements say of the chips at its sites (attestations), the
        # shipment would close their placements under that work and take it out of its clusters' windows.
        hooks.fire("chips.shipping", chip_pks=pks, shipper=shipper, shipped_at=shipped_at)
        licence = None
        # A shipment that names an authorisation ships under it or not at all (409 export_not_authorised, one
        # answer): named on a domestic route it is no licence for it, and was once silently dropped.
        if (origin and destination and origin != destination) or export_authorisation is not None:
            licence = exports.authorisation_for_shipment(
                shipper,
                export_authorisation,
                chip_ids,
                receiver,
                origin,
                destination,
                destination_facility,
                origin_facility,
                shipped_at=shipped_at,
                chip_pks=pks,
            )
        transfer = Transfer.objects.create(
            shipper=shipper,
            receiver=receiver,
            origin_facility=origin_facility,
            destination_facility=destination_facility,
            origin_country=origin,
            destination_country=destination,
            shipped_at=shipped_at,
            shipped_by=user,
        )
        TransferItem.objects.bulk_create(
            [TransferItem(transfer=transfer, chip_id=resolved[c][0], chip_ref=c) for c in chip_ids], batch_size=5000
        )
        if licence is not None:
            exports.use_for(licence, transfer)
        transfer.ship_log_index = append_event(
            "transfer.shipped",
            f"transfer:{transfer.pk}",
            {
                **_event_data(transfer, chip_ids, user, "shipped_at", shipped_at),
                **({"export_authorisation": str(licence.pk), "reference": licence.reference} if licence else {}),
            },
            parties=[shipper.code, receiver.code],
            countries=sorted({transfer.origin_country, transfer.destination_country} - {""}),
        )
        transfer.save(update_fields=["ship_log_index"])
        if licence is not None:
            exports.shipped_before_approval(licence, transfer)
        unplace(pks, shipped_at)
        _set_status(pks, ChipStatus.IN_TRANSIT, user, transfer, "shipped")
        emit("chips.changed", organisations=[shipper.pk])
    return transfer


def _origin_again(chip_ids, shipper, origin, origin_facility):
    """ship()'s origin read again under the log's lock, for a shipment that other entries were logged beside while
    it was read: a statement committed meanwhile could have moved the chips to another site or country, and they
    would ship from where they had been. (The checks after the lock, the chips' arrival and the shipper's reports,
    read the books as they hold still.)"""
    if origin_country(chip_ids, resolve_chips(chip_ids), origin_facility, shipper) != origin:
        raise Invalid(
            "The chips moved to another country while the shipment was checked; nothing was shipped: ship them from "
            "where they are now.",
            code="origin_mismatch",
        )


def refuse_before_arrival(pks, shipper, shipped_at):
    """409 `shipped_before_arrival` (nothing shipped) for a shipment dated before the chips arrived where the books
    have them: their open placement began, or the shipper's receipt of them (one at no facility places nothing).
    Not their registration: an inventory is registered after the fact, and its listings and moves dated back.
    The books' dates came first; the `shipped_at` is the shipper's word, and may be given again after `latest`."""
    latest = None
    for start in range(0, len(pks), CHUNK):
        chunk = Array(list(pks[start : start + CHUNK]))
        for at in (
            Placement.objects.filter(chip_id__any=chunk, valid_to=None, valid_from__gt=shipped_at).aggregate(
                at=Max("valid_from")
            )["at"],
            TransferItem.objects.filter(
                chip_id__any=chunk,
                shipped=True,
                received=True,
                transfer__receiver=shipper,
                transfer__status=TransferStatus.RECEIVED,
                transfer__received_at__gt=shipped_at,
            ).aggregate(at=Max("transfer__received_at"))["at"],
        ):
            if at is not None:
                latest = at if latest is None else max(latest, at)
    if latest is not None:
        raise Conflict(
            f"The chips arrived where the books have them at {format_time(latest)}, after the shipped_at given: a "
            "shipment cannot be dated before they came; nothing was shipped.",
            code="shipped_before_arrival",
            latest=format_time(latest),
        )


def origin_country(chip_ids, resolved, origin_facility, shipper):
    """Where the chips are, by the registry: the country whose inspectorate sees them leave (the transfer and
    its log events name it). Not the shipper's word: a named origin facility must be where the books place the
    chips (in their country, and no other site), and without one the origin is the chips' country, not the
    shipper's home."""
    countries = sorted({resolved[c][3] for c in chip_ids} - {"", None})
    if len(countries) > 1:
        raise Invalid(
            f"The chips lie in {', '.join(countries)}: ship from one country at a time.", code="origin_mismatch"
        )
    if origin_facility is not None:
        if countries and countries[0] != origin_facility.country:
            raise Invalid(
                f"The chips lie in {countries[0]}, not in {origin_facility.code}'s country "
                f"({origin_facility.country}): name the facility they leave.",
                code="origin_mismatch",
            )
        # Nor another site in that country, nor none: an authorisation approved for a shipment from one site is no
        # licence for chips at another (exports.authorisation_for_shipment holds it to the site it names), and a
        # chip the books place nowhere does not leave a site (its departure would be the shipper's word alone).
        pks = [resolved[c][0] for c in chip_ids]
        for start in range(0, len(pks), CHUNK):
            chunk = pks[start : start + CHUNK]
            there = Placement.objects.filter(chip_id__any=Array(chunk), valid_to=None, facility_id=origin_facility.pk)
            if there.count() != len(chunk):
                raise Invalid(
                    f"Some chips are not at {origin_facility.code} on the books: name the facility they leave, or "
                    "none where the books place them in no facility.",
                    code="origin_mismatch",
                )
        return origin_facility.country
    return countries[0] if countries else shipper.country


def require_receiver(user, transfer):
    """Only the receiver confirms a transfer: asked before the facility it names is looked up, so that another
    party is told that, not whether it sees the facility."""
    if transfer.receiver_id != user.organisation_id:
        raise Forbidden("Only the receiver confirms a transfer.")


def receive(user, transfer, rows, received_at, facility=None):
    """Confirm what arrived; differences from the shipment become findings."""
    require_receiver(user, transfer)
    if transfer.status != TransferStatus.IN_TRANSIT:
        raise Conflict(f"Transfer {transfer.pk} is {transfer.status}.", code="already_received")
    not_in_future(received_at, "received_at")
    if received_at < transfer.shipped_at:
        raise Invalid("received_at is before shipped_at.")
    if facility is not None and facility.operator_id != user.organisation_id:
        raise Invalid(f"You run no facility {facility.code!r}.", code="unknown_facility")
    if facility is None and user.organisation.kind == OrgKind.OPERATOR:
        raise Invalid("An operator receives chips into one of its facilities: name it.")
    received_ids = [chip_id for _, chip_id, _ in rows]
    shipped = dict(TransferItem.objects.filter(transfer=transfer).values_list("chip_ref", "chip_id"))
    listed = [c for c in received_ids if c in shipped]
    missing = [c for c in shipped if c not in set(received_ids)]
    extra = [c for c in received_ids if c not in shipped]
    with transaction.atomic():
        transfer = Transfer.objects.select_for_update().get(pk=transfer.pk)
        if transfer.status != TransferStatus.IN_TRANSIT:
            raise Conflict(f"Transfer {transfer.pk} is {transfer.status}.", code="already_received")
        # Custody moves only for chips still in this shipment: in transit, held by the shipper. One that has
        # left it since (reported lost, found, shipped to someone else) stays where it is: a late or stale
        # confirmation never takes a chip out of a third party's custody.
        in_shipment = {
            pk
            for pk, custodian, status in chip_writes.lock(shipped[c] for c in listed)
            if custodian == transfer.shipper_id and status == ChipStatus.IN_TRANSIT
        }
        # In transit, but in a later shipment: reported lost in this one, found, and shipped again (to anyone).
        # That shipment's receiver confirms it; this stale confirmation does not take it.
        in_shipment -= set(
            TransferItem.objects.filter(
                chip_id__in=in_shipment,
                shipped=True,
                transfer__status=TransferStatus.IN_TRANSIT,
                transfer__ship_log_index__gt=transfer.ship_log_index,
            ).values_list("chip_id", flat=True)
        )
        arrived = [c for c in listed if shipped[c] in in_shipment]
        withdrawn = [c for c in listed if shipped[c] not in in_shipment]
        transfer.status = TransferStatus.RECEIVED
        transfer.received_at = received_at
        transfer.received_by = user
        transfer.received_facility = facility
        transfer.receipt_log_index = append_event(
            "transfer.received",
            f"transfer:{transfer.pk}",
            {
                **_event_data(transfer, received_ids, user, "received_at", received_at),
                "facility": facility.code if facility else None,
                "missing": len(missing),
                "unexpected": len(extra),
                "withdrawn": len(withdrawn),
            },
            parties=[transfer.shipper.code, transfer.receiver.code],
            # The country the chips arrive in reads their receipt too (Transfer's restrict_for says so).
            countries=sorted(
                {transfer.origin_country, transfer.destination_country, facility.country if facility else ""} - {""}
            ),
        )
        transfer.save()
        TransferItem.objects.filter(transfer=transfer, chip_ref__in=listed).update(received=True)
        TransferItem.objects.filter(transfer=transfer, chip_ref__in=missing).update(received=False)
        resolved = resolve_chips(extra)
        TransferItem.objects.bulk_create(
            [
                TransferItem(
                    transfer=transfer, chip_id=resolved.get(c, (None,))[0], chip_ref=c, shipped=False, received=True
                )
                for c in extra
            ]
        )
        arrived_pks = [shipped[c] for c in arrived]
        chip_writes.set_custody(
            arrived_pks,
            user.organisation,
            # Received at no facility by a party of no country (a manufacturer loaded from the catalog): the chips
            # stay where the registry last had them, so an onward shipment leaves that country under its export
            # rules, and its inspectorate keeps them in view (not "nowhere": out of every inspectorate's view).
            facility.country
            if facility
            else user.organisation.country or transfer.destination_country or transfer.origin_country,
            actor=user,
            reason=f"transfer {transfer.pk} received",
            log_index=transfer.receipt_log_index,
        )
        new_status = ChipStatus.INSTALLED if facility else ChipStatus.MANUFACTURED
        _set_status(arrived_pks, new_status, user, transfer, "received", log_index=transfer.receipt_log_index)
        if facility is not None:
            place(
                {pk: None for pk in arrived_pks},
                facility,
                received_at,
                PlacementSource.TRANSFER,
                transfer.pk,
                transfer.receipt_log_index,
            )
        refresh_verification(arrived_pks, received_at)
        emit("chips.changed", organisations=sorted({transfer.shipper_id, transfer.receiver_id}))
        _transfer_findings(transfer, missing, extra, shipped, resolved, facility)
        # Chips that arrived (moved to the receiver by this receipt) crossed a border, or did not. Those it listed
        # that were never in the shipment, or had left it since, went nowhere: the receiver's listing of its own
        # chips (or a rival's) does not make the shipper their exporter.
        crossed = exports.receipt_findings(transfer, facility) if arrived_pks else None
        if crossed is not None:
            # Compliance judges the receipt against the treaty body's destination rules (compliance.exports): the
            # models of the chips that arrived, at the received_at given and when the receipt was recorded.
            emit(
                "exports.received",
                transfer=str(transfer.pk),
                origin=crossed[0],
                destination=crossed[1],
                chip_models=exports.models_of(arrived_pks),
                recorded_at=timezone.now().isoformat(),
            )
        # A receiver confirming a chip reported lost or stolen (in transit, or never shipped) has seen it.
        from inventory.services import watch

        left = resolve_chips(withdrawn)
        for ref, (pk, _, status, country) in list(left.items()):
            if str(status) not in watch.WATCHED:
                # Recovered since (and maybe shipped on): the sighting is of the shipper's report of its loss,
                # under the shipper, not a later holder who is no party to this transfer.
                left[ref] = (pk, transfer.shipper_id, status, country)
        watch.raise_sightings(
            {**resolved, **left},
            source=FindingSource.TRANSFER,
            source_id=f"{transfer.pk}:receipt",
            country=facility.country if facility else transfer.destination_country,
            when=received_at,
            log_index=transfer.receipt_log_index,
            reported_since=withdrawn,  # left the shipment in transit: reported lost or stolen since it shipped
        )
    summary = {"received": len(arrived), "missing": len(missing), "unexpected": len(extra), "withdrawn": len(withdrawn)}
    return transfer, summary


def _transfer_findings(transfer, missing, extra, shipped, resolved, facility):
    tid = str(transfer.pk)
    found = [Discrepancy(FindingKind.NEVER_RECEIVED, c, shipped[c], FindingSource.TRANSFER, tid) for c in missing]
    # A chip the receiver lists that was never shipped is the shipper's concern only when the shipper holds it (it
    # left with the shipment unlisted). Another's, or one the registry does not know, is the receiver's listing
    # alone: filed under the shipper it told the shipper which chips of others (a rival's, at its own site) the
    # receiver named, and where (a client written from the README read them as the manufacturer that shipped).
    receivers = []
    for c in extra:
        pk, holder = resolved.get(c, (None, None))[:2]
        d = Discrepancy(FindingKind.NOT_SHIPPED, c, pk, FindingSource.TRANSFER, tid)
        (found if holder == transfer.shipper_id else receivers).append(d)
    if transfer.destination_facility_id and facility is not None and facility.pk != transfer.destination_facility_id:
        found.append(Discrepancy(FindingKind.RECEIVED_ELSEWHERE, "", None, FindingSource.TRANSFER, tid))
    evidence = {
        "transfer": tid,
        "ship_log_index": transfer.ship_log_index,
        "receipt_log_index": transfer.receipt_log_index,
        "declared_destination": transfer.destination_facility.code if transfer.destination_facility_id else None,
        "received_at_facility": facility.code if facility else None,
    }
    raise_findings(
        found,
        facility=facility or transfer.destination_facility,
        organisation=transfer.shipper,
        other_organisation=transfer.receiver,
        country=transfer.origin_country,
        other_country=transfer.destination_country,
        evidence=evidence,
    )
    if receivers:
        where = facility or transfer.destination_facility
        raise_findings(
            receivers,
            facility=where,
            organisation=transfer.receiver,
            country=where.country if where is not None else transfer.destination_country,
            evidence=evidence,
        )


def find_overdue(now=None, days=None):
    """A shipment still in transit `days` (CHIPREG_TRANSIT_OVERDUE_DAYS) after it shipped: a `never_received`
    finding for each chip still in it (its shipper's, in transit), for both parties and both countries'
    inspectorates, raised once (source `<transfer>:overdue`); the receipt, when it comes, says the rest.
    Returns how many chips are overdue."""
    now = now or timezone.now()
    days = settings.CHIPREG_TRANSIT_OVERDUE_DAYS if days is None else days
    overdue = Transfer.objects.filter(
        status=TransferStatus.IN_TRANSIT, shipped_at__lt=now - timedelta(days=days)
    ).select_related("shipper", "receiver", "destination_facility")
    counted = 0
    for transfer in overdue.order_by("shipped_at").iterator():
        still = TransferItem.objects.filter(
            transfer=transfer,
            shipped=True,
            chip__status=ChipStatus.IN_TRANSIT,
            chip__custodian_id=transfer.shipper_id,
        ).values_list("chip_ref", "chip_id")
        source_id = f"{transfer.pk}:overdue"
        found = []
        for ref, pk in still:
            d = Discrepancy(FindingKind.NEVER_RECEIVED, ref, pk, FindingSource.TRANSFER, source_id)
            d.note = f"still in transit {(now - transfer.shipped_at).days} days after it shipped, unconfirmed"
            found.append(d)
        if found:
            raise_findings(
                found,
                facility=transfer.destination_facility,
                organisation=transfer.shipper,
                other_organisation=transfer.receiver,
                country=transfer.origin_country,
                other_country=transfer.destination_country,
                evidence={
                    "transfer": str(transfer.pk),
                    "ship_log_index": transfer.ship_log_index,
                    "overdue_days": days,
                },
            )
        counted += len(found)
    return counted


def _set_status(pks, status, user, transfer, verb, log_index=None):
    """Status changes of a transfer, one history row per chip that changed (registry.chip_writes)."""
    chip_writes.set_status(
        pks,
        status,
        actor=user,
        reason=f"transfer {transfer.pk} {verb}",
        log_index=log_index if log_index is not None else transfer.ship_log_index,
    )


def _event_data(transfer, chip_ids, user, field, when):
    return {
        "transfer": str(transfer.pk),
        "shipper": transfer.shipper.code,
        "receiver": transfer.receiver.code,
        "origin_country": transfer.origin_country,
        "destination_country": transfer.destination_country,
        "origin_facility": transfer.origin_facility.code if transfer.origin_facility_id else None,
        "destination_facility": transfer.destination_facility.code if transfer.destination_facility_id else None,
        field: when.isoformat(),
        "count": len(chip_ids),
        "chips_sha256": listing_digest(chip_ids),
        "by": user.username,
    }
