"""Appending to the log and answering proofs from stored hashes.

One writer at a time: every append locks the LogHead row (the UPDATE that
moves it past the new leaves), so indices
are dense and the order is total. The lock is held to the end of the caller's
transaction, which is what makes "stored and logged in one transaction" true.

What is stored (transparency.models): each leaf row with its leaf hash, and
the complete aligned subtrees of NODE_LEVEL_MIN or more levels. An append
hashes its leaves chunk by chunk into one binary COPY of leaf rows (PostgreSQL
stores a chunk while the next is hashed), then the levels above
(protocol.merkle.hash_levels, which verifiers share), then COPYs the few new
nodes of the stored levels; a proof reads the node rows and, for the levels
below NODE_LEVEL_MIN, the leaf hashes under them, in one query
(`get_nodes_bulk`). The SQL itself is in transparency.storage.
"""

from django.db import transaction
from django.utils import timezone

from protocol import merkle
from transparency import models, storage
from transparency.models import LogHead, LogNode, node_key


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
    stored, leaves = storage.nodes_and_leaf_hashes(list(keys), _merge(ranges))
    found = {keys[key]: h for key, h in stored}
    leaf_hashes = dict(leaves)
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


def _lock_head():
    head, _ = LogHead.objects.select_for_update().get_or_create(id=1)
    return head


def hold_writers():
    """Take the writers' lock now, held to the end of the caller's transaction as an append holds it: for a caller
    that locks rows a statement writes under it (registry.chip_writes.lock), which must take the log's lock first,
    as a statement does, or each waits for the other."""
    _require_transaction("hold_writers")
    _lock_head()


def _reserve(count):
    """Take the writers' lock and move the head past `count` new leaves; return the first index.

    One statement: the UPDATE locks the LogHead row to the end of the caller's
    transaction, exactly as SELECT ... FOR UPDATE would.
    """
    size = storage.reserve(count)
    if size is None:  # the first append ever: create the row, then take it
        _lock_head()
        return _reserve(count)
    return size - count


def _require_transaction(name):
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(f"{name} must run inside the caller's transaction")


def append_leaves(leaves, kind):
    """Append leaf byte strings; return the index of the first. Must run in a transaction."""
    _require_transaction("append_leaves")
    if not isinstance(leaves, list):
        leaves = list(leaves)
    first = _reserve(len(leaves))
    # The right edge of the tree so far: the new nodes' left siblings.
    left = {level: h for (level, _), h in get_nodes_bulk(merkle.range_to_perfect_nodes(0, first)).items()}
    levels = storage.copy_leaves(first, _hashed_chunks(first, leaves, left), kind, timezone.now())
    storage.copy_nodes(_stored_nodes(levels))
    # robust: the append is committed by then; a signing failure is logged, not raised at the writer.
    transaction.on_commit(_request_checkpoint, robust=True)
    return first


def _hashed_chunks(first, leaves, left):
    """Chunks of (leaf, leaf hash) for storage.copy_leaves, hashed one at a time so that PostgreSQL stores
    one chunk while the next is hashed; returns (as the generator's value) every level the append
    completes, hashed while the server stores the last chunk."""
    hashes = []
    for start in range(0, len(leaves), COPY_CHUNK):
        chunk = leaves[start : start + COPY_CHUNK]
        chunk_hashes = merkle.leaf_hashes(chunk)
        hashes += chunk_hashes
        yield list(zip(chunk, chunk_hashes, strict=True))
    return merkle.hash_levels(first, hashes, left)


def append_leaf(leaf, kind):
    """Append one leaf; return its index. Must run in a transaction.

    What a node agent's every statement does, so it costs one round trip: the head moves (taking the
    writers' lock, as in append_leaves) and the leaf row is written in a single statement. A stored
    node (NODE_LEVEL_MIN and up) completes only when the new size is a multiple of
    2**NODE_LEVEL_MIN; only then are the left siblings read and the nodes written.
    """
    _require_transaction("append_leaf")
    leaf_hash = merkle.leaf_hash(leaf)
    index = storage.append_one(leaf_hash, leaf, kind, timezone.now())
    if index is None:  # the first append ever: no head row to move yet
        return append_leaves([leaf], kind)
    if (index + 1) % (1 << models.NODE_LEVEL_MIN) == 0:
        left = {level: h for (level, _), h in get_nodes_bulk(merkle.range_to_perfect_nodes(0, index)).items()}
        nodes = _stored_nodes(merkle.hash_levels(index, [leaf_hash], left))
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


COPY_CHUNK = 2000  # leaves hashed per COPY write


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


def inclusion_proofs(indices, size):
    """{index: inclusion proof at `size`} for many leaves, from one bulk read of the stored nodes.

    Proofs of nearby leaves share most of their nodes, so a thousand proofs cost one query.
    """
    indices = sorted(set(indices))
    for index in indices:
        if not (0 <= index < size):
            raise ProofRangeError(f"index must satisfy 0 <= index < size; got index={index}, size={size}")
    ranges = {index: merkle.inclusion_proof_ranges(index, size) for index in indices}
    every = [r for rs in ranges.values() for r in rs]
    hashes = merkle.proof_from_nodes(every, get_nodes_bulk) if every else []
    out, at = {}, 0
    for index in indices:
        out[index] = hashes[at : at + len(ranges[index])]
        at += len(ranges[index])
    return out


def consistency_proof(first, second):
    if not (0 < first <= second):
        raise ProofRangeError(f"sizes must satisfy 0 < first <= second; got first={first}, second={second}")
    return merkle.proof_from_nodes(merkle.consistency_proof_ranges(first, second), get_nodes_bulk)
