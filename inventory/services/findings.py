"""Turning discrepancies into stored findings (idempotently)."""

from inventory.models import Finding
from outbox import emit

BATCH = 5000


def raise_findings(discrepancies, *, facility=None, organisation=None, country="", other_country="", evidence=None):
    """Store one finding per discrepancy; a finding already raised from the same source is kept, not repeated."""
    base = dict(evidence or {})
    rows = [
        Finding(
            kind=d.kind,
            chip_id=d.chip_pk,
            chip_ref=d.chip_ref,
            facility=facility,
            organisation=organisation if organisation is not None else getattr(facility, "operator", None),
            country=country or getattr(facility, "country", ""),
            other_country=other_country,
            source=d.source,
            source_id=d.source_id,
            detail=describe(d),
            evidence={**base, "book_cluster": d.book_cluster, "listed_cluster": d.listed_cluster},
        )
        for d in discrepancies
    ]
    Finding.objects.bulk_create(rows, batch_size=BATCH, ignore_conflicts=True)
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
    }.get(d.kind, d.kind)
    return f"{d.chip_ref or 'transfer'}: {where} ({d.source} {d.source_id})."
