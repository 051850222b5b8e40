"""Moving chips in the placement history, in bulk."""

from itertools import islice

from inventory import storage
from inventory.choices import PlacementSource
from inventory.models import Placement
from outbox import emit
from registry.chip_writes import held, move_country
from registry.chip_writes import operator_countries as subjects
from registry.choices import ChipStatus

CHUNK = 10_000  # chips per round trip: bounded memory for a million-chip statement
# The statuses a chip can be placed in: a declaration or statement places only chips its operator holds that
# are not moving or gone (a lost, stolen, destroyed... chip is on no one's books); the rest it lists is a finding.
PLACEABLE = {ChipStatus.MANUFACTURED, ChipStatus.INSTALLED, ChipStatus.DECOMMISSIONED}


def place(chips, facility, when, source, source_id, log_index=None, open_rows=None, holder=None, reported=None):
    """Place chips in `facility` from `when`.

    `chips` maps chip pk -> cluster pk (or None), as a dict or (pk, cluster) pairs. A chip already open in the
    same place is left alone; one open elsewhere is closed at `when`; one
    whose open placement starts after `when` keeps its newer placement (the
    later knowledge wins) and is returned as superseded.
    `open_rows`: the chips' open placements as storage.open_placements reads them (at `when`), when the caller read
    them already (one chunk of chips at most).
    `holder`: the organisation whose word places them (a declaration's or a statement's facility operator). The
    caller resolved the chips before it took the log's lock, and a chip may have changed hands or status since
    (a receipt, a lost report committed in between): only those `holder` still holds at a placeable status are
    moved, read here under the lock; the others stay where the book has them (counted as unchanged).
    `reported`: for a signed statement (never refused for what it says), a function of (chip pks, when) giving
    {chip pk: the time} its speaker's own reports put the chips at the facility they would leave after `when`
    (attestations.kinds.location.reported_after): such a chip moves at that time, not at `when`. Dated back under
    work already reported there, the move would close its placement under that work and take the work out of its
    cluster's window after the fact (an alert's value falling with it); the statement's own sightings keep its
    `observed_at`. Called once per chunk, with the chips that would move out of an open placement only.
    Returns (moved, unchanged, superseded) counts.
    """
    moved = unchanged = superseded = 0
    touched = {facility.pk}
    operator_countries = set()  # the operator-country subjects whose chips changed country
    left = {}  # {country the chips left: how many}
    pairs = iter(chips.items() if isinstance(chips, dict) else chips)
    # A chunk at a time: a million-chip statement passes its chips as a generator of pairs.
    while chunk_pairs := list(islice(pairs, CHUNK)):
        if open_rows is None:
            # The chips with no open placement are placed in the same round trip (`holder`'s only, where one is
            # named, read under the lock); those open elsewhere or in another cluster come back, compared in the
            # database: a re-attestation of a million chips where they are reads none of them back.
            pending, recountry, placed = storage.place_new(
                chunk_pairs, facility.pk, facility.country, when, source, source_id, log_index, holder, PLACEABLE
            )
            unchanged += len(chunk_pairs) - placed - len(pending)
            moved += placed
        elif len(chunk_pairs) < CHUNK:
            pending, recountry = _pending(chunk_pairs, open_rows, facility), []
            unchanged += len(chunk_pairs) - len(pending)
            if holder is not None and pending:
                still = held([row[0] for row in pending], holder, PLACEABLE)
                unchanged += len(pending) - len(still)
                pending = [row for row in pending if row[0] in still]
        else:
            raise ValueError("place: open placements read beforehand cover one chunk of chips at most")
        later = {}
        if reported is not None:
            leaving = [row[0] for row in pending if row[2] is not None and not row[4]]
            later = reported(leaving, when) if leaving else {}
        # A chip whose move waits for the reports it would undo moves later than `when`.
        close_pks, close_at, new = [], [], []
        for chip_id, cluster_id, pk, fac, newer in pending:
            at = max(when, later.get(chip_id, when))
            if pk is not None:
                if newer:
                    superseded += 1
                    continue
                close_pks.append(pk)
                close_at.append(at)
                touched.add(fac)
            new.append((chip_id, cluster_id, at))
        # One statement and one COPY per chunk, whatever the times: a statement dated back over the chips'
        # own later sightings gives each chip its own.
        if close_pks:
            storage.close_placements(close_pks, close_at)
        if new:
            storage.copy_placements(new, facility.pk, source, source_id, log_index)
            moved += len(new)
            recountry += [row[0] for row in new]
        if recountry:
            changed = move_country(recountry, facility.country)
            operator_countries |= subjects(changed, facility.country)
            for _, was, n in changed:
                if was:
                    left[was] = left.get(was, 0) + n
    if left and source != PlacementSource.TRANSFER:
        # The chips left those countries' inspectorates' view; a transfer's events name both countries, a
        # declaration's or statement's only the new one. The old countries keep a finding (inventory.findings).
        from inventory.services.findings import raise_left_country

        raise_left_country(facility, source, source_id, log_index, left)
    if moved:
        # The operator-country totals count chips by custodian and country only: a move within
        # a country leaves them as they were, and recomputing a big operator's costs a scan of its chips.
        emit("placements.changed", facilities=sorted(touched), operator_countries=sorted(operator_countries))
    return moved, unchanged, superseded


def _pending(chunk_pairs, open_rows, facility):
    """placements_to_move's rows for `chunk_pairs`, from their open placements read beforehand (`open_rows`)."""
    current = {chip_id: (pk, fac, clu, newer) for pk, chip_id, fac, clu, newer in open_rows}
    pending = []
    for chip_id, cluster_id in chunk_pairs:
        pk, fac, clu, newer = current.get(chip_id, (None, None, None, False))
        if pk is None or fac != facility.pk or clu != cluster_id:
            pending.append((chip_id, cluster_id, pk, fac, newer))
    return pending


def unplace(chip_pks, when):
    """Close the open placements of chips leaving their facility (shipped)."""
    touched = set()
    for start in range(0, len(chip_pks), CHUNK):
        touched |= storage.close_open_placements_of(chip_pks[start : start + CHUNK], when)
    if touched:
        emit("placements.changed", facilities=sorted(touched), operator_countries=[])  # no chip changes country


def facility_at(facility, when):
    """The book inventory: placements of `facility` valid at `when`."""
    return Placement.objects.at(when).filter(facility=facility)


def chip_at(chip, when):
    return Placement.objects.at(when).filter(chip=chip).select_related("facility", "cluster").first()
