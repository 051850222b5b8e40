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

from django.db import connection

from core.lookups import array_param
from core.rawsql import Columns, fetch_all, fetch_one, set_related


def _t(model):
    return model._meta.db_table


def _c(model, name):
    return model._meta.get_field(name).column


@cache
def _names():
    """Table and column names of the rows written here, from the models (once: they do not change)."""
    from registry.models import Chip, Organisation

    chip = {f: _c(Chip, f) for f in _CHIP_FIELDS}
    return {
        "chip": _t(Chip),
        "org": _t(Organisation),
        "org_code": _c(Organisation, "code"),
        "org_kind": _c(Organisation, "kind"),
        **{f"c_{f}": col for f, col in chip.items()},
    }


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


# --- registration: new chips --------------------------------------------------------------------

_ANY_REGISTERED = (
    "SELECT 1 FROM {chip} WHERE ({c_manufacturer} = %s AND {c_serial} = %s)"
    " OR ({c_manufacturer} = %s AND {c_serial} = %s) LIMIT 1"
)


def any_registered(first, last):
    """Whether either (manufacturer_id, serial) pair is a registered chip."""
    return fetch_one(_sql(_ANY_REGISTERED), [*first, *last]) is not None


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


def copy_new_chips(rows, custodian_id, country, batch_id, now):
    """COPY new chips straight into the chip table; raises psycopg's UniqueViolation if one exists
    (run it under a savepoint). `rows`: (row, manufacturer_id, serial, model_id, uuid, bpn, fingerprint,
    status) as registry.registration validates them; `batch_id` a UUID. The custodian registers them."""
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

    with connection.cursor() as cursor, cursor.cursor.copy(_sql(_COPY_CHIPS)) as copy:
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


# --- registration: some chips may exist -----------------------------------------------------------

_IMPORT_TABLE = (
    "CREATE TEMP TABLE chip_import (row integer, manufacturer_id bigint, serial text, model_id bigint,"
    " uuid text, board_part_number text, fingerprint text, status text) ON COMMIT DROP"
)
_IMPORT_COPY = (
    "COPY chip_import (row, manufacturer_id, serial, model_id, uuid, board_part_number, fingerprint, status) FROM STDIN"
)
_INSERT_IMPORTED = (
    "INSERT INTO {chip} ({c_manufacturer}, {c_serial}, {c_model}, {c_uuid}, {c_board_part_number},"
    " {c_attestation_key_fingerprint}, {c_status}, {c_custodian}, {c_registered_by}, {c_country}, {c_batch},"
    " {c_created_at}, {c_updated_at})"
    " SELECT manufacturer_id, serial, model_id, coalesce(uuid, ''), coalesce(board_part_number, ''),"
    " coalesce(fingerprint, ''), status, %s, %s, %s, %s, %s, %s FROM chip_import"
    " ON CONFLICT ({c_manufacturer}, {c_serial}) DO NOTHING RETURNING {c_manufacturer}, {c_serial}"
)
# (row, manufacturer code, serial, and whether model, custodian, uuid, board part number, fingerprint differ)
_IMPORT_CONFLICTS = (
    "SELECT t.row, m.{org_code}, t.serial,"
    " c.{c_model} <> t.model_id, c.{c_custodian} <> %(custodian)s,"
    " t.uuid IS NOT NULL AND t.uuid <> c.{c_uuid},"
    " t.board_part_number IS NOT NULL AND t.board_part_number <> c.{c_board_part_number},"
    " t.fingerprint IS NOT NULL AND t.fingerprint <> c.{c_attestation_key_fingerprint}"
    " FROM chip_import t"
    " JOIN {chip} c ON c.{c_manufacturer} = t.manufacturer_id AND c.{c_serial} = t.serial"
    " JOIN {org} m ON m.id = t.manufacturer_id"
    " WHERE c.{c_batch} IS DISTINCT FROM %(batch)s AND (c.{c_model} <> t.model_id OR c.{c_custodian} <> %(custodian)s"
    " OR (t.uuid IS NOT NULL AND t.uuid <> c.{c_uuid})"
    " OR (t.board_part_number IS NOT NULL AND t.board_part_number <> c.{c_board_part_number})"
    " OR (t.fingerprint IS NOT NULL AND t.fingerprint <> c.{c_attestation_key_fingerprint}))"
    " ORDER BY t.row LIMIT %(limit)s"
)


def insert_chips_comparing(rows, custodian_id, country, batch_id, now, max_conflicts):
    """Insert the rows that are new (ON CONFLICT DO NOTHING) and compare the others with what is stored.

    Returns (new keys [(manufacturer_id, serial)], conflicts): each conflict is (row, manufacturer code,
    serial, model differs, custodian differs, uuid differs, board part number differs, fingerprint differs),
    at most `max_conflicts`, in row order; a chip of this batch (written concurrently) is no conflict. The
    comparison runs after the insert, so a concurrent registration of the same serial (which the insert
    waited for) is compared too.
    """
    with connection.cursor() as cursor:
        cursor.execute(_IMPORT_TABLE)
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


# --- chip writes (registry.chip_writes owns them) -----------------------------------------------

# The self-join reads the rows as they were before this statement: the old values.
_SET_COUNTRY = (
    "WITH moved AS (UPDATE {chip} c SET {c_country} = %s FROM {chip} o"
    " WHERE o.{c_id} = c.{c_id} AND c.{c_id} = ANY(%s::bigint[]) AND c.{c_country} <> %s"
    " RETURNING c.{c_custodian} AS custodian, o.{c_country} AS was)"
    " SELECT custodian, was, count(*) FROM moved GROUP BY custodian, was"
)


def set_country(chip_pks, country):
    """Set the chips' country; return (custodian_id, previous country, how many) of those that changed."""
    return fetch_all(_sql(_SET_COUNTRY), [country, array_param(chip_pks), country])


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


def set_hardware_verified(chip_pks, when):
    """Move the chips' hardware verification on to `when` where it is NULL or older; how many moved."""
    with connection.cursor() as cursor:
        cursor.execute(_sql(_HARDWARE_VERIFIED), [when, array_param(chip_pks), when])
        return cursor.rowcount
