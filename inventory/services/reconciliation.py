"""The material balance of a facility at a date.

Book inventory (the placement history: what registrations, transfers and
declarations put there) against each physical inventory: the latest
declaration, the latest complete location attestation (stored as a
declaration with an attestation id) and the latest inspection, all at or
before the date. Every difference is computed by the database (anti-joins
on indexed columns), never by loading the facility into Python.
"""

from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef

from inventory import storage
from inventory.choices import FindingKind, FindingSource, TransferStatus
from inventory.models import (
    ChiplessDeclarationItem,
    ChiplessInspectionItem,
    Declaration,
    DeclarationItem,
    Inspection,
    InspectionItem,
    Placement,
    TransferItem,
)
from inventory.services.placements import facility_at


@dataclass
class Discrepancy:
    kind: str
    chip_ref: str
    chip_pk: int | None
    source: str
    source_id: str
    book_cluster: str | None = None
    listed_cluster: str | None = None
    note: str | None = None  # what the finding's detail says instead of its kind's stock phrase


@dataclass
class Reconciliation:
    facility: object
    at: object
    book_count: int
    sources: dict = field(default_factory=dict)  # name -> {"id", "date", "listed", counts...}
    discrepancies: list = field(default_factory=list)


def latest_listings(facility, at):
    declared = (
        Declaration.objects.filter(facility=facility, as_of__lte=at, attestation_id="")
        .order_by("-as_of", "-id")
        .first()
    )
    attested = (
        Declaration.objects.filter(facility=facility, as_of__lte=at)
        .exclude(attestation_id="")
        .order_by("-as_of", "-id")
        .first()
    )
    inspected = (
        Inspection.objects.filter(facility=facility, performed_at__lte=at).order_by("-performed_at", "-id").first()
    )
    return declared, attested, inspected


def _chip_ref_expr():
    from django.db.models import CharField, F, Value
    from django.db.models.functions import Concat

    return Concat(F("chip__manufacturer__code"), Value(":"), F("chip__serial"), output_field=CharField())


def compare(book, items, unknown, source, source_id):
    """Discrepancies between a book queryset (Placement) and a listing: its items (chip, chip_ref, cluster)
    and the references it lists that no chip has (`unknown`, chipless items: chip_ref, cluster).

    Planned without nested loops: a listing's items are often fresh (written in
    this transaction, or before autovacuum analysed them), so the planner thinks
    the table tiny and picks a nested-loop anti-join that is quadratic in the
    facility (a 100,000-chip listing ran for more than ten minutes). These are
    set differences; hash joins are linear.
    """
    with storage.without_nested_loops():
        return _compare(book, items, unknown, source, source_id)


def _compare(book, items, unknown, source, source_id):
    in_listing = items.filter(chip_id=OuterRef("chip_id"))
    on_book = book.filter(chip_id=OuterRef("chip_id"))
    out = []
    missing = (
        book.filter(~Exists(in_listing))
        .annotate(ref=_chip_ref_expr())
        .values_list("chip_id", "ref", "cluster__code")
        .order_by("chip_id")
    )
    out += [
        Discrepancy(FindingKind.UNACCOUNTED, ref, pk, source, source_id, book_cluster=clu) for pk, ref, clu in missing
    ]
    unexpected = items.filter(~Exists(on_book)).values_list("chip_id", "chip_ref", "cluster__code")
    out += [
        Discrepancy(FindingKind.UNEXPECTED, ref, pk, source, source_id, listed_cluster=clu)
        for pk, ref, clu in unexpected.order_by("chip_ref")
    ]
    out += [
        Discrepancy(FindingKind.UNKNOWN_CHIP, ref, None, source, source_id, listed_cluster=clu)
        for ref, clu in unknown.values_list("chip_ref", "cluster__code").order_by("chip_ref")
    ]
    wrong = storage.wrong_clusters(items, book)
    from inventory.models import Cluster

    codes = dict(
        Cluster.objects.filter(pk__in={c for *_, lc, bc in wrong for c in (lc, bc) if c}).values_list("pk", "code")
    )
    out += [
        Discrepancy(
            FindingKind.WRONG_CLUSTER,
            ref,
            pk,
            source,
            source_id,
            book_cluster=codes.get(bc),
            listed_cluster=codes.get(lc),
        )
        for pk, ref, lc, bc in wrong
    ]
    return out


def never_received(facility, at):
    """Chips shipped to this facility (or its operator) by `at` and not received by then."""
    items = TransferItem.objects.filter(
        transfer__destination_facility=facility, transfer__shipped_at__lte=at, shipped=True
    ).exclude(transfer__status=TransferStatus.RECEIVED, transfer__received_at__lte=at, received=True)
    return [
        Discrepancy(FindingKind.NEVER_RECEIVED, ref, pk, FindingSource.TRANSFER, str(tid))
        for pk, ref, tid in items.values_list("chip_id", "chip_ref", "transfer_id").order_by("chip_ref")
    ]


def reconcile(facility, at):
    book = facility_at(facility, at)
    result = Reconciliation(facility=facility, at=at, book_count=book.count())
    declared, attested, inspected = latest_listings(facility, at)
    for name, listing, items, chipless, source in (
        ("declaration", declared, DeclarationItem, ChiplessDeclarationItem, FindingSource.DECLARATION),
        ("attestation", attested, DeclarationItem, ChiplessDeclarationItem, FindingSource.ATTESTATION),
        ("inspection", inspected, InspectionItem, ChiplessInspectionItem, FindingSource.INSPECTION),
    ):
        if listing is None:
            result.sources[name] = None
            continue
        parent = {"declaration" if items is DeclarationItem else "inspection": listing}
        source_id = listing.attestation_id if name == "attestation" else str(listing.pk)
        found = compare(book, items.objects.filter(**parent), chipless.objects.filter(**parent), source, source_id)
        result.discrepancies += found
        result.sources[name] = {
            "id": source_id,
            "date": getattr(listing, "as_of", None) or listing.performed_at,
            "listed": getattr(listing, "chip_count", None) or getattr(listing, "observed_count", 0),
            **{k: sum(1 for d in found if d.kind == k) for k in _COUNTED},
        }
    pending = never_received(facility, at)
    result.discrepancies += pending
    result.sources["transfers"] = {"never_received": len(pending)}
    return result


_COUNTED = (FindingKind.UNACCOUNTED, FindingKind.UNEXPECTED, FindingKind.UNKNOWN_CHIP, FindingKind.WRONG_CLUSTER)

__all__ = ["Placement", "Reconciliation", "compare", "never_received", "reconcile"]
