"""A shipment dated before the shipper's own statements about its chips is refused (inventory.hooks "chips.shipping");
so is a declaration that would move chips out of their placement from before work its operator reported on them
(inventory.hooks "chips.declaring", 409 `declared_before_reported`), and a statement, which is never refused, moves
them after that work (reported_after, placements.place's `reported`).

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

from itertools import islice

from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from attestations.models import Sighting, UsageRecord
from core.errors import Conflict
from core.lookups import Array
from inventory import storage
from inventory.models import Placement
from protocol.times import format_time

CHUNK = 10_000  # chips per query: a million-chip shipment reads in bounded memory


def _latest_sighting_after(when, operator_id=None):
    """A subquery of placements: the newest sighting of the placement's chip at its facility after `when` (by
    `operator_id`'s statements, when given), read backwards along (chip, observed_at) from the newest: one row
    or a few a chip, where an aggregate read every sighting since (a chip its node agents see every few minutes
    has a hundred thousand a year)."""
    rows = Sighting.objects.filter(chip_id=OuterRef("chip_id"), facility_id=OuterRef("facility_id"))
    rows = rows.filter(observed_at__gt=when)
    if operator_id is not None:
        rows = rows.filter(attestation__operator_id=operator_id)
    return Subquery(rows.order_by("-observed_at").values("observed_at")[:1])


def _latest_work_end_after(when, operator_id):
    """A subquery of placements: the latest end of work `operator_id`'s statements reported on the placement's
    chip in a period beginning at or after `when`, read backwards along (chip, period_end) from the newest end:
    one row or a few a chip, where an aggregate read every record since `when`."""
    rows = UsageRecord.objects.filter(chip_id=OuterRef("chip_id"), period_start__gte=when)
    rows = rows.filter(attestation__operator_id=operator_id)
    return Subquery(rows.order_by("-period_end").values("period_end")[:1])


def _latest_work_start_at_facility_after(when):
    """A subquery of placements: the latest start of work reported on the placement's chip at its facility at or
    after `when`, read backwards along (chip, period_start) from the newest."""
    rows = UsageRecord.objects.filter(chip_id=OuterRef("chip_id"), facility_id=OuterRef("facility_id"))
    rows = rows.filter(period_start__gte=when)
    return Subquery(rows.order_by("-period_start").values("period_start")[:1])


def _newest_reports(placements, worked, seen):
    """{chip pk: the later of `worked` and `seen`} (subqueries of a placement) for the `placements` with either:
    one query."""
    rows = (
        placements.annotate(worked=worked, seen=seen)
        .filter(Q(worked__isnull=False) | Q(seen__isnull=False))
        .values_list("chip_id", "worked", "seen")
        .order_by()
    )
    return {chip: max(at for at in (w, s) if at is not None) for chip, w, s in rows}


def reported_after(operator_id, chip_pks, when):
    """{chip pk: the latest time `operator_id`'s own statements put the chip where the books have it open, after
    `when`}: the end of a period of work it reported on the chip beginning at or after `when`, or a sighting of it
    at the facility of its open placement after `when`. That is the time a statement of that operator dated `when`
    moves the chip out of its open placement (placements.place's `reported`), not before what its own earlier
    statements put where the books had the chip. Dated back under that work (a statement's `observed_at` has no
    lower bound), the move would close the placement under it and take the work out of the cluster's windows after
    its alert was raised; dated back before a later sighting there, it would have the books contradict the
    speaker's own signed word at that time (and reconcile later listings against the wrong place). A shipment dated
    so is refused (`shipped_before_reported`), a statement is never refused (ATTESTATION.md 5), so its move waits.
    A period that began before `when` is left where it is: the placement closed at `when` still overlaps it. One
    query for the chips that would move (none on a node agent's statement of chips already where they are), which
    reads a few rows a chip however far back `when` lies (the newest sighting and the newest end of work, each
    read backwards along its index)."""
    placements = Placement.objects.filter(chip_id__any=Array(list(chip_pks)), valid_to=None)
    found = _newest_reports(
        placements, _latest_work_end_after(when, operator_id), _latest_sighting_after(when, operator_id)
    )
    # A period may end up to the allowed clock skew ahead (ATTESTATION.md 4): no move is dated in the future (the
    # placement closed now still overlaps that period).
    latest = timezone.now()
    return {chip: min(at, latest) for chip, at in found.items()}


def refuse_declaration_before_reports(placeable, facility, as_of):
    """409 `declared_before_reported` (the caller's transaction, log entry included, rolls back) for a declaration
    that would move chips out of an open placement at an `as_of` before the start of work its operator reported on
    them, or before its own later sightings of them there (reported_after): it would close their placement under
    that work and take the work out of its cluster's windows after the fact (an alert raised on them falling with
    it), as a shipment dated so would (`shipped_before_reported`). `placeable`: {chip pk: cluster pk or None}, the
    chips the declaration would place. The chips are compared with their open placement first (one query a
    chunk, in the database), and the reports of those that would leave one only are read (one query each): the
    chips a declaration re-lists where they are, a big operator's million, have every sighting of their node
    agents since `as_of` at their facility, and reading those under the log's lock set none of them aside."""
    latest = None
    pairs = iter(placeable.items())
    while chunk := list(islice(pairs, CHUNK)):
        leaving = [
            chip
            for chip, _, open_pk, _, newer in storage.placements_to_move(chunk, facility.pk, as_of)
            if open_pk is not None and not newer
        ]
        for at in (reported_after(facility.operator_id, leaving, as_of) if leaving else {}).values():
            latest = at if latest is None else max(latest, at)
    if latest is not None:
        raise Conflict(
            f"Chips this declaration would move at {format_time(as_of)} worked or were seen where the books have "
            f"them until {format_time(latest)}, by {facility.operator.code}'s own statements (in the log): a "
            "declaration cannot be dated back under them; nothing was recorded.",
            code="declared_before_reported",
            latest=format_time(latest),
        )


def refuse_shipment_before_reports(chip_pks, shipper, shipped_at):
    reported, latest = set(), None
    for start in range(0, len(chip_pks), CHUNK):
        chunk = Array(list(chip_pks[start : start + CHUNK]))
        # At the shipper's facility each chip leaves (its open placement): the newest sighting and the latest
        # start of work of each chip, each read backwards along its index.
        leaving = Placement.objects.filter(chip_id__any=chunk, valid_to=None, facility__operator_id=shipper.pk)
        found = _newest_reports(
            leaving, _latest_work_start_at_facility_after(shipped_at), _latest_sighting_after(shipped_at)
        )
        reported.update(found)
        if found:
            newest = max(found.values())
            latest = newest if latest is None else max(latest, newest)
    count = len(reported)
    if count:
        raise Conflict(
            f"{count} chip(s) were reported at {shipper.code}'s facilities after the shipped_at given, the latest at "
            f"{format_time(latest)} (its own statements, in the log): a shipment cannot be dated before them; "
            "nothing was shipped.",
            code="shipped_before_reported",
            latest=format_time(latest),
        )
