"""Export authorisations: requested by the sending custodian, decided by the exporting inspectorate (through
compliance.exports, which holds the treaty body's destination rules), used by one cross-border shipment, and
looked for at the receipt. The one writer of ExportAuthorisation rows.

Who may decide is checked here (an inspectorate whose jurisdictions include the origin country; nobody else,
not the treaty body, not an operator, not the destination's inspectorate), so no caller can skip it; what the
destination rules allow is checked by the caller, compliance.exports.decide, the only one that decides.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, Forbidden, Invalid
from inventory import hooks
from inventory.choices import ExportStatus, FindingKind, FindingSource
from inventory.models import ExportAuthorisation
from inventory.services.findings import new_finding, store_findings
from inventory.services.listings import listing_digest
from outbox import emit
from registry.choices import OrgKind
from registry.models import Chip
from transparency.events import append_event
from transparency.log import hold_writers

MAX_REPORTED = 20


def request_export(
    user, rows, receiver, reference, origin_facility=None, destination_facility=None, destination_code=None
):
    """The custodian asks for an export of chips it holds, at rest, to a receiver in another country.
    `destination_code`: the receiver's facility by its code, looked up only once the caller is known to be a
    party that exports (a party that may not see the receiver's facilities learns nothing of them here)."""
    from inventory.services.transfers import held_at_rest, origin_country, receiver_facility

    exporter = user.organisation
    if exporter is None or exporter.kind not in (OrgKind.OPERATOR, OrgKind.MANUFACTURER):
        raise Forbidden("Only the custodian of chips requests their export.")
    if receiver.kind not in (OrgKind.OPERATOR, OrgKind.MANUFACTURER):
        raise Invalid("Chips are exported to operators or manufacturers.")
    if destination_code:
        destination_facility = receiver_facility(receiver, destination_code)
    reference = (reference or "").strip()
    if not reference:
        raise Invalid("An export authorisation names the exporting state's licence number.", code="reference_required")
    if destination_facility is not None and destination_facility.operator_id != receiver.pk:
        raise Invalid(f"{receiver.code} runs no facility {destination_facility.code!r}.", code="unknown_facility")
    chip_ids = [chip_id for _, chip_id, _ in rows]
    resolved = held_at_rest(chip_ids, exporter, "are not {code}'s to export; nothing was requested")
    origin = origin_country(chip_ids, resolved, origin_facility, exporter)
    destination = destination_facility.country if destination_facility else receiver.country
    if not origin or not destination or origin == destination:
        raise Invalid(
            f"From {origin or '?'} to {destination or '?'} is not an export: only a cross-border transfer needs "
            "an authorisation.",
            code="not_an_export",
        )
    models = sorted(
        set(Chip.objects.filter(pk__in=[resolved[c][0] for c in chip_ids]).values_list("model__slug", flat=True))
    )
    with transaction.atomic():
        auth = ExportAuthorisation.objects.create(
            exporter=exporter,
            receiver=receiver,
            origin_facility=origin_facility,
            destination_facility=destination_facility,
            origin_country=origin,
            destination_country=destination,
            reference=reference,
            chips=chip_ids,
            chip_models=models,
            chips_sha256=listing_digest(chip_ids),
            chip_count=len(chip_ids),
            requested_by=user,
        )
        auth.request_log_index = append_event(
            "export.requested", f"export:{auth.pk}", {**event_data(auth), "by": user.username}, **_readers(auth)
        )
        auth.save(update_fields=["request_log_index"])
    return auth


def check_decider(user, auth):
    """Only an inspectorate whose jurisdictions include the exporting country decides (the destination's
    inspectorate, the treaty body and every operator are refused: 403 for those who see it)."""
    org = user.organisation
    if org is None or org.kind != OrgKind.INSPECTORATE:
        raise Forbidden(
            "Only the exporting country's inspectorate decides an export.", code="not_exporting_inspectorate"
        )
    if auth.origin_country not in (org.jurisdictions or []):
        raise Forbidden(
            f"Only the inspectorate of the exporting country ({auth.origin_country}) decides this export.",
            code="not_exporting_inspectorate",
        )


def validity(approved_at, valid_until=None):
    """When an approval made at `approved_at` lapses: `valid_until` as the inspectorate names it (in the future,
    no later than the default), else CHIPREG_EXPORT_VALIDITY_DAYS after the approval."""
    longest = approved_at + timedelta(days=settings.CHIPREG_EXPORT_VALIDITY_DAYS)
    if valid_until is None:
        return longest
    if valid_until <= approved_at:
        raise Invalid("valid_until: must be in the future.", code="invalid")
    if valid_until > longest:
        raise Invalid(
            f"valid_until: at most {settings.CHIPREG_EXPORT_VALIDITY_DAYS} days after the approval.", code="invalid"
        )
    return valid_until


def judged_models(auth, chip_pks=None):
    """The model slugs the destination rules judge an export by: those the request named, and those the chips
    have now (`chip_pks`, the chips a shipment takes; else every chip the authorisation covers). A chip's model
    corrected since the request (H100s its holder registered as H20s, corrected by their maker) is judged as it
    is, not as the request froze it."""
    from inventory.chiprefs import resolve_chips

    if chip_pks is None:
        chip_pks = [row[0] for row in resolve_chips(list(auth.chips)).values()]
    return sorted(set(auth.chip_models) | set(models_of(list(chip_pks))))


def record_decision(user, auth, approved, reason, rule_versions=(), valid_until=None, chip_models=None):
    """Approve (until `valid_until`: see validity) or refuse a requested export (compliance.exports.decide
    checks the destination rules first, against `chip_models`, which an approval records)."""
    check_decider(user, auth)
    if not approved and not (reason or "").strip():
        raise Invalid("Say why the export is refused.", code="reason_required")
    if not approved and valid_until is not None:
        raise Invalid("valid_until: only an approval has one.", code="invalid")
    with transaction.atomic():
        hold_writers()  # the log's lock first, as a shipment takes it before this row (chip_writes.lock)
        auth = ExportAuthorisation.objects.select_for_update().select_related("exporter", "receiver").get(pk=auth.pk)
        if auth.status != ExportStatus.REQUESTED:
            raise Conflict(f"This export authorisation is already {auth.status}.", code="already_decided")
        auth.status = ExportStatus.APPROVED if approved else ExportStatus.REFUSED
        auth.decided_by = user
        auth.decided_by_organisation = user.organisation
        auth.decided_at = timezone.now()
        auth.reason = (reason or "").strip()
        auth.valid_until = validity(auth.decided_at, valid_until) if approved else None
        if approved and chip_models is not None:
            auth.chip_models = sorted(set(auth.chip_models) | set(chip_models))  # what the rules were checked against
        auth.decision_log_index = append_event(
            f"export.{auth.status}",
            f"export:{auth.pk}",
            {
                **event_data(auth),
                "decided_at": auth.decided_at.isoformat(),
                **({"valid_until": auth.valid_until.isoformat()} if approved else {}),
                "by": user.username,
                "by_organisation": user.organisation.code,
                "reason": auth.reason,
                "rules_checked": list(rule_versions),
            },
            **_readers(auth),
        )
        auth.save()
    return auth


def revoke(user, auth, reason):
    """The exporting inspectorate withdraws an approved authorisation no shipment has used (a receiver sanctioned
    since, the state's licence revoked): logged `export.revoked`, with the reason; 409 `not_revocable` otherwise."""
    check_decider(user, auth)
    if not (reason or "").strip():
        raise Invalid("Say why the export authorisation is revoked.", code="reason_required")
    with transaction.atomic():
        hold_writers()  # the log's lock first, as a shipment takes it before this row (chip_writes.lock)
        auth = ExportAuthorisation.objects.select_for_update().select_related("exporter", "receiver").get(pk=auth.pk)
        if auth.status != ExportStatus.APPROVED or auth.transfer_id is not None:
            state = "used by a shipment" if auth.transfer_id else auth.status
            raise Conflict(
                f"Only an approved authorisation no shipment has used is revoked; this one is {state}.",
                code="not_revocable",
            )
        auth.status = ExportStatus.REVOKED
        auth.revoked_by_organisation = user.organisation
        auth.revoked_at = timezone.now()
        auth.revocation_reason = reason.strip()
        auth.revocation_log_index = append_event(
            "export.revoked",
            f"export:{auth.pk}",
            {
                **event_data(auth),
                "revoked_at": auth.revoked_at.isoformat(),
                "by": user.username,
                "by_organisation": user.organisation.code,
                "reason": auth.revocation_reason,
            },
            **_readers(auth),
        )
        auth.save()
    return auth


def authorisation_for_shipment(
    shipper,
    pk,
    chip_ids,
    receiver,
    origin,
    destination,
    destination_facility,
    origin_facility=None,
    shipped_at=None,
    chip_pks=None,
):
    """The approved, unused authorisation `pk` of this shipper that covers this shipment, locked; else 409
    `export_not_authorised` (one answer whether it is missing, another's, refused, used or too narrow: the shipper
    learns nothing about other parties' authorisations)."""
    auth = None
    if pk is not None:
        auth = (
            ExportAuthorisation.objects.select_for_update()
            .filter(pk=pk, exporter=shipper, status=ExportStatus.APPROVED, transfer__isnull=True)
            .first()
        )
    why = None
    if auth is None:
        why = "name an approved, unused export authorisation of yours (export_authorisation)"
    elif auth.receiver_id != receiver.pk or (auth.origin_country, auth.destination_country) != (origin, destination):
        why = (
            f"authorisation {auth.pk} is for {auth.receiver.code} from {auth.origin_country} to "
            f"{auth.destination_country}"
        )
    elif auth.valid_until is not None and auth.valid_until <= timezone.now():
        # Judged at the registry's clock, not at the `shipped_at` the shipper gives.
        why = f"authorisation {auth.pk} lapsed at {auth.valid_until.isoformat()}"
    elif auth.destination_facility_id and auth.destination_facility_id != getattr(destination_facility, "pk", None):
        why = f"authorisation {auth.pk} names destination facility {auth.destination_facility.code}"
    elif auth.origin_facility_id and auth.origin_facility_id != getattr(origin_facility, "pk", None):
        # The inspectorate approved a shipment from that site: another of the shipper's sites is another export.
        why = f"authorisation {auth.pk} names origin facility {auth.origin_facility.code}"
    else:
        covered = set(auth.chips)
        outside = [c for c in chip_ids if c not in covered]
        if outside:
            why = f"{len(outside)} chip(s) are not covered by authorisation {auth.pk} (first: {outside[0]})"
    if why:
        # A domestic route needs no licence, and one named for it must be its own all the same (transfers.ship).
        need = (
            f"A transfer from {origin} to {destination} needs the exporting inspectorate's approval before it ships"
            if origin != destination
            else f"A transfer within {origin} needs no export authorisation, and one it names must be for it"
        )
        raise Conflict(f"{need}: {why}. Nothing was shipped.", code="export_not_authorised")
    # What the apps above check of it (compliance: destination rules declared since the approval).
    # The models judged are the shipped chips' as the registry has them now, beside those the approval judged.
    hooks.fire("exports.shipping", authorisation=auth, shipped_at=shipped_at, chip_models=judged_models(auth, chip_pks))
    return auth


def use_for(auth, transfer):
    """The shipment an authorisation was used for (locked by authorisation_for_shipment)."""
    auth.transfer = transfer
    auth.save(update_fields=["transfer"])


def shipped_before_approval(licence, transfer):
    """A shipment recorded under an authorisation approved only after the `shipped_at` it gives: the chips left
    with no licence (one granted later does not make the crossing authorised). The shipment stands, as the
    registry records what happened; the exporting side gets an `export_unauthorised` finding (its
    inspectorate, the treaty body: an alert)."""
    if transfer.shipped_at >= licence.decided_at:
        return
    tid = str(transfer.pk)
    row = new_finding(
        kind=FindingKind.EXPORT_UNAUTHORISED,
        facility=transfer.origin_facility,
        organisation=transfer.shipper,
        other_organisation=transfer.receiver,
        country=transfer.origin_country,
        source=FindingSource.TRANSFER,
        source_id=f"{tid}:{transfer.origin_country}:before-approval",
        detail=(
            f"transfer {tid}: chips of {transfer.shipper.code} left {transfer.origin_country} for "
            f"{transfer.destination_country} at {transfer.shipped_at.isoformat()}, before authorisation "
            f"{licence.pk} ({licence.reference}) was approved at {licence.decided_at.isoformat()}."
        ),
        evidence={
            "transfer": tid,
            "ship_log_index": transfer.ship_log_index,
            "authorisation": str(licence.pk),
            "decision_log_index": licence.decision_log_index,
            "from": transfer.origin_country,
            "to": transfer.destination_country,
            "log_index": transfer.ship_log_index,
        },
    )
    store_findings([row])
    emit("findings.raised", source=row.source, source_id=row.source_id)


def receipt_findings(transfer, facility):
    """At a receipt: chips that crossed a border without an approved export authorisation for where they
    arrived. Recorded all the same (the receipt stands); two findings, one on each side, so each country's
    inspectorate (and the treaty body) gets the finding and its alert. Returns the countries (origin, arrival),
    or None when the receipt crossed no border."""
    arrived_in = facility.country if facility is not None else transfer.destination_country
    origin = transfer.origin_country
    if not origin or not arrived_in or origin == arrived_in:
        return None
    auth = ExportAuthorisation.objects.filter(transfer=transfer, status=ExportStatus.APPROVED).first()
    if auth is not None and auth.destination_country == arrived_in:
        return origin, arrived_in
    tid = str(transfer.pk)
    route = (
        f"transfer {tid}: chips of {transfer.shipper.code} left {origin} and were received by "
        f"{transfer.receiver.code} in {arrived_in} "
    )
    # The authorisation is the exporting side's: its reference and the country it names are for those who may
    # read it (the origin's inspectorate, the parties, the treaty body), not for the inspectorate of a country
    # it never named, which learns only that nothing authorised the chips to come to it.
    origin_detail = route + (
        "without an export authorisation."
        if auth is None
        else f"while authorisation {auth.pk} ({auth.reference}) covers {auth.destination_country} only."
    )
    arrival_detail = route + f"without an export authorisation for {arrived_in}."
    evidence = {
        "transfer": tid,
        "ship_log_index": transfer.ship_log_index,
        "receipt_log_index": transfer.receipt_log_index,
        "from": origin,
        "to": arrived_in,
        "log_index": transfer.receipt_log_index,
    }
    rows = [
        # The exporting side: the shipper, at the origin facility (if named), in the origin country.
        new_finding(
            kind=FindingKind.EXPORT_UNAUTHORISED,
            facility=transfer.origin_facility,
            organisation=transfer.shipper,
            other_organisation=transfer.receiver,
            country=origin,
            source=FindingSource.TRANSFER,
            source_id=f"{tid}:{origin}",
            detail=origin_detail,
            evidence={**evidence, "authorisation": str(auth.pk) if auth else None},
        ),
        # The importing side: the receiver, at the facility of the receipt, in the country of arrival.
        new_finding(
            kind=FindingKind.EXPORT_UNAUTHORISED,
            facility=facility,
            organisation=transfer.receiver,
            other_organisation=transfer.shipper,
            country=arrived_in,
            source=FindingSource.TRANSFER,
            source_id=f"{tid}:{arrived_in}",
            detail=arrival_detail,
            evidence=evidence,
        ),
    ]
    store_findings(rows)
    for row in rows:
        emit("findings.raised", source=row.source, source_id=row.source_id)
    return origin, arrived_in


def models_of(chip_pks, chunk=10_000):
    """The model slugs of these chips, sorted (read a chunk at a time: a receipt may move a million chips)."""
    from core.lookups import Array

    slugs = set()
    for start in range(0, len(chip_pks), chunk):
        rows = Chip.objects.filter(pk__any=Array(list(chip_pks[start : start + chunk])))
        slugs |= set(rows.values_list("model__slug", flat=True).distinct().order_by())
    return sorted(slugs)


def event_data(auth):
    return {
        "authorisation": str(auth.pk),
        "exporter": auth.exporter.code,
        "receiver": auth.receiver.code,
        "origin_country": auth.origin_country,
        "destination_country": auth.destination_country,
        "origin_facility": auth.origin_facility.code if auth.origin_facility_id else None,
        "destination_facility": auth.destination_facility.code if auth.destination_facility_id else None,
        "reference": auth.reference,
        "count": auth.chip_count,
        "chips_sha256": auth.chips_sha256,
        "chip_models": auth.chip_models,
        "status": auth.status,
    }


def _readers(auth):
    # The operators involved and both countries' inspectorates (the treaty body reads every event).
    return {
        "parties": sorted({auth.exporter.code, auth.receiver.code}),
        "countries": sorted({auth.origin_country, auth.destination_country}),
    }
