"""A shipment dated before the shipper's own statements about its chips is refused (inventory.hooks "chips.shipping").

A shipment closes the chips' placements at the `shipped_at` the shipper gives. Dated back before work or sightings
its own statements reported at its sites, it would close them under that work: the clusters' windows would forget
it (compliance.storage's _USAGE) while the registry holds signed statements that the chips worked there. The
statements came first and are in the log; the shipment's date is the shipper's word against them, so it is
refused (409 `shipped_before_reported`, nothing shipped) and may be given again with a date after them.

What counts against it, at the facility each chip leaves only (its open placement's, the shipper's own: another
party's word about the chips says nothing of when this shipper let them go, and work at the destination after the
date is what the shipment says happened): a sighting after `shipped_at`, and usage whose period began at or after
it (a period that began before the chips left and ended after may be the last hour they worked).
"""

from django.db.models import Exists, Max, OuterRef

from attestations.models import Sighting, UsageRecord
from core.errors import Conflict
from core.lookups import Array
from inventory.models import Placement
from protocol.times import format_time

CHUNK = 10_000  # chips per query: a million-chip shipment reads in bounded memory
# The row's chip is placed, open, at the row's facility: the placement the shipment would close.
_leaving = Placement.objects.filter(chip_id=OuterRef("chip_id"), facility_id=OuterRef("facility_id"), valid_to=None)


def refuse_shipment_before_reports(chip_pks, shipper, shipped_at):
    reported, latest = set(), None
    for start in range(0, len(chip_pks), CHUNK):
        chunk = Array(list(chip_pks[start : start + CHUNK]))
        for rows, column in (
            (Sighting.objects.filter(chip_id__any=chunk, observed_at__gt=shipped_at), "observed_at"),
            (UsageRecord.objects.filter(chip_id__any=chunk, period_start__gte=shipped_at), "period_start"),
        ):
            rows = rows.filter(facility__operator_id=shipper.pk).filter(Exists(_leaving))
            for chip, at in rows.values_list("chip_id").annotate(at=Max(column)).order_by():
                reported.add(chip)
                latest = at if latest is None else max(latest, at)
    count = len(reported)
    if count:
        raise Conflict(
            f"{count} chip(s) were reported at {shipper.code}'s facilities after the shipped_at given, the latest at "
            f"{format_time(latest)} (its own statements, in the log): a shipment cannot be dated before them; "
            "nothing was shipped.",
            code="shipped_before_reported",
            latest=format_time(latest),
        )
