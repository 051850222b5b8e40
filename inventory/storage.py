"""Inventory's hand-written SQL: the statements a node agent's statement or a million-row listing runs.

Each statement is named here and run by one function with a plain signature;
table and column names come from the models. tests/inventory/test_storage.py
runs each function against its ORM equivalent on the same rows. Chip rows are
not written here: registry.chip_writes owns them.
"""

from contextlib import contextmanager
from functools import cache

from django.db import connection, transaction

from core.copy import NULL, copy_lines, text_value
from core.lookups import array_param, text_array_param
from core.rawsql import execute, fetch_all


def _c(model, name):
    return model._meta.get_field(name).column


@cache
def _names():
    from inventory.models import Placement
    from registry.models import Chip, Organisation

    return {
        "placement": Placement._meta.db_table,
        **{
            f"p_{f}": _c(Placement, f)
            for f in ("id", "chip", "facility", "cluster", "valid_from", "valid_to", "source", "source_id", "log_index")
        },
        "chip": Chip._meta.db_table,
        **{f"c_{f}": _c(Chip, f) for f in ("id", "serial", "custodian", "status", "country", "manufacturer")},
        "org": Organisation._meta.db_table,
        **{f"o_{f}": _c(Organisation, f) for f in ("id", "code", "kind")},
    }


@cache
def _sql(template):
    """A statement's text with the model's names filled in (once per statement)."""
    return template.format(**_names())


# --- chip resolution ---------------------------------------------------------------------------

# The manufacturer is looked up by code inside the query: one round trip less, for every statement. Each serial
# is looked up by the (manufacturer, serial) index (a LATERAL subquery the planner cannot flatten: OFFSET 0):
# with the serials as `= ANY(array)` it scanned the whole chip table in parallel for a big statement, on every CPU,
# for every chunk of its chips (half again as much CPU as the lookups, and the wall time of a whole scan per chunk).
_CHIPS_OF_MAKER = (
    "SELECT c.{c_id}, c.{c_serial}, c.{c_custodian}, c.{c_status}, c.{c_country} FROM unnest(%s::text[]) u(serial)"
    " CROSS JOIN LATERAL (SELECT {c_id}, {c_serial}, {c_custodian}, {c_status}, {c_country} FROM {chip}"
    " WHERE {c_manufacturer} = (SELECT m.{o_id} FROM {org} m WHERE m.{o_code} = %s AND m.{o_kind} = %s)"
    " AND {c_serial} = u.serial OFFSET 0) c"
)


def chips_of_maker(maker_code, serials):
    """(pk, serial, custodian_id, status, country) of the registered chips among one manufacturer's serials, in the
    serials' order. A serial is looked up once for each time it is given: callers pass each once (chiprefs)."""
    from registry.choices import OrgKind

    return fetch_all(_sql(_CHIPS_OF_MAKER), [text_array_param(serials), maker_code, str(OrgKind.MANUFACTURER)])


# --- placements --------------------------------------------------------------------------------

# Each chip's open placement looked up by its own index (a LATERAL subquery the planner cannot flatten:
# OFFSET 0): with the chips as `= ANY(array)` the planner scanned the whole table for each chunk of a
# big statement's chips (100 scans of it for a million chips).
_OPEN_PLACEMENTS = (
    "SELECT p.{p_id}, u.chip, p.{p_facility}, p.{p_cluster}, p.{p_valid_from} > %s"
    " FROM unnest(%s::bigint[]) u(chip) CROSS JOIN LATERAL ("
    "SELECT {p_id}, {p_facility}, {p_cluster}, {p_valid_from} FROM {placement}"
    " WHERE {p_chip} = u.chip AND {p_valid_to} IS NULL OFFSET 0) p"
)


def open_placements(chip_pks, when):
    """(id, chip_id, facility_id, cluster_id, whether it starts after `when`) of the chips' open placements.

    The comparison is the database's: loading a timestamp costs the client more than the rest of the
    row (a million-chip statement reads a million open placements)."""
    return fetch_all(_sql(_OPEN_PLACEMENTS), [when, array_param(chip_pks)])


_TO_MOVE = (
    "SELECT u.chip, u.cluster, p.{p_id}, p.{p_facility}, p.{p_valid_from} > %(when)s"
    " FROM unnest(%(chips)s::bigint[], %(clusters)s::bigint[]) WITH ORDINALITY u(chip, cluster, ord)"
    " LEFT JOIN LATERAL (SELECT {p_id}, {p_facility}, {p_cluster}, {p_valid_from} FROM {placement}"
    " WHERE {p_chip} = u.chip AND {p_valid_to} IS NULL OFFSET 0) p ON true"
    " WHERE p.{p_id} IS NULL OR p.{p_facility} <> %(facility)s OR p.{p_cluster} IS DISTINCT FROM u.cluster"
    " ORDER BY u.ord"
)


def placements_to_move(pairs, facility_id, when):
    """Of `pairs` (chip pk, cluster pk or None), those whose chip is not open in that facility and cluster:
    (chip pk, cluster pk, its open placement's id, facility and whether it starts after `when`, or three
    None where it has none), in the pairs' order.

    The comparison is the database's: a big operator's periodic statement re-attests a million chips
    where they already are, and reading their million open placements back only to find them unchanged
    cost more than the rest of its placements."""
    chips, clusters = [], []
    for chip, cluster in pairs:
        chips.append(chip)
        clusters.append(cluster)
    params = {"chips": array_param(chips), "clusters": _int_array(clusters), "when": when, "facility": facility_id}
    return fetch_all(_sql(_TO_MOVE), params)


# placements_to_move's rows, and the chips among them with no open placement placed in the same statement; the chip
# rows are read only for those pending (a re-attestation of placed chips reads none): whether `holder` (when
# named) holds each at one of `statuses`, its country (placements.place moves the chips whose country changes).
_PLACE_NEW = (
    "WITH u AS MATERIALIZED (SELECT u.chip, u.cluster, u.ord, p.{p_id} AS open_id, p.{p_facility} AS open_facility,"
    " p.{p_valid_from} > %(when)s AS newer"
    " FROM unnest(%(chips)s::bigint[], %(clusters)s::bigint[]) WITH ORDINALITY u(chip, cluster, ord)"
    " LEFT JOIN LATERAL (SELECT {p_id}, {p_facility}, {p_cluster}, {p_valid_from} FROM {placement}"
    " WHERE {p_chip} = u.chip AND {p_valid_to} IS NULL OFFSET 0) p ON true"
    " WHERE p.{p_id} IS NULL OR p.{p_facility} <> %(facility)s OR p.{p_cluster} IS DISTINCT FROM u.cluster),"
    " c AS MATERIALIZED (SELECT u.*, c.ok, c.country FROM u LEFT JOIN LATERAL ("
    "SELECT (%(holder)s::bigint IS NULL OR ({c_custodian} = %(holder)s::bigint"
    " AND {c_status} = ANY(%(statuses)s::text[]))) AS ok, {c_country} AS country"
    " FROM {chip} WHERE {c_id} = u.chip OFFSET 0) c ON true),"
    " new AS (INSERT INTO {placement} ({p_chip}, {p_facility}, {p_cluster}, {p_valid_from}, {p_source},"
    " {p_source_id}, {p_log_index})"
    " SELECT chip, %(facility)s, cluster, %(when)s, %(source)s, %(source_id)s, %(log_index)s FROM c"
    " WHERE open_id IS NULL AND ok ORDER BY ord RETURNING 1)"
    " (SELECT 1, chip, cluster, open_id, open_facility, newer FROM c WHERE ok AND open_id IS NOT NULL ORDER BY ord)"
    " UNION ALL SELECT 2, chip, NULL, NULL, NULL, NULL FROM c WHERE ok AND open_id IS NULL AND country <> %(country)s"
    " UNION ALL SELECT 3, count(*) FILTER (WHERE ok AND open_id IS NULL), NULL, NULL, NULL, NULL FROM c"
)


def place_new(pairs, facility_id, country, when, source, source_id, log_index, holder=None, statuses=()):
    """Of `pairs` (chip pk, cluster pk or None), the chips with no open placement placed in `facility_id` from
    `when`, in the same statement that reads the others: (to_move, recountried, placed). `to_move`: those open
    elsewhere or in another cluster, as placements_to_move gives them (chip pk, cluster pk, its open placement's
    id, facility and whether it starts after `when`); `recountried`: the pks of the chips placed whose country is
    not `country`; `placed`: how many were. With a `holder`, only the chips it holds at one of `statuses` are
    placed or returned (a caller that resolved them before the log's lock: read again here, under it).

    The chip rows are read, not written (registry.chip_writes moves their country). The placements written are
    the chunk's chips with none open, in the pairs' order (placements.place then writes those moving from
    elsewhere: their ids come after); a pk the registry does not have is left alone (callers pass resolved
    chips). One round trip a chunk instead of a read, a COPY and a read of the chips' countries."""
    chips, clusters = [], []
    for chip, cluster in pairs:
        chips.append(chip)
        clusters.append(cluster)
    params = {
        "chips": array_param(chips),
        "clusters": _int_array(clusters),
        "when": when,
        "facility": facility_id,
        "country": country,
        "source": str(source),
        "source_id": str(source_id),
        "log_index": log_index,
        "holder": holder,
        "statuses": [str(s) for s in statuses],
    }
    to_move, recountried, placed = [], [], 0
    for kind, *row in fetch_all(_sql(_PLACE_NEW), params):
        if kind == 1:
            to_move.append(tuple(row))
        elif kind == 2:
            recountried.append(row[0])
        else:
            placed = row[0]
    return to_move, recountried, placed


def _int_array(values):
    """An array literal of ints and NULLs (array_param takes ints only)."""
    return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"


_CLOSE_PLACEMENTS = (
    "UPDATE {placement} p SET {p_valid_to} = u.at"
    " FROM unnest(%s::bigint[], %s::timestamptz[]) u(id, at) WHERE p.{p_id} = u.id"
)


def close_placements(placement_pks, times):
    """Close placements, each at its own time (`times`, aligned with `placement_pks`), in one statement:
    a backdated statement moves each chip at its speaker's own latest sighting, so a chunk's times may
    all differ."""
    texts = {}
    literal = text_array_param([texts.get(t) or texts.setdefault(t, t.isoformat()) for t in times])
    execute(_sql(_CLOSE_PLACEMENTS), [array_param(placement_pks), literal])


_CLOSE_OPEN_OF_CHIPS = (
    "WITH closed AS (UPDATE {placement} SET {p_valid_to} = %s"
    " WHERE {p_chip} = ANY(%s::bigint[]) AND {p_valid_to} IS NULL AND {p_valid_from} <= %s"
    " RETURNING {p_facility} AS facility)"
    " SELECT DISTINCT facility FROM closed"
)


def close_open_placements_of(chip_pks, when):
    """Close the chips' placements open at `when`; return the distinct facility ids they were in."""
    return {f for (f,) in fetch_all(_sql(_CLOSE_OPEN_OF_CHIPS), [when, array_param(chip_pks), when])}


_PLACEMENT_COLUMNS = ("chip", "facility", "cluster", "valid_from", "source", "source_id", "log_index")


def copy_placements(rows, facility_id, source, source_id, log_index):
    """New open placements in one facility from one source: `rows` (chip pk, cluster pk or None, valid_from).
    COPY's text format built here: the chip and the cluster are ints, and a row's time is formatted again only
    where it differs from the row before's (a statement's rows mostly share one)."""
    from inventory.models import Placement

    tail = "\t".join(text_value(v) for v in (source, str(source_id), log_index)) + "\n"

    def lines():
        last = stamp = None
        for chip, cluster, at in rows:
            if at is not last:
                last, stamp = at, f"\t{text_value(at)}\t{tail}"
            yield f"{chip}\t{facility_id}\t{NULL if cluster is None else cluster}{stamp}"

    columns = [_c(Placement, f) for f in _PLACEMENT_COLUMNS]
    with connection.cursor() as cursor:
        return copy_lines(cursor.cursor, Placement._meta.db_table, columns, lines())


# --- listings ----------------------------------------------------------------------------------


def copy_listing_items(model, chipless_model, parent_field, values):
    """A declaration's or inspection's items: `values` (parent pk, chip pk or None, chip ref, cluster pk or
    None). The listed chips the registry knows go to `model` as one COPY stream, whatever the size (a
    million-row inspection); the references it does not know, set aside in the same pass, to
    `chipless_model` (a second COPY, only when there are any). Returns the count of both.

    COPY's text format built here (about twice as fast as adapting every value): the ids are ints; the
    chip refs are normalised to a safe alphabet already, and escaped anyway (cheap, and this writer
    cannot see where its rows came from)."""
    chipless = []

    def known():
        for p, c, r, cl in values:
            if c is None:
                chipless.append(f"{p}\t{text_value(r)}\t{NULL if cl is None else cl}\n")
            else:
                yield f"{p}\t{c}\t{text_value(r)}\t{NULL if cl is None else cl}\n"

    columns = [_c(model, f) for f in (parent_field, "chip", "chip_ref", "cluster")]
    with connection.cursor() as cursor:
        count = copy_lines(cursor.cursor, model._meta.db_table, columns, known())
        if chipless:
            columns = [_c(chipless_model, f) for f in (parent_field, "chip_ref", "cluster")]
            count += copy_lines(cursor.cursor, chipless_model._meta.db_table, columns, chipless)
    return count


# --- campuses ----------------------------------------------------------------------------------


def lock_campuses():
    """One regrouping of campuses at a time, until the transaction ends."""
    execute("SELECT pg_advisory_xact_lock(hashtext('chipreg:campuses'))", [])


# --- reconciliation ----------------------------------------------------------------------------


@contextmanager
def without_nested_loops():
    """Plan the enclosed queries without nested loops (in a transaction; restored at its end).

    A listing's items are often fresh (written in this transaction, or before autovacuum analysed
    them), so the planner thinks the table tiny and picks a nested-loop anti-join that is quadratic in
    the facility (a 100,000-chip listing ran for more than ten minutes). Set differences want hash joins.
    """
    with transaction.atomic():
        execute("SET LOCAL enable_nestloop = off", [])
        try:
            yield
        finally:
            execute("SET LOCAL enable_nestloop = on", [])


def wrong_clusters(items, book):
    """(chip_id, chip_ref, listed cluster_id, book cluster_id) of the listed chips whose listing names a
    cluster the book does not place them in, by chip ref: one join of the listing with the book (not a
    subquery per listed chip). `items` and `book` are querysets (listing items, placements)."""
    items_sql, items_params = items.values("chip_id", "chip_ref", "cluster_id").query.sql_with_params()
    book_sql, book_params = book.values("chip_id", "cluster_id").query.sql_with_params()
    # Both subqueries are Django-compiled SQL; every value travels as a parameter.
    return fetch_all(
        f"SELECT i.chip_id, i.chip_ref, i.cluster_id, b.cluster_id FROM ({items_sql}) i"  # noqa: S608
        f" JOIN ({book_sql}) b ON b.chip_id = i.chip_id"
        " WHERE i.cluster_id IS NOT NULL AND (b.cluster_id IS NULL OR b.cluster_id <> i.cluster_id)"
        " ORDER BY i.chip_ref",
        [*items_params, *book_params],
    )
