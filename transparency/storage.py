"""The log's hand-written SQL: every statement transparency runs outside the ORM, by name.

Why by hand (see core.rawsql): an append is on every statement's path, and a
proof on every verifier's; each of these is one round trip where the ORM
would spend several, or a binary COPY the ORM cannot write. Table and column
names come from the models, so a renamed field fails here at import, not in
production. tests/transparency/test_log_storage.py runs each against its ORM
equivalent on the same rows.
"""

import struct
from datetime import UTC, datetime, timedelta

from django.db import connection

from core.rawsql import execute, fetch_one
from transparency.models import LogEventData, LogHead, LogLeaf, LogNode


def _column(model, name):
    return connection.ops.quote_name(model._meta.get_field(name).column)


def _table(model):
    return connection.ops.quote_name(model._meta.db_table)


HEAD, LEAF, NODE = _table(LogHead), _table(LogLeaf), _table(LogNode)
HEAD_ID, HEAD_SIZE = _column(LogHead, "id"), _column(LogHead, "size")
LEAF_COLUMNS = tuple(_column(LogLeaf, f) for f in ("index", "hash", "leaf", "kind", "appended_at"))
LEAF_INDEX, LEAF_HASH = LEAF_COLUMNS[0], LEAF_COLUMNS[1]
NODE_KEY, NODE_HASH = _column(LogNode, "key"), _column(LogNode, "hash")

# Moves the head past `count` new leaves, taking the writers' lock on its row to the end of the transaction
# (exactly as SELECT ... FOR UPDATE would); answers the new size, or nothing before the first append ever.
RESERVE = f"UPDATE {HEAD} SET {HEAD_SIZE} = {HEAD_SIZE} + %s WHERE {HEAD_ID} = 1 RETURNING {HEAD_SIZE}"  # noqa: S608

# One leaf appended in one round trip: the head moved (the lock taken) and the leaf row written.
APPEND_ONE = (
    f"WITH head AS ({RESERVE.replace('%s', '1', 1)})"  # noqa: S608
    f" INSERT INTO {LEAF} ({', '.join(LEAF_COLUMNS)})"
    f" SELECT {HEAD_SIZE} - 1, %s, %s, %s, %s FROM head RETURNING {LEAF_INDEX}"
)

COPY_LEAVES = f"COPY {LEAF} ({', '.join(LEAF_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
COPY_NODES = f"COPY {NODE} ({NODE_KEY}, {NODE_HASH}) FROM STDIN (FORMAT BINARY)"


def reserve(count):
    """Take the writers' lock and move the head past `count` leaves: the new size, or None when the
    head row does not exist yet (the first append ever)."""
    row = fetch_one(RESERVE, [count])
    return None if row is None else row[0]


def append_one(leaf_hash, leaf, kind, appended_at):
    """Move the head by one and store the leaf row at the old size: its index, or None when the head
    row does not exist yet."""
    row = fetch_one(APPEND_ONE, [leaf_hash, leaf, kind, appended_at])
    return None if row is None else row[0]


def nodes_and_leaf_hashes(keys, ranges):
    """In one query: [(key, hash)] of the stored nodes of these keys, and [(index, hash)] of the leaves
    in these [start, end) index ranges."""
    # Only placeholders are formatted into the SQL below; every value is a parameter.
    parts, params = [], []
    if keys:
        placeholders = ", ".join(["%s"] * len(keys))
        parts.append(f"SELECT 0, {NODE_KEY}, {NODE_HASH} FROM {NODE} WHERE {NODE_KEY} IN ({placeholders})")  # noqa: S608
        params += list(keys)
    if ranges:
        where = " OR ".join([f"({LEAF_INDEX} >= %s AND {LEAF_INDEX} < %s)"] * len(ranges))
        parts.append(f"SELECT 1, {LEAF_INDEX}, {LEAF_HASH} FROM {LEAF} WHERE {where}")  # noqa: S608
        params += [bound for r in ranges for bound in r]
    if not parts:
        return [], []
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    nodes, leaves = [], []
    for is_leaf, key, h in rows:
        (leaves if is_leaf else nodes).append((key, bytes(h)))
    return nodes, leaves


# PostgreSQL's binary COPY format, written directly (psycopg's row-by-row
# dumping of bytea costs more than the hashing): a row is a field count, then
# each field as a length and its bytes; int8 and timestamptz are 8 big-endian
# bytes, the timestamp in microseconds since 2000-01-01 UTC.
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
_COPY_TRAILER = b"\xff\xff"
_ROW_HEAD = struct.Struct(">hiqi").pack  # field count, int8 first field (length 8, value), next field's length
# A leaf row up to the leaf bytes: field count, index, hash (32 bytes), the leaf's length.
_LEAF_ROW_HEAD = struct.Struct(">hiqi32si").pack
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def copy_leaves(first, chunks, kind, appended_at):
    """COPY leaf rows from index `first`, chunk by chunk, so that PostgreSQL stores one chunk while the
    caller computes the next. `chunks` yields lists of (leaf, leaf hash); what the generator returns
    when exhausted (StopIteration's value) is returned here, after the COPY has ended: the caller hashes
    the levels above while the server stores the last chunk."""
    kind_bytes = kind.encode()
    # The fields after the leaf: the kind, the time.
    rest = struct.pack(
        f">i{len(kind_bytes)}siq",
        len(kind_bytes),
        kind_bytes,
        8,
        (appended_at - _PG_EPOCH) // timedelta(microseconds=1),
    )
    index = first
    with connection.cursor() as cursor, cursor.cursor.copy(COPY_LEAVES) as copy:
        copy.write(_COPY_SIGNATURE)
        while True:
            try:
                chunk = next(chunks)
            except StopIteration as done:
                result = done.value
                break
            copy.write(
                b"".join(
                    [
                        _LEAF_ROW_HEAD(5, 8, i, 32, h, len(leaf)) + leaf + rest
                        for i, (leaf, h) in enumerate(chunk, start=index)
                    ]
                )
            )
            index += len(chunk)
        copy.write(_COPY_TRAILER)
    return result


def copy_nodes(nodes):
    """COPY (key, hash) node rows."""
    if not nodes:
        return
    with connection.cursor() as cursor, cursor.cursor.copy(COPY_NODES) as copy:
        copy.write(_COPY_SIGNATURE)
        copy.write(b"".join([_ROW_HEAD(2, 8, key, len(h)) + h for key, h in nodes]))
        copy.write(_COPY_TRAILER)


EVENT_DATA = _table(LogEventData)
EVENT_DATA_COLUMNS = tuple(
    _column(LogEventData, f) for f in ("index", "event", "object_id", "data_jcs", "parties", "countries")
)
# Every event's data row of one append in one statement from arrays (parties and countries as JSON text,
# one array element each): the ORM's bulk insert of a thousand TOFU enrolments' events built a thousand
# model instances and six thousand parameters.
INSERT_EVENT_DATA = (
    f"INSERT INTO {EVENT_DATA} ({', '.join(EVENT_DATA_COLUMNS)})"  # noqa: S608
    " SELECT i, e, o, d, p::jsonb, c::jsonb"
    " FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[]) AS u(i, e, o, d, p, c)"
)


def insert_event_data(first, rows):
    """The data rows of events appended from index `first`: `rows` are (event, object_id, data JCS text,
    parties, countries), in leaf order."""
    import json

    columns = [list(range(first, first + len(rows))), [], [], [], [], []]
    for event, object_id, data, parties, countries in rows:
        columns[1].append(event)
        columns[2].append(object_id)
        columns[3].append(data)
        columns[4].append(json.dumps(parties))
        columns[5].append(json.dumps(countries))
    with connection.cursor() as cursor:
        cursor.execute(INSERT_EVENT_DATA, columns)


def lock_witness_organisation(code):
    """One registration of an organisation's witness keys at a time, to the end of the transaction: the cap on
    active keys counts rows, and two registrations at once would each count the other's absence."""
    execute("SELECT pg_advisory_xact_lock(hashtext('chipreg:witness-keys:' || %s))", [code])
