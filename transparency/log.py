"""Appending to the log and answering proofs from stored hashes.

One writer at a time: every append locks the LogHead row (the UPDATE that
moves it past the new leaves; SQLite serialises writers itself), so indices
are dense and the order is total. The lock is held to the end of the caller's
transaction, which is what makes "stored and logged in one transaction" true.

What is stored (transparency.models): each leaf row with its leaf hash, and
the complete aligned subtrees of NODE_LEVEL_MIN or more levels. An append
hashes its leaves chunk by chunk into one binary COPY of leaf rows (PostgreSQL
stores a chunk while the next is hashed), then the levels above
(`hash_levels`), then COPYs the few new nodes of the stored levels; a proof
reads the node rows and, for the levels below NODE_LEVEL_MIN, the leaf hashes
under them, in one query (`get_nodes_bulk`).
"""

import hashlib
import struct
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from core.rawsql import fetch_one
from protocol import merkle
from transparency import models
from transparency.models import LogHead, LogLeaf, LogNode, node_key


class ProofRangeError(ValueError):
    """An index or size outside the log (answered 400, never 500)."""


def get_nodes_bulk(nodes):
    """{(level, k): hash} for the wanted complete, aligned subtrees, in one query.

    A node at NODE_LEVEL_MIN or above is a stored row; one below is folded from
    the stored hashes of the leaves it covers (at most 2**(NODE_LEVEL_MIN - 1)).
    A node whose row or leaves are missing is left out (proof_from_nodes names it).
    """
    low = models.NODE_LEVEL_MIN
    keys = {}
    computed = []
    ranges = []
    for level, k in nodes:
        if level >= low:
            keys[node_key(level, k)] = (level, k)
        else:
            computed.append((level, k))
            ranges.append(merkle.node_range(level, k))
    ranges = _merge(ranges)
    # Only placeholders are formatted into the SQL below; every value is a parameter.
    parts, params = [], []
    if keys:
        placeholders = ", ".join(["%s"] * len(keys))
        parts.append(f"SELECT 0, key, hash FROM transparency_lognode WHERE key IN ({placeholders})")  # noqa: S608
        params += list(keys)
    if ranges:
        where = " OR ".join(['("index" >= %s AND "index" < %s)'] * len(ranges))
        parts.append(f'SELECT 1, "index", hash FROM transparency_logleaf WHERE {where}')  # noqa: S608
        params += [bound for r in ranges for bound in r]
    if not parts:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    found = {}
    leaf_hashes = {}
    for is_leaf, key, h in rows:
        if is_leaf:
            leaf_hashes[key] = bytes(h)
        else:
            found[keys[key]] = bytes(h)
    for level, k in computed:
        start, end = merkle.node_range(level, k)
        hashes = [leaf_hashes.get(i) for i in range(start, end)]
        if None not in hashes:
            found[(level, k)] = merkle.root_from_leaf_hashes(hashes)
    return found


def _merge(ranges):
    """Sorted, disjoint cover of [start, end) ranges."""
    merged = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def leaf_hashes(leaves):
    """SHA-256(0x00 || leaf) of each leaf (LOG.md section 1)."""
    sha256 = hashlib.sha256
    return [sha256(b"\x00" + leaf).digest() for leaf in leaves]


def hash_levels(first, hashes, left):
    """Every node that appending leaves with these leaf `hashes` at index `first` completes.

    `left` maps a level to the hash of the complete node just left of the new
    leaves at that level: the right edge of the tree of size `first`
    (merkle.range_to_perfect_nodes(0, first)), needed at the levels whose bit is
    set in `first`. Returns [(k0, hashes), ...] for levels 0, 1, ...: the new
    nodes (level, k0 + i), level 0 being the leaf hashes. No database.
    """
    sha256 = hashlib.sha256
    current = hashes
    levels = [(first, current)]
    start, level = first, 0
    while True:
        if start & 1:  # the first new node is a right child: its sibling is on the right edge
            current = [left[level], *current]
            start -= 1
        if len(current) < 2:
            return levels
        current = [sha256(b"\x01" + a + b).digest() for a, b in zip(current[0::2], current[1::2], strict=False)]
        start >>= 1
        level += 1
        levels.append((start, current))


def hash_append(first, leaves, left):
    """hash_levels of the leaves' hashes: every hash an append computes (see append_leaves)."""
    return hash_levels(first, leaf_hashes(leaves), left)


def _lock_head():
    head, _ = LogHead.objects.select_for_update().get_or_create(id=1)
    return head


def _reserve(count):
    """Take the writers' lock and move the head past `count` new leaves; return the first index.

    One statement: the UPDATE locks the LogHead row to the end of the caller's
    transaction, exactly as SELECT ... FOR UPDATE would.
    """
    row = fetch_one("UPDATE transparency_loghead SET size = size + %s WHERE id = 1 RETURNING size", [count])
    if row is None:  # the first append ever: create the row, then take it
        _lock_head()
        return _reserve(count)
    return row[0] - count


def append_leaves(leaves, kind):
    """Append leaf byte strings; return the index of the first. Must run in a transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("append_leaves must run inside the caller's transaction")
    if not isinstance(leaves, list):
        leaves = list(leaves)
    first = _reserve(len(leaves))
    # The right edge of the tree so far: the new nodes' left siblings.
    left = {level: h for (level, _), h in get_nodes_bulk(merkle.range_to_perfect_nodes(0, first)).items()}
    write = _copy_append if connection.vendor == "postgresql" else _insert_append
    write(first, leaves, left, kind, timezone.now())
    # robust: the append is committed by then; a signing failure is logged, not raised at the writer.
    transaction.on_commit(_request_checkpoint, robust=True)
    return first


def append_leaf(leaf, kind):
    """Append one leaf; return its index. Must run in a transaction.

    What a node agent's every statement does, so on PostgreSQL it costs one round trip: the head
    moves (taking the writers' lock, as in append_leaves) and the leaf row is written in a single
    statement. A stored node (NODE_LEVEL_MIN and up) completes only when the new size is a multiple
    of 2**NODE_LEVEL_MIN; only then are the left siblings read and the nodes written.
    """
    if connection.vendor != "postgresql":
        return append_leaves([leaf], kind)
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("append_leaf must run inside the caller's transaction")
    (leaf_hash,) = leaf_hashes([leaf])
    row = fetch_one(
        "WITH head AS (UPDATE transparency_loghead SET size = size + 1 WHERE id = 1 RETURNING size)"
        ' INSERT INTO transparency_logleaf ("index", hash, leaf, kind, appended_at)'
        ' SELECT size - 1, %s, %s, %s, %s FROM head RETURNING "index"',
        [leaf_hash, leaf, kind, timezone.now()],
    )
    if row is None:  # the first append ever: no head row to move yet
        return append_leaves([leaf], kind)
    index = row[0]
    if (index + 1) % (1 << models.NODE_LEVEL_MIN) == 0:
        left = {level: h for (level, _), h in get_nodes_bulk(merkle.range_to_perfect_nodes(0, index)).items()}
        nodes = _stored_nodes(hash_levels(index, [leaf_hash], left))
        LogNode.objects.bulk_create([LogNode(key=key, hash=h) for key, h in nodes])
    transaction.on_commit(_request_checkpoint, robust=True)
    return index


def _stored_nodes(levels):
    """(key, hash) of the new nodes at the stored levels (NODE_LEVEL_MIN and up)."""
    return [
        (node_key(level, k0 + i), h)
        for level, (k0, hashes) in enumerate(levels)
        if level >= models.NODE_LEVEL_MIN
        for i, h in enumerate(hashes)
    ]


def _insert_append(first, leaves, left, kind, now):
    """The portable writer (SQLite): bulk inserts."""
    levels = hash_append(first, leaves, left)
    LogLeaf.objects.bulk_create(
        [
            LogLeaf(index=first + i, leaf=leaf, hash=h, kind=kind, appended_at=now)
            for i, (leaf, h) in enumerate(zip(leaves, levels[0][1], strict=True))
        ],
        batch_size=2000,
    )
    LogNode.objects.bulk_create([LogNode(key=key, hash=h) for key, h in _stored_nodes(levels)], batch_size=5000)


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
COPY_CHUNK = 2000


def _copy_append(first, leaves, left, kind, now):
    """Hash and COPY the leaf rows chunk by chunk, so that PostgreSQL stores one
    chunk while the next is hashed; hash the levels above while it stores the
    last; then COPY the few new nodes of the stored levels."""
    kind_bytes = kind.encode()
    # The fields after the leaf: the kind, the time.
    rest = struct.pack(
        f">i{len(kind_bytes)}siq", len(kind_bytes), kind_bytes, 8, (now - _PG_EPOCH) // timedelta(microseconds=1)
    )
    hashes = []
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(
            "COPY transparency_logleaf (index, hash, leaf, kind, appended_at) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.write(_COPY_SIGNATURE)
            for start in range(0, len(leaves), COPY_CHUNK):
                chunk = leaves[start : start + COPY_CHUNK]
                chunk_hashes = leaf_hashes(chunk)
                copy.write(
                    b"".join(
                        [
                            _LEAF_ROW_HEAD(5, 8, index, 32, h, len(leaf)) + leaf + rest
                            for index, leaf, h in zip(
                                range(first + start, first + start + len(chunk)), chunk, chunk_hashes, strict=True
                            )
                        ]
                    )
                )
                hashes += chunk_hashes
            levels = hash_levels(first, hashes, left)
            copy.write(_COPY_TRAILER)
        nodes = _stored_nodes(levels)
        if nodes:
            with raw.copy("COPY transparency_lognode (key, hash) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(_COPY_SIGNATURE)
                copy.write(b"".join([_ROW_HEAD(2, 8, key, len(h)) + h for key, h in nodes]))
                copy.write(_COPY_TRAILER)


# Set while a signing task is queued and not yet started: appends meanwhile need not queue another.
CHECKPOINT_REQUESTED = "chipreg:checkpoint-requested"
CHECKPOINT_REQUEST_TTL_S = 60  # a lost task stops suppressing requests after this; the beat signs meanwhile


def _request_checkpoint():
    """Ask a worker to sign a checkpoint covering this append, unless a queued request already will.

    One queued task per append would pile up under load: each waits out the signing interval, so
    at a hundred statements a second the ingest queue would hold an hour of them, ahead of the
    outbox relay and the folding of sightings.
    """
    from django.conf import settings
    from django.core.cache import cache

    from transparency.checkpoints import sign_if_due
    from transparency.tasks import sign_checkpoint

    if settings.CELERY_TASK_ALWAYS_EAGER:
        # In-process mode: sign only when due; never sleep in a request.
        sign_if_due(wait=False)
        return
    try:
        # The queued task clears the mark before it reads the head, and this append committed
        # before the mark was found set, so that task's checkpoint covers it.
        if cache.add(CHECKPOINT_REQUESTED, 1, timeout=CHECKPOINT_REQUEST_TTL_S):
            sign_checkpoint.delay()
    except Exception:
        import logging

        logging.getLogger(__name__).warning("could not enqueue checkpoint signing; the periodic task will sign")


def current_size():
    head = LogHead.objects.filter(id=1).first()
    return head.size if head else 0


def root_at(size):
    return merkle.root_from_nodes(size, get_nodes_bulk)


def inclusion_proof(index, size):
    if not (0 <= index < size):
        raise ProofRangeError(f"index must satisfy 0 <= index < size; got index={index}, size={size}")
    return merkle.proof_from_nodes(merkle.inclusion_proof_ranges(index, size), get_nodes_bulk)


def consistency_proof(first, second):
    if not (0 < first <= second):
        raise ProofRangeError(f"sizes must satisfy 0 < first <= second; got first={first}, second={second}")
    return merkle.proof_from_nodes(merkle.consistency_proof_ranges(first, second), get_nodes_bulk)
