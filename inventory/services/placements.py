"""Moving chips in the placement history, in bulk."""

from itertools import islice

from django.db import connection
from django.db.models import Count

from core.copy import NULL, copy_lines, text_value
from core.lookups import Array, array_param
from core.rawsql import execute, fetch_all
from inventory.choices import PlacementSource
from inventory.models import Placement
from outbox import emit
from registry.models import Chip

CHUNK = 10_000  # SQLite caps the parameters of one statement


def place(chips, facility, when, source, source_id, log_index=None, open_rows=None):
    """Place chips in `facility` from `when`.

    `chips` maps chip pk -> cluster pk (or None), as a dict or (pk, cluster) pairs. A chip already open in the
    same place is left alone; one open elsewhere is closed at `when`; one
    whose open placement starts after `when` keeps its newer placement (the
    later knowledge wins) and is returned as superseded.
    `open_rows`: the chips' open placements as _open_rows reads them (at `when`), when the caller read
    them already (one chunk of chips at most).
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
            rows = _open_rows([chip_id for chip_id, _ in chunk_pairs], when)
        elif len(chunk_pairs) < CHUNK:
            rows = open_rows
        else:
            raise ValueError("place: open placements read beforehand cover one chunk of chips at most")
        current = {chip_id: (pk, fac, clu, newer) for pk, chip_id, fac, clu, newer in rows}
        close, new = [], []
        for chip_id, cluster_id in chunk_pairs:
            row = current.get(chip_id)
            if row is not None:
                pk, fac, clu, newer = row
                if fac == facility.pk and clu == cluster_id:
                    unchanged += 1
                    continue
                if newer:
                    superseded += 1
                    continue
                close.append(pk)
                touched.add(fac)
            new.append((chip_id, facility.pk, cluster_id, when, source, str(source_id), log_index))
        if close:
            _close(close, when)
        _insert(new)
        moved += len(new)
        if new:
            changed = _move_country([row[0] for row in new], facility.country)
            operator_countries |= _operator_countries(changed, facility.country)
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


# Hand-written on PostgreSQL (a node agent's statement runs these every time; see core.rawsql),
# the ORM's versions elsewhere.


def _open_rows(chip_pks, when):
    """(id, chip_id, facility_id, cluster_id, whether it starts after `when`) of the chips' open placements.

    The comparison is the database's: loading a timestamp costs the client more than the rest of the
    row (a million-chip statement reads a million open placements)."""
    if connection.vendor != "postgresql":
        rows = Placement.objects.filter(chip_id__any=Array(chip_pks), valid_to__isnull=True).values_list(
            "id", "chip_id", "facility_id", "cluster_id", "valid_from"
        )
        return [(pk, chip, fac, clu, since > when) for pk, chip, fac, clu, since in rows]
    return fetch_all(
        "SELECT id, chip_id, facility_id, cluster_id, valid_from > %s FROM inventory_placement"
        " WHERE chip_id = ANY(%s::bigint[]) AND valid_to IS NULL",
        [when, array_param(chip_pks)],
    )


def _close(placement_pks, when):
    if connection.vendor != "postgresql":
        Placement.objects.filter(pk__any=Array(placement_pks)).update(valid_to=when)
        return
    execute(
        "UPDATE inventory_placement SET valid_to = %s WHERE id = ANY(%s::bigint[])",
        [when, array_param(placement_pks)],
    )


def set_country(chip_pks, country):
    """A chip's country follows its placement (and its facility's country). Returns the operator-country
    keys of the chips that changed country ("custodian:country", before and after)."""
    return _operator_countries(_move_country(chip_pks, country), country)


def _move_country(chip_pks, country):
    """Set the chips' country; (custodian, old country, how many) of those that changed."""
    if connection.vendor != "postgresql":
        changed = Chip.objects.filter(pk__any=Array(chip_pks)).exclude(country=country)
        pairs = list(changed.values_list("custodian_id", "country").annotate(n=Count("id")).order_by())
        changed.update(country=country)
        return pairs
    # The self-join reads the rows as they were before this statement: the old countries.
    return fetch_all(
        "WITH moved AS (UPDATE registry_chip c SET country = %s FROM registry_chip o"
        " WHERE o.id = c.id AND c.id = ANY(%s::bigint[]) AND c.country <> %s"
        " RETURNING c.custodian_id, o.country AS was)"
        " SELECT custodian_id, was, count(*) FROM moved GROUP BY custodian_id, was",
        [country, array_param(chip_pks), country],
    )


def _operator_countries(pairs, country):
    keys = set()
    for custodian, was, _ in pairs:
        if custodian is not None:
            keys |= {f"{custodian}:{cc}" for cc in (was, country) if cc}
    return keys


_COLUMNS = ("chip_id", "facility_id", "cluster_id", "valid_from", "source", "source_id", "log_index")


def _insert(rows):
    """New placement rows: COPY on PostgreSQL, bulk inserts elsewhere (no model object per row)."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        # One place, time and source per call: only the chip and the cluster vary, and they are ints.
        _, facility_id, _, when, source, source_id, log_index = rows[0]
        tail = "\t".join(text_value(v) for v in (when, source, source_id, log_index)) + "\n"
        lines = (
            f"{chip}\t{facility_id}\t{NULL if cluster is None else cluster}\t{tail}" for chip, _, cluster, *_ in rows
        )
        with connection.cursor() as cursor:
            copy_lines(cursor.cursor, "inventory_placement", _COLUMNS, lines)
        return
    Placement.objects.bulk_create([Placement(**dict(zip(_COLUMNS, row, strict=True))) for row in rows], batch_size=5000)


def unplace(chip_pks, when):
    """Close the open placements of chips leaving their facility (shipped)."""
    touched = set()
    for start in range(0, len(chip_pks), CHUNK):
        open_rows = Placement.objects.filter(
            chip_id__any=Array(chip_pks[start : start + CHUNK]), valid_to__isnull=True, valid_from__lte=when
        )
        touched |= set(open_rows.values_list("facility_id", flat=True).distinct())
        open_rows.update(valid_to=when)
    if touched:
        emit("placements.changed", facilities=sorted(touched), operator_countries=[])  # no chip changes country


def facility_at(facility, when):
    """The book inventory: placements of `facility` valid at `when`."""
    return Placement.objects.at(when).filter(facility=facility)


def chip_at(chip, when):
    return Placement.objects.at(when).filter(chip=chip).select_related("facility", "cluster").first()
