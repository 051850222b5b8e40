"""Turning discrepancies into stored findings (idempotently), and resolving them (logged).

A finding about a registered chip is stored in Finding, any other in ChiplessFinding (inventory.models.findings
says why); `new_finding` picks the table and `store_findings` writes both, so no caller chooses.
"""

from itertools import islice

from django.db import transaction
from django.utils import timezone

from core.bulk import insert_rows
from core.errors import Conflict, Forbidden
from inventory.access import require_own_country
from inventory.choices import FindingKind, FindingSource
from inventory.models import ChiplessFinding, Finding
from outbox import emit
from registry.choices import OrgKind
from transparency.events import append_event


def new_finding(*, chip_id=None, **fields):
    """An unsaved finding in the table it belongs to: Finding about a chip, ChiplessFinding about none."""
    return Finding(chip_id=chip_id, **fields) if chip_id is not None else ChiplessFinding(**fields)


def holders_finding(kind, chip, *, source, source_id, detail, evidence, **fields):
    """An unsaved finding about a registered chip, for its holder in the chip's country (the monitors', a loss
    report's, a challenge's sighting): `chip` is (pk, public id, custodian pk, country)."""
    pk, ref, custodian_id, country = chip
    return Finding(
        kind=kind,
        chip_id=pk,
        chip_ref=ref,
        organisation_id=custodian_id,
        country=country or "",
        source=source,
        source_id=source_id,
        detail=detail,
        evidence=evidence,
        **fields,
    )


def store_findings(rows):
    """Insert findings made by new_finding, each into its table; one already raised from the same source is
    kept, not repeated (each table's unique constraint)."""
    for model in (Finding, ChiplessFinding):
        mine = [row for row in rows if type(row) is model]
        insert_rows(model, mine, ignore_conflicts=True)


def raise_monitored(findings, source, source_id, batch=5000):
    """A monitor's findings (an iterable of new_finding rows), stored batch by batch, each batch with a
    `findings.raised` event in its own short transaction. A worker runs the monitor in autocommit: stored alone
    and announced once at the end, a failure in between (a lost connection, the worker killed) left findings
    whose alert waited for the next run or the sweep. One transaction for the whole run would hold its locks
    and its snapshot for minutes over a million chips (a migration of the chips' table, and every statement
    behind it, would wait); per batch, what is committed is announced, and the alerts' handler is idempotent
    (compliance.finding_alerts.raise_for). Returns how many findings the iterable gave (stored now or kept
    from an earlier run)."""
    seen = 0
    findings = iter(findings)
    while rows := list(islice(findings, batch)):
        seen += len(rows)
        with transaction.atomic(savepoint=False):
            store_findings(rows)
            emit("findings.raised", source=str(source), source_id=source_id)
    return seen


def raise_findings(
    discrepancies,
    *,
    facility=None,
    organisation=None,
    other_organisation=None,
    country="",
    other_country="",
    evidence=None,
):
    """Store one finding per discrepancy; a finding already raised from the same source is kept, not repeated."""
    base = dict(evidence or {})
    rows = [
        new_finding(
            kind=d.kind,
            chip_id=d.chip_pk,
            chip_ref=d.chip_ref,
            facility=facility,
            organisation=organisation if organisation is not None else getattr(facility, "operator", None),
            other_organisation=other_organisation,
            country=country or getattr(facility, "country", ""),
            other_country=other_country,
            source=d.source,
            source_id=d.source_id,
            detail=describe(d),
            evidence={**base, "book_cluster": d.book_cluster, "listed_cluster": d.listed_cluster},
        )
        for d in discrepancies
    ]
    # A finding is never committed without the event that raises its alert: their own transaction in a worker's
    # autocommit, the caller's otherwise (no savepoint: a statement's path pays no round trips for it).
    with transaction.atomic(savepoint=False):
        store_findings(rows)
        for source, source_id in sorted({(d.source, d.source_id) for d in discrepancies}):
            emit("findings.raised", source=str(source), source_id=source_id)
    return len(rows)


def describe(d):
    where = {
        "unaccounted": "on the books here but absent from the listing",
        "unexpected": "listed here but not on the books here",
        "unknown_chip": "listed but not registered",
        "wrong_cluster": f"listed in cluster {d.listed_cluster} but on the books in {d.book_cluster}",
        "never_received": "shipped here but never received",
        "received_not_shipped": "received but not in the shipment",
        "received_elsewhere": "received at another facility than the shipper declared",
        "run_unknown": "names a run that was never declared",
        "run_not_own": "names a run another operator declared",
        "run_before_declaration": "reports work for a run from before the run was declared",
        "run_withdrawn": "reports work for a run its operator withdrew",
        "run_objected": "reports work for a run the treaty body objected to",
        "run_prohibited": "reports work for a run recorded as prohibited",
        "run_other_site": "reports work for a run at a facility the run did not declare",
        "run_outside_plan": "reports work for a run outside the run's planned dates",
    }.get(d.kind, d.kind)
    if getattr(d, "note", None):
        where = f"{d.kind}: {d.note}"
    # A finding about no chip is about its source as a whole: a statement's (late_filing, usage_elsewhere,
    # unknown_cluster, a run's), else a transfer's.
    statement = d.source == "attestation" or d.kind.startswith("run_") or d.kind == "unknown_cluster"
    subject = d.chip_ref or ("statement" if statement else "transfer")
    return f"{subject}: {where} ({d.source} {d.source_id})."


def raise_facility_finding(facility, kind, log_index, detail, *, other_country="", evidence=None):
    """A finding about a facility's own record (its country against its coordinates), keyed by the log entry
    that recorded the change, so each change is reported once. Seen by its operator and by the inspectorates
    of its country and of `other_country`."""
    store_findings(
        [
            new_finding(
                kind=kind,
                facility=facility,
                organisation_id=facility.operator_id,
                country=facility.country,
                other_country=other_country if other_country != facility.country else "",
                source=FindingSource.FACILITY,
                source_id=f"{facility.pk}:{log_index}",
                detail=detail,
                evidence={**(evidence or {}), "log_index": log_index},
            )
        ]
    )
    emit("findings.raised", source=str(FindingSource.FACILITY), source_id=f"{facility.pk}:{log_index}")


def raise_left_country(facility, source, source_id, log_index, left):
    """Chips placed in `facility` (a declaration's or a statement's, `source` `source_id`) that lay in other
    countries until now: one finding per country left, seen by its inspectorate and the new one's."""
    rows = []
    for country, count in sorted(left.items()):
        rows.append(
            new_finding(
                kind=FindingKind.LEFT_COUNTRY,
                facility=facility,
                organisation_id=facility.operator_id,
                country=facility.country,
                other_country=country,
                source=str(source),
                source_id=f"{source_id}:{country}",
                detail=(
                    f"{count} chip{'s' if count != 1 else ''} left {country} for {facility.code} ({facility.country}) "
                    f"by {source} {source_id}, not by a transfer."
                ),
                evidence={"log_index": log_index, "from": country, "to": facility.country, "chips": count},
            )
        )
    store_findings(rows)
    for row in rows:
        emit("findings.raised", source=row.source, source_id=row.source_id)


RESOLVERS = (OrgKind.INSPECTORATE, OrgKind.TREATY_BODY)


def resolve_finding(user, finding, reason):
    """Inspectors and treaty bodies resolve a finding they can see; the resolution is a log event.

    The finding stays (resolved, with who and why): findings are never edited away.
    """
    org = user.organisation
    if not user.is_superuser and (org is None or org.kind not in RESOLVERS):
        raise Forbidden("Inspectors and treaty bodies resolve findings.")
    with transaction.atomic():
        # Locked in the table that stores it (the view of both, AnyFinding, cannot be locked or written).
        stored = Finding if finding.chip_id is not None else ChiplessFinding
        finding = (
            stored.objects.select_for_update(of=("self",))
            .select_related("facility", "organisation", "other_organisation")
            .get(pk=finding.pk)
        )
        # A finding is its country's: the inspectorate that reads it as the other country (a lost chip seen across
        # a border is one finding for each country; a transfer's, the origin's, read by the destination's) keeps
        # it in view, but does not close the other country's case.
        require_own_country(user, finding.country)
        from inventory.services.challenges import host_concerned

        if not user.is_superuser and host_concerned(org, finding.source, finding.source_id):
            raise Forbidden(
                "This finding comes from a challenge inspection of a site your inspectorate answers for: the "
                "treaty body resolves it.",
                code="party_concerned",
            )
        if finding.resolved_at is not None:
            raise Conflict("This finding is already resolved.", code="already_resolved")
        finding.resolved_at = timezone.now()
        finding.resolved_by = user
        finding.resolution = reason
        finding.save(update_fields=["resolved_at", "resolved_by", "resolution"])
        parties = {finding.organisation.code} if finding.organisation_id else set()
        if finding.other_organisation_id:
            parties.add(finding.other_organisation.code)
        append_event(
            "finding.resolved",
            f"finding:{finding.pk}",
            {
                "finding": finding.pk,
                "kind": finding.kind,
                "chip": finding.chip_ref,
                "facility": finding.facility.code if finding.facility_id else None,
                "source": finding.source,
                "source_id": finding.source_id,
                "resolved_at": finding.resolved_at.isoformat(),
                "by": user.username,
                "by_organisation": org.code if org else None,
                "reason": reason,
            },
            parties=sorted(parties),
            countries=sorted({finding.country, finding.other_country} - {""}),
        )
    return finding
