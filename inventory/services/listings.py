"""Recording physical inventory listings: declarations and inspections."""

import hashlib
from itertools import islice

from django.db import transaction
from django.db.models import Max

from core.errors import Conflict, Forbidden
from inventory import hooks, storage
from inventory.chiprefs import as_logged, resolve_chips, resolve_clusters
from inventory.choices import FindingKind, FindingSource, PlacementSource
from inventory.models import (
    AnyFinding,
    ChiplessDeclarationItem,
    ChiplessInspectionItem,
    Declaration,
    DeclarationItem,
    Inspection,
    InspectionItem,
)
from inventory.services import not_in_future
from inventory.services.findings import raise_findings
from inventory.services.holders import raise_for_holders
from inventory.services.placements import CHUNK, PLACEABLE, facility_at, place
from inventory.services.reconciliation import compare
from protocol.times import format_time
from registry.chip_writes import refresh_last_verified
from transparency.events import append_event
from transparency.log import current_size


def listing_digest(chip_ids):
    h = hashlib.sha256()
    for chip_id in sorted(chip_ids):
        h.update(chip_id.encode() + b"\n")
    return h.hexdigest()


def _store_items(model, chipless_model, parent_field, parent, rows, resolved, clusters):
    """The listing's items, as one COPY stream (a million-row inspection is one stream), and the references
    no chip has, as another (storage.copy_listing_items)."""
    values = (
        (
            parent.pk,
            resolved[chip_id][0] if chip_id in resolved else None,
            chip_id,
            clusters.get(cluster) if cluster else None,
        )
        for _, chip_id, cluster in rows
    )
    storage.copy_listing_items(model, chipless_model, parent_field, values)


def record_declaration(
    user, facility, as_of, rows, attestation_id="", log_index=None, resolved=None, reported=None, found_into=None
):
    """Store a complete listing of `facility` at `as_of`, move placements, raise findings.

    `rows` come from chiprefs.parse_listing. An attestation passes its id,
    its own log index (the statement is already in the log), the chips it
    has already resolved, and `reported` (placements.place's: its moves wait for the work reported before them);
    `found_into`, a list the reconciliation's discrepancies are added to (a statement's answer flags them).
    """
    not_in_future(as_of, "as_of")
    clusters = resolve_clusters(facility, {c for _, _, c in rows})
    mark = None
    if resolved is None:  # (a statement's chips are judged under the lock by the statement: kinds.location)
        mark = current_size()  # before the chips: see chiprefs.as_logged
        resolved = resolve_chips([chip_id for _, chip_id, _ in rows])
    with transaction.atomic():
        declaration = Declaration.objects.create(
            facility=facility, as_of=as_of, declared_by=user, attestation_id=attestation_id, chip_count=len(rows)
        )
        if log_index is None:
            log_index = append_event(
                "declaration.recorded",
                f"declaration:{declaration.pk}",
                {
                    "facility": facility.code,
                    "operator": facility.operator.code,
                    "country": facility.country,
                    "as_of": as_of.isoformat(),
                    "count": len(rows),
                    "chips_sha256": listing_digest(chip_id for _, chip_id, _ in rows),
                    "by": user.username,
                },
            )
        declaration.log_index = log_index
        declaration.save(update_fields=["log_index"])
        if mark is not None:
            as_logged(resolved, mark, log_index)
        placeable = {
            resolved[chip_id][0]: clusters.get(cluster) if cluster else None
            for _, chip_id, cluster in rows
            if chip_id in resolved
            and resolved[chip_id][1] == facility.operator_id
            and resolved[chip_id][2] in PLACEABLE
        }
        if not attestation_id:  # a signed statement is never refused for what it says (ATTESTATION.md 5)
            refuse_under_later_listing(facility, as_of, placeable)
            hooks.fire("chips.declaring", placeable=placeable, facility=facility, as_of=as_of)
        _store_items(DeclarationItem, ChiplessDeclarationItem, "declaration", declaration, rows, resolved, clusters)
        source = PlacementSource.ATTESTATION if attestation_id else PlacementSource.DECLARATION
        moved, unchanged, superseded = place(
            placeable,
            facility,
            as_of,
            source,
            attestation_id or declaration.pk,
            log_index,
            holder=facility.operator_id,
            reported=reported,
        )
        source_kind = FindingSource.ATTESTATION if attestation_id else FindingSource.DECLARATION
        found = compare(
            facility_at(facility, as_of),
            DeclarationItem.objects.filter(declaration=declaration),
            ChiplessDeclarationItem.objects.filter(declaration=declaration),
            source_kind,
            attestation_id or str(declaration.pk),
        )
        raise_findings(found, facility=facility, evidence={"log_index": log_index, "as_of": as_of.isoformat()})
        if found_into is not None:
            found_into.extend(found)
        if not attestation_id:  # a statement's sightings are raised with its other findings (attestations.store)
            # A lost or stolen chip listed in a facility is seen there: critical, for its holder of record and
            # both countries' inspectorates, not the declarer (inventory.services.watch).
            from inventory.services import watch

            watch.raise_sightings(
                resolved,
                source=FindingSource.DECLARATION,
                source_id=str(declaration.pk),
                country=facility.country,
                when=as_of,
                log_index=log_index,
            )
            # A chip another party holds, listed here: its holder's finding too (a statement's: attestations.filing).
            raise_for_holders(
                resolved,
                facility,
                source=FindingSource.DECLARATION,
                source_id=str(declaration.pk),
                evidence={"log_index": log_index, "as_of": as_of.isoformat(), "declaration": declaration.pk},
            )
    return declaration, {
        "listed": len(rows),
        "placed": moved,
        "unchanged": unchanged,
        "superseded": superseded,
        "findings": _count(found),
        "log_index": log_index,
    }


def refuse_under_later_listing(facility, as_of, placeable):
    """409 `declared_before_listing` (the caller's transaction, log entry included, rolls back) for a declaration
    that would move chips into or out of a facility of its operator at an `as_of` before a later listing of that
    facility: an inspection, a declaration or a complete statement reconciled its books at its own date, and a
    move dated back under it would rewrite what it found (an inspection's unaccounted chip explained away by the
    operator's word alone, after the fact). The chips `place` would move are the ones that count: those already
    where they are listed, and those whose placement began after `as_of` (superseded), move nothing.

    Read under the log's lock (the caller appended first): a listing committed before it is seen. `placeable`:
    {chip pk: cluster pk or None}, the chips the declaration would place."""
    operator = facility.operator_id
    later = {}
    for rows in (
        Declaration.objects.filter(facility__operator_id=operator, as_of__gt=as_of)
        .values_list("facility_id")
        .annotate(at=Max("as_of")),
        Inspection.objects.filter(facility__operator_id=operator, performed_at__gt=as_of)
        .values_list("facility_id")
        .annotate(at=Max("performed_at")),
    ):
        for facility_id, at in rows.order_by():
            later[facility_id] = max(at, later.get(facility_id, at))
    if not later:
        return
    touched = set()
    pairs = iter(placeable.items())
    while not touched & later.keys() and (chunk := list(islice(pairs, CHUNK))):
        for _, _, open_pk, open_facility, newer in storage.placements_to_move(chunk, facility.pk, as_of):
            if not newer:  # a chip placed after as_of keeps its newer placement (placements.place)
                touched |= {facility.pk, open_facility} if open_pk is not None else {facility.pk}
    hit = touched & later.keys()
    if hit:
        latest = max(later[f] for f in hit)
        raise Conflict(
            f"The chips this declaration would move, at {format_time(as_of)}, are in the books of a facility that a "
            f"later listing (an inspection, a declaration or a complete statement) reconciled, the latest at "
            f"{format_time(latest)}: a declaration cannot be dated back under it; nothing was recorded.",
            code="declared_before_listing",
            latest=format_time(latest),
        )


def record_inspection(user, facility, performed_at, rows, inspectors=(), seals=(), notes=""):
    """An inspectorate's routine inspection of a facility in its jurisdictions."""
    org = user.organisation
    if facility.country not in (org.jurisdictions or []):
        raise Forbidden(f"{facility.code} is outside your jurisdictions.", code="outside_jurisdiction")
    # Dated back, it is reconciled against the books as they stood then: in whichever country the facility lay
    # in at that time (each change of country is a country_changed finding, with the country before).
    since = AnyFinding.objects.filter(facility=facility, kind=FindingKind.COUNTRY_CHANGED, detected_at__gt=performed_at)
    before = {e.get("before") for e in since.values_list("evidence", flat=True)} - set(org.jurisdictions or [])
    if before:
        raise Forbidden(
            f"{facility.code} lay in {', '.join(sorted(str(c) for c in before))} at some time since {performed_at}: "
            "an inspection then is that country's inspectorate's to record.",
            code="outside_jurisdiction",
        )
    return store_inspection(user, org, facility, performed_at, rows, inspectors=inspectors, seals=seals, notes=notes)


def store_inspection(user, org, facility, performed_at, rows, inspectors=(), seals=(), notes="", challenge=None):
    """Store an inspection of `facility` by `org` (checked by the caller), reconcile it, compare its seals.

    The one recording path of routine and challenge inspections (`challenge`: the ChallengeInspection it
    records; the inspection team then vouches for the facility's country, whoever sent it). `seals`: strings
    ("NUMBER" or "NUMBER@WHERE") or {"seal", "where", "intact"} objects (sealing.parse_seals).
    """
    from inventory.services import sealing

    not_in_future(performed_at, "performed_at")
    seal_rows = sealing.parse_seals(seals)
    clusters = resolve_clusters(facility, {c for _, _, c in rows})
    mark = current_size()  # before the chips: see chiprefs.as_logged
    resolved = resolve_chips([chip_id for _, chip_id, _ in rows])
    countries = [facility.country] if challenge is not None else list(org.jurisdictions or [])
    with transaction.atomic():
        inspection = Inspection.objects.create(
            facility=facility,
            inspectorate=org,
            performed_at=performed_at,
            inspectors=list(inspectors),
            seals_checked=[sealing.label(seal) for seal in seal_rows],
            notes=notes,
            recorded_by=user,
            observed_count=len(rows),
        )
        inspection.log_index = append_event(
            "inspection.recorded",
            f"inspection:{inspection.pk}",
            {
                "facility": facility.code,
                "operator": facility.operator.code,
                "country": facility.country,
                "inspectorate": org.code,
                "performed_at": performed_at.isoformat(),
                "inspectors": list(inspectors),
                "seals_checked": inspection.seals_checked,
                "observed": len(rows),
                "chips_sha256": listing_digest(chip_id for _, chip_id, _ in rows),
                **({"challenge": challenge.pk} if challenge is not None else {}),
            },
            # The inspectorate that recorded it reads it too: a challenge's requester may be another country's.
            parties=sorted({facility.operator.code, org.code}),
        )
        inspection.save(update_fields=["log_index"])
        as_logged(resolved, mark, inspection.log_index)
        _store_items(InspectionItem, ChiplessInspectionItem, "inspection", inspection, rows, resolved, clusters)
        # An inspectorate vouches for chips in its own jurisdictions only: a chip the books place in another
        # country, listed here, is a finding at this site, not a verification the other country relies on.
        refresh_verification([v[0] for v in resolved.values()], performed_at, countries=countries)
        found = compare(
            facility_at(facility, performed_at),
            InspectionItem.objects.filter(inspection=inspection),
            ChiplessInspectionItem.objects.filter(inspection=inspection),
            FindingSource.INSPECTION,
            str(inspection.pk),
        )
        raise_findings(
            found,
            facility=facility,
            evidence={"log_index": inspection.log_index, "performed_at": performed_at.isoformat()},
        )
        sealed = sealing.store_and_compare(
            seal_rows,
            inspection=inspection,
            challenge=challenge,
            previous=sealing.previous_at_facility(inspection),
            facility=facility,
            source=FindingSource.INSPECTION,
            source_id=str(inspection.pk),
            log_index=inspection.log_index,
        )
        # A lost or stolen chip an inspector saw is a critical finding (inventory.services.watch).
        from inventory.services import watch

        watch.raise_sightings(
            resolved,
            source=FindingSource.INSPECTION,
            source_id=str(inspection.pk),
            country=facility.country,
            when=performed_at,
            log_index=inspection.log_index,
        )
        raise_for_holders(
            resolved,
            facility,
            source=FindingSource.INSPECTION,
            source_id=str(inspection.pk),
            evidence={
                "log_index": inspection.log_index,
                "performed_at": performed_at.isoformat(),
                "inspection": inspection.pk,
            },
        )
    counts = _count(found)
    for kind in sealed:
        counts[str(kind)] = counts.get(str(kind), 0) + 1
    return inspection, {"observed": len(rows), "findings": counts, "log_index": inspection.log_index}


def refresh_verification(chip_pks, when, resolution=None, countries=None):
    """Continuity of knowledge: the chips were seen at `when` (never moves the time back).

    With a `resolution` (a timedelta), a time less than that much older is left as it is. With
    `countries`, only chips that lie in one of them (an inspectorate's jurisdictions) are touched.
    The registry writes chip rows: this is registry.chip_writes.refresh_last_verified."""
    refresh_last_verified(chip_pks, when, resolution, countries)


def _count(found):
    counts = {}
    for d in found:
        counts[str(d.kind)] = counts.get(str(d.kind), 0) + 1
    return counts
