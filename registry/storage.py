"""The registry's hand-written SQL: every statement the registry runs that the ORM does not build.

Each statement is named here and run by one function with a plain signature
(ints, strings, datetimes, lists of them); table and column names come from
the models, so a renamed column fails here, at import, and not in a request.
tests/registry/test_storage.py runs each function against its ORM equivalent
on the same rows.

Why hand-written at all: the token lookup runs on every request and the chip
writes run for every statement a node agent sends or a million-chip
registration; building their queries through the ORM costs more than running
them (see core.rawsql), and COPY and UPDATE ... RETURNING have no ORM form.
"""

import struct
from datetime import UTC, datetime, timedelta
from functools import cache

import psycopg
from django.db import IntegrityError, connection

from core.lookups import array_param
from core.rawsql import Columns, fetch_all, fetch_one, set_related


def _t(model):
    return model._meta.db_table


def _c(model, name):
    return model._meta.get_field(name).column


@cache
def _names():
    """Table and column names of the rows written here, from the models (once: they do not change)."""
    from registry.models import Chip, ChipEvent, ChipIdentity, HardwareIdentity, Organisation, RegistrationBatch

    chip = {f: _c(Chip, f) for f in _CHIP_FIELDS}
    return {
        "chip": _t(Chip),
        "org": _t(Organisation),
        "event": _t(ChipEvent),
        **{f"e_{f}": _c(ChipEvent, f) for f in ("chip", "kind", "log_index")},
        "org_id": _c(Organisation, "id"),
        "org_code": _c(Organisation, "code"),
        "hw": _t(HardwareIdentity),
        **{f"h_{f}": _c(HardwareIdentity, f) for f in ("chip", "identity", "key_sha256")},
        "org_kind": _c(Organisation, "kind"),
        **{f"c_{f}": col for f, col in chip.items()},
        "ident": _t(ChipIdentity),
        **{f"i_{f}": _c(ChipIdentity, f) for f in ("manufacturer", "serial", "chip")},
        "batch": _t(RegistrationBatch),
        **{f"b_{f}": _c(RegistrationBatch, f) for f in _BATCH_FIELDS},
    }


_BATCH_FIELDS = ("id", "organisation", "user", "at", "submitted", "created")


_CHIP_FIELDS = (
    "id",
    "manufacturer",
    "serial",
    "model",
    "status",
    "uuid",
    "board_part_number",
    "attestation_key_fingerprint",
    "custodian",
    "registered_by",
    "country",
    "batch",
    "created_at",
    "updated_at",
    "last_verified_at",
    "hardware_verified_at",
)


@cache
def _sql(template):
    """A statement's text with the model's names filled in ({chip}, {c_serial}, ...)."""
    return template.format(**_names())


# --- authentication -----------------------------------------------------------------------------


@cache
def _token_query():
    from registry.models import Organisation, User
    from registry.models.tokens import APIToken

    token, user, org = Columns(APIToken, "t"), Columns(User, "u"), Columns(Organisation, "o")
    # Only model metadata is spelled into the text; the digest is a parameter.
    sql = (
        f"SELECT {token.sql}, {user.sql}, {org.sql} FROM {_t(APIToken)} t"  # noqa: S608
        f" JOIN {_t(User)} u ON u.{_c(User, 'id')} = t.{_c(APIToken, 'user')}"
        f" LEFT JOIN {_t(Organisation)} o ON o.{_c(Organisation, 'id')} = u.{_c(User, 'organisation')}"
        f" WHERE t.{_c(APIToken, 'digest')} = %s"
    )
    return sql, token, user, org


def token_by_digest(digest):
    """The token with this digest, its user and the user's organisation loaded with it (one join); or None."""
    sql, token_cols, user_cols, org_cols = _token_query()
    row = fetch_one(sql, [digest])
    if row is None:
        return None
    token = token_cols.load(row)
    user = user_cols.load(row, token_cols.width)
    set_related(user, "organisation", org_cols.load(row, token_cols.width + user_cols.width))
    set_related(token, "user", user)
    return token


# --- registration: the batch -------------------------------------------------------------------

# Chips are unique per (manufacturer, serial) in the identity table (registry.models.ChipIdentity), which
# registration writes beside each chip; its probe, its claims and its comparisons read that table.
_OPEN_BATCH = (
    "WITH b AS (INSERT INTO {batch} ({b_id}, {b_organisation}, {b_user}, {b_at}, {b_submitted}, {b_created})"
    " VALUES (%s, %s, %s, %s, %s, 0))"
    " SELECT nextval(pg_get_serial_sequence('{chip}', '{c_id}')),"
    " EXISTS (SELECT 1 FROM {ident} WHERE ({i_manufacturer} = %s AND {i_serial} = %s)"
    " OR ({i_manufacturer} = %s AND {i_serial} = %s))"
)


def open_batch(batch_id, organisation_id, user_id, at, submitted, first, last):
    """Insert a registration batch's row (nothing created yet) and, in the same round trip, answer
    (floor, registered): a chip id below every id this transaction's chips get from here on (copy_new_chips
    finds the chips it wrote by it), and whether the first or the last (manufacturer_id, serial) of the
    batch is a registered chip."""
    return fetch_one(_sql(_OPEN_BATCH), [batch_id, organisation_id, user_id, at, submitted, *first, *last])


# --- registration: new chips --------------------------------------------------------------------

# PostgreSQL's binary COPY format, written directly: no text to escape here and
# none to parse there (the server's parsing of two text timestamps, a UUID and
# four integers per row cost more than the indexes). A row is a field count,
# then each field as a length and its bytes; int8 and timestamptz are 8
# big-endian bytes, the timestamp in microseconds since 2000-01-01 UTC.
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
_COPY_TRAILER = b"\xff\xff"
_ROW_HEAD = struct.Struct(">hiqi").pack  # field count, the manufacturer id (int8), the serial's length
_INT8 = struct.Struct(">iq").pack  # length 8, value
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
COPY_CHUNK = 20_000

_COPY_CHIPS = (
    "COPY {chip} ({c_manufacturer}, {c_serial}, {c_model}, {c_status}, {c_uuid}, {c_board_part_number},"
    " {c_attestation_key_fingerprint}, {c_custodian}, {c_registered_by}, {c_country}, {c_batch}, {c_created_at},"
    " {c_updated_at}) FROM STDIN (FORMAT BINARY)"
)


def _copy_field(text):
    data = text.encode()
    return len(data).to_bytes(4, "big") + data


# The identities of the chips just copied: this batch's chips above the floor open_batch gave (a range of
# the primary key, read back from the pages the COPY just wrote). A plain INSERT, not ON CONFLICT DO
# NOTHING (whose speculative insertion cost twice as much per row): a registered serial is an error
# here, and the caller's savepoint takes the whole copy back.
# In key order: two registrations of the same serials at once (each its own batch, COPYed side by side) then claim
# them in one order, so one waits for the other and answers serial_taken; in the order a scan of the interleaved
# chip pages met them, each could take a key the other wanted first, and both were lost to a deadlock.
_CLAIM_COPIED = (
    "INSERT INTO {ident} ({i_manufacturer}, {i_serial}, {i_chip})"
    " SELECT {c_manufacturer}, {c_serial}, {c_id} FROM {chip} WHERE {c_id} > %s AND {c_batch} = %s"
    " ORDER BY {c_manufacturer}, {c_serial}"
)


class SerialTaken(Exception):
    """A chip copy_new_chips was to write is registered already (its caller's savepoint takes the copy back)."""


def copy_new_chips(rows, custodian_id, country, batch_id, now, floor):
    """COPY new chips straight into the chip table, then their identities; raises SerialTaken if one is
    registered already (run it under a savepoint). `rows`: (row,
    manufacturer_id, serial, model_id, uuid, bpn, fingerprint, status) as registry.registration validates
    them; `batch_id` a UUID; `floor` open_batch's. The custodian registers them."""
    stamp = _INT8(8, (now - _PG_EPOCH) // timedelta(microseconds=1))
    # The columns the server sets: the same for every row.
    tail = (
        _INT8(8, custodian_id)
        + _INT8(8, custodian_id)
        + _copy_field(country)
        + (16).to_bytes(4, "big")
        + batch_id.bytes
        + stamp
        + stamp
    )
    middles = {}  # (model_id, status) -> the fields between serial and tail, for rows without texts

    def middle(model, status, u, b, f):
        return (
            _INT8(8, model) + _copy_field(status) + _copy_field(u or "") + _copy_field(b or "") + _copy_field(f or "")
        )

    with connection.cursor() as cursor:
        with cursor.cursor.copy(_sql(_COPY_CHIPS)) as copy:
            copy.write(_COPY_SIGNATURE)
            for start in range(0, len(rows), COPY_CHUNK):
                chunk = []
                for _, m, serial, model, u, b, f, status in rows[start : start + COPY_CHUNK]:
                    if u is None and b is None and f is None:
                        mid = middles.get((model, status))
                        if mid is None:
                            mid = middles[(model, status)] = middle(model, status, u, b, f)
                    else:
                        mid = middle(model, status, u, b, f)
                    data = serial.encode()
                    chunk.append(_ROW_HEAD(13, 8, m, len(data)) + data + mid + tail)
                copy.write(b"".join(chunk))
            copy.write(_COPY_TRAILER)
        try:
            cursor.execute(_sql(_CLAIM_COPIED), [floor, batch_id])
        except IntegrityError as exc:
            if isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
                raise SerialTaken from exc
            raise


# --- registration: some chips may exist -----------------------------------------------------------

# Each imported row takes its chip id from the chip table's sequence as it is copied in (a row that turns
# out to be registered wastes one: ids need not be dense).
_IMPORT_TABLE = (
    "CREATE TEMP TABLE chip_import (row integer, manufacturer_id bigint, serial text, model_id bigint,"
    " uuid text, board_part_number text, fingerprint text, status text,"
    " chip_id bigint DEFAULT nextval('{seq}'::regclass)) ON COMMIT DROP"
)
_IMPORT_COPY = (
    "COPY chip_import (row, manufacturer_id, serial, model_id, uuid, board_part_number, fingerprint, status) FROM STDIN"
)
# The new rows' identities claimed (ON CONFLICT DO NOTHING: a registered serial, or one registered
# concurrently, which the claim waits for, is skipped) and their chips written with the ids claimed: one
# statement.
_INSERT_IMPORTED = (
    "WITH claimed AS (INSERT INTO {ident} ({i_manufacturer}, {i_serial}, {i_chip})"
    " SELECT manufacturer_id, serial, chip_id FROM chip_import"
    " ON CONFLICT ({i_manufacturer}, {i_serial}) DO NOTHING"
    " RETURNING {i_manufacturer} AS manufacturer_id, {i_serial} AS serial, {i_chip} AS chip_id),"
    " written AS (INSERT INTO {chip} ({c_id}, {c_manufacturer}, {c_serial}, {c_model}, {c_uuid},"
    " {c_board_part_number}, {c_attestation_key_fingerprint}, {c_status}, {c_custodian}, {c_registered_by},"
    " {c_country}, {c_batch}, {c_created_at}, {c_updated_at})"
    " SELECT t.chip_id, t.manufacturer_id, t.serial, t.model_id, coalesce(t.uuid, ''),"
    " coalesce(t.board_part_number, ''), coalesce(t.fingerprint, ''), t.status, %s, %s, %s, %s, %s, %s"
    " FROM chip_import t WHERE t.chip_id IN (SELECT chip_id FROM claimed))"
    " SELECT manufacturer_id, serial FROM claimed"
)


@cache
def _chip_id_sequence():
    """The chip id's sequence by name (DDL takes no parameters): looked up once per process."""
    from registry.models import Chip

    (name,) = fetch_one("SELECT pg_get_serial_sequence(%s, %s)", [_t(Chip), _c(Chip, "id")])
    if not name or "'" in name:
        raise RuntimeError(f"unexpected chip id sequence {name!r}")
    return name


# (row, manufacturer code, serial, and whether model, custodian, uuid, board part number, fingerprint differ)
_IMPORT_CONFLICTS = (
    "SELECT t.row, m.{org_code}, t.serial,"
    " c.{c_model} <> t.model_id, c.{c_custodian} <> %(custodian)s,"
    " t.uuid IS NOT NULL AND t.uuid <> c.{c_uuid},"
    " t.board_part_number IS NOT NULL AND t.board_part_number <> c.{c_board_part_number},"
    " t.fingerprint IS NOT NULL AND t.fingerprint <> c.{c_attestation_key_fingerprint}"
    " FROM chip_import t"
    " JOIN {ident} i ON i.{i_manufacturer} = t.manufacturer_id AND i.{i_serial} = t.serial"
    " JOIN {chip} c ON c.{c_id} = i.{i_chip}"
    " JOIN {org} m ON m.id = t.manufacturer_id"
    " WHERE c.{c_batch} IS DISTINCT FROM %(batch)s AND (c.{c_model} <> t.model_id OR c.{c_custodian} <> %(custodian)s"
    " OR (t.uuid IS NOT NULL AND t.uuid <> c.{c_uuid})"
    " OR (t.board_part_number IS NOT NULL AND t.board_part_number <> c.{c_board_part_number})"
    " OR (t.fingerprint IS NOT NULL AND t.fingerprint <> c.{c_attestation_key_fingerprint}))"
    " ORDER BY t.row LIMIT %(limit)s"
)


def insert_chips_comparing(rows, custodian_id, country, batch_id, now, max_conflicts):
    """Insert the rows that are new (their identities claimed ON CONFLICT DO NOTHING) and compare the
    others with what is stored.

    Returns (new keys [(manufacturer_id, serial)], conflicts): each conflict is (row, manufacturer code,
    serial, model differs, custodian differs, uuid differs, board part number differs, fingerprint differs),
    at most `max_conflicts`, in row order; a chip of this batch (written concurrently) is no conflict. The
    comparison runs after the insert, so a concurrent registration of the same serial (which the insert
    waited for) is compared too.
    """
    with connection.cursor() as cursor:
        cursor.execute(_IMPORT_TABLE.format(seq=_chip_id_sequence()))
        with cursor.cursor.copy(_IMPORT_COPY) as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(_sql(_INSERT_IMPORTED), [custodian_id, custodian_id, country, batch_id, now, now])
        new_keys = cursor.fetchall()
        conflicts = []
        if len(new_keys) < len(rows):
            cursor.execute(
                _sql(_IMPORT_CONFLICTS), {"custodian": custodian_id, "batch": batch_id, "limit": max_conflicts}
            )
            conflicts = cursor.fetchall()
        cursor.execute("DROP TABLE chip_import")
    return new_keys, conflicts


# --- custody, read under the log's lock --------------------------------------------------------

_HELD = "SELECT {c_id} FROM {chip} WHERE {c_id} = ANY(%s::bigint[]) AND {c_custodian} = %s AND {c_status} = ANY(%s)"


def held(chip_pks, custodian_id, statuses):
    """Those of `chip_pks` that `custodian_id` holds at one of `statuses`."""
    return [pk for (pk,) in fetch_all(_sql(_HELD), [array_param(chip_pks), custodian_id, [str(s) for s in statuses]])]


_CURRENT = "SELECT {c_id}, {c_custodian}, {c_status}, {c_country} FROM {chip} WHERE {c_id} = ANY(%s::bigint[])"


def current(chip_pks):
    """(pk, custodian_id, status, country) of the chips, as they are now."""
    return fetch_all(_sql(_CURRENT), [array_param(chip_pks)])


# The chip events logged under entries first <= index < end (each carries the index of the entry that covers it).
_EVENTS_BETWEEN = (
    "SELECT e.{e_chip} FROM {event} e WHERE e.{e_log_index} >= %(first)s AND e.{e_log_index} < %(end)s"
    " AND e.{e_kind} = ANY(%(kinds)s::text[])"
)
_CHANGED_BETWEEN = (
    "SELECT c.{c_id}, c.{c_custodian}, c.{c_status}, c.{c_country} FROM {chip} c WHERE c.{c_id} IN ("  # noqa: S608
    + _EVENTS_BETWEEN
    + ")"
)


def changed_between(first, end, kinds):
    """(pk, custodian_id, status, country), as they are now, of the chips with an event of `kinds` logged under
    an entry from `first` to before `end`."""
    return fetch_all(_sql(_CHANGED_BETWEEN), {"first": first, "end": end, "kinds": list(kinds)})


@cache
def changed_among_sql(first, end, kinds, chips):
    """The SELECT of the chip ids among %(chips)s (an array_param) with an event of %(kinds)s logged under an
    entry from %(first)s to before %(end)s, under these parameter names: for a caller that runs it inside its
    own statement (attestations' node agent round trip)."""
    sql = _sql(_EVENTS_BETWEEN + " AND e.{e_chip} = ANY(%(chips)s::bigint[])")
    for name, given in (("first", first), ("end", end), ("kinds", kinds), ("chips", chips)):
        sql = sql.replace(f"%({name})s", f"%({given})s")
    return sql


# --- chip writes (registry.chip_writes owns them) -----------------------------------------------

# `old` reads the rows as they were before this statement (the old values), each chip looked up once: the
# UPDATE joins only the chips whose country differs (a self-join looked every chip up twice, and most of a
# big statement's chips stay in their country).
_SET_COUNTRY = (
    "WITH old AS (SELECT {c_id} AS id, {c_country} AS country FROM {chip}"
    " WHERE {c_id} = ANY(%s::bigint[]) AND {c_country} <> %s),"
    " moved AS (UPDATE {chip} c SET {c_country} = %s FROM old o WHERE c.{c_id} = o.id"
    " RETURNING c.{c_custodian} AS custodian, o.country AS was)"
    " SELECT custodian, was, count(*) FROM moved GROUP BY custodian, was"
)


def set_country(chip_pks, country):
    """Set the chips' country; return (custodian_id, previous country, how many) of those that changed."""
    return fetch_all(_sql(_SET_COUNTRY), [array_param(chip_pks), country, country])


_SET_STATUS = (
    "UPDATE {chip} c SET {c_status} = %s FROM {chip} o"
    " WHERE o.{c_id} = c.{c_id} AND c.{c_id} = ANY(%s::bigint[]) AND c.{c_status} <> %s"
    " RETURNING c.{c_id}, o.{c_status}"
)


def set_status(chip_pks, status):
    """Set the chips' status; return (chip_id, previous status) of those that changed."""
    return fetch_all(_sql(_SET_STATUS), [status, array_param(chip_pks), status])


_SET_CUSTODY = (
    "UPDATE {chip} c SET {c_custodian} = %s, {c_country} = %s FROM {chip} o"
    " WHERE o.{c_id} = c.{c_id} AND c.{c_id} = ANY(%s::bigint[])"
    " RETURNING c.{c_id}, o.{c_custodian}, o.{c_country}"
)


def set_custody(chip_pks, custodian_id, country):
    """Hand the chips to `custodian_id` in `country`; return (chip_id, previous custodian_id, previous country)."""
    return fetch_all(_sql(_SET_CUSTODY), [custodian_id, country, array_param(chip_pks)])


_SET_MODEL = (
    "UPDATE {chip} c SET {c_model} = %s FROM {chip} o"
    " WHERE o.{c_id} = c.{c_id} AND c.{c_id} = ANY(%s::bigint[]) AND c.{c_model} <> %s"
    " RETURNING c.{c_id}, o.{c_model}"
)


def set_model(chip_pks, model_id):
    """Set the chips' model; return (chip_id, previous model_id) of those that changed."""
    return fetch_all(_sql(_SET_MODEL), [model_id, array_param(chip_pks), model_id])


# Named parameters, so that a caller can run it as one CTE of its own statement (see last_verified_sql).
_REFRESH_VERIFIED = (
    "UPDATE {chip} SET {c_last_verified_at} = %({{when}})s WHERE {c_id} = ANY(%({{chips}})s::bigint[])"
    " AND ({c_last_verified_at} IS NULL OR {c_last_verified_at} < %({{stale_before}})s)"
)


def last_verified_sql(when="when", chips="chips", stale_before="stale_before"):
    """The UPDATE that moves the chips' last verification on to %(when)s where it is older than
    %(stale_before)s (never back), with these parameter names: for a caller that runs it inside its own
    statement (`WITH verified AS (<this>) ...`), one round trip. Pass the chip ids through
    core.lookups.array_param."""
    return _last_verified_sql(when, chips, stale_before)


@cache
def _last_verified_sql(when, chips, stale_before):
    return _sql(_REFRESH_VERIFIED).format(when=when, chips=chips, stale_before=stale_before)


_IN_COUNTRIES = " AND {c_country} = ANY(%(countries)s::text[])"


def refresh_last_verified(chip_pks, when, stale_before, countries=None):
    """Move the chips' last verification on to `when` where it is NULL or older than `stale_before`;
    with `countries`, only chips that lie in one of them."""
    sql = last_verified_sql()
    params = {"when": when, "chips": array_param(chip_pks), "stale_before": stale_before}
    if countries is not None:
        sql += _sql(_IN_COUNTRIES)
        params["countries"] = list(countries)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


_FOLD_VERIFIED = (
    "UPDATE {chip} AS c SET {c_last_verified_at} = s.seen FROM ({{source}}) AS s(chip_id, seen, older_than)"
    " WHERE c.{c_id} = s.chip_id AND (c.{c_last_verified_at} IS NULL OR c.{c_last_verified_at} < s.older_than)"
)


def fold_last_verified_sql(source_sql):
    """The UPDATE that moves each chip's last verification on to the time a subquery gives it:
    `source_sql` selects (chip_id, seen, older_than), one row per chip (the caller's evidence, e.g.
    attestations' sightings grouped by chip); a chip moves only where its time is NULL or older than
    `older_than` (`seen` itself: never back; earlier: only once that stale). Its text is the caller's
    to run alone or inside its own `WITH`."""
    return _sql(_FOLD_VERIFIED).replace("{source}", source_sql)


# Each chip's time moves only forward: a late-delivered older report never moves it back.
_HARDWARE_VERIFIED = (
    "UPDATE {chip} SET {c_hardware_verified_at} = %s WHERE {c_id} = ANY(%s::bigint[])"
    " AND ({c_hardware_verified_at} IS NULL OR {c_hardware_verified_at} < %s)"
)


# A chip that proved itself with hardware evidence was also seen: both times in one UPDATE, each only
# forward, the last verification only where older than stale_before (as _REFRESH_VERIFIED).
# Named parameters (proved_*), so that a caller can run it as one CTE of its own statement (proved_sql).
_PROVED = (
    "UPDATE {chip} SET"
    " {c_hardware_verified_at} = CASE WHEN {c_hardware_verified_at} IS NULL"
    "  OR {c_hardware_verified_at} < %(proved_when)s THEN %(proved_when)s ELSE {c_hardware_verified_at} END,"
    " {c_last_verified_at} = CASE WHEN {c_last_verified_at} IS NULL"
    "  OR {c_last_verified_at} < %(proved_stale_before)s THEN %(proved_when)s ELSE {c_last_verified_at} END"
    " WHERE {c_id} = ANY(%(proved_chips)s::bigint[])"
    " AND ({c_hardware_verified_at} IS NULL OR {c_hardware_verified_at} < %(proved_when)s"
    "  OR {c_last_verified_at} IS NULL OR {c_last_verified_at} < %(proved_stale_before)s)"
)


def proved_sql(chip_pks, when, stale_before):
    """(the UPDATE that moves the chips' hardware verification on to `when` where it is NULL or older, and
    their last verification where it is NULL or older than `stale_before`; its named parameters): for a
    caller that runs it inside its own statement (`WITH proved AS (<this>) ...`)."""
    params = {"proved_when": when, "proved_stale_before": stale_before, "proved_chips": array_param(chip_pks)}
    return _sql(_PROVED), params


def set_hardware_verified(chip_pks, when):
    """Move the chips' hardware verification on to `when` where it is NULL or older; how many moved."""
    with connection.cursor() as cursor:
        cursor.execute(_sql(_HARDWARE_VERIFIED), [when, array_param(chip_pks), when])
        return cursor.rowcount


# An evidence statement's reads under the log's lock, in one round trip: its chips as they are now
# (source 0: custodian, its code, the maker's code, country, status, and the identity enrolled for the
# chip with its key), and the chips its verified identities are enrolled for (source 1).
_EVIDENCE_FACTS = (
    "SELECT 0, c.{c_id}, c.{c_custodian}, cu.{org_code}, m.{org_code}, c.{c_country}, c.{c_status},"
    " h.{h_identity}, h.{h_key_sha256}"
    " FROM {chip} c JOIN {org} m ON m.{org_id} = c.{c_manufacturer}"
    " LEFT JOIN {org} cu ON cu.{org_id} = c.{c_custodian} LEFT JOIN {hw} h ON h.{h_chip} = c.{c_id}"
    " WHERE c.{c_id} = ANY(%s::bigint[])"
    " UNION ALL"
    " SELECT 1, h.{h_chip}, NULL, NULL, NULL, NULL, NULL, h.{h_identity}, NULL"
    " FROM {hw} h WHERE h.{h_identity} = ANY(%s::text[])"
)


def evidence_facts(chip_pks, identities):
    """(rows of the chips: (pk, custodian id, custodian code, maker code, country, status, enrolled identity
    or None, its key SHA-256), rows of the identities: (chip pk, identity))."""
    rows = fetch_all(_sql(_EVIDENCE_FACTS), [array_param(chip_pks), list(identities)])
    return [r[1:] for r in rows if r[0] == 0], [(r[1], r[7]) for r in rows if r[0] == 1]
