"""Appending to the log and answering proofs from stored subtree hashes.

One writer at a time: every append locks the LogHead row (SELECT ... FOR
UPDATE on PostgreSQL; SQLite serialises writers itself), so indices are dense
and the order is total. The lock is held to the end of the caller's
transaction, which is what makes "stored and logged in one transaction" true.
"""

from django.db import transaction
from django.utils import timezone

from protocol import merkle
from transparency.models import LogHead, LogLeaf, LogNode, node_key


class ProofRangeError(ValueError):
    """An index or size outside the log (answered 400, never 500)."""


def get_nodes_bulk(nodes):
    keys = {node_key(level, k): (level, k) for level, k in nodes}
    rows = LogNode.objects.filter(key__in=list(keys)).values_list("key", "hash")
    return {keys[key]: bytes(h) for key, h in rows}


def _lock_head():
    head, _ = LogHead.objects.select_for_update().get_or_create(id=1)
    return head


def append_leaves(leaves, kind):
    """Append leaf byte strings; return the index of the first. Must run in a transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("append_leaves must run inside the caller's transaction")
    head = _lock_head()
    first = head.size
    # The hashes left of the first new leaf that new parents may need: the
    # stored decomposition of [0, first) is exactly the right-edge frontier.
    known = get_nodes_bulk(merkle.range_to_perfect_nodes(0, first)) if first else {}
    new_nodes = {}
    now = timezone.now()
    leaf_rows = []
    for offset, leaf in enumerate(leaves):
        index = first + offset
        for level, k in merkle.nodes_completed_by_append(index):
            if level == 0:
                h = merkle.leaf_hash(leaf)
            else:
                left, right = merkle.node_children(level, k)
                h = merkle.node_hash(new_nodes.get(left) or known[left], new_nodes.get(right) or known[right])
            new_nodes[(level, k)] = h
        leaf_rows.append((index, leaf, kind, now))
    _write(leaf_rows, new_nodes)
    head.size = first + len(leaf_rows)
    head.save(update_fields=["size"])
    # robust: the append is committed by then; a signing failure is logged, not raised at the writer.
    transaction.on_commit(_request_checkpoint, robust=True)
    return first


def _write(leaf_rows, new_nodes):
    """Store the new leaves and nodes: COPY on PostgreSQL (several times faster than
    INSERTs at log scale), bulk inserts elsewhere."""
    from django.db import connection

    if connection.vendor != "postgresql":
        LogLeaf.objects.bulk_create(
            [LogLeaf(index=i, leaf=b, kind=k, appended_at=t) for i, b, k, t in leaf_rows], batch_size=2000
        )
        LogNode.objects.bulk_create(
            [LogNode(key=node_key(level, k), hash=h) for (level, k), h in new_nodes.items()], batch_size=5000
        )
        return
    with connection.cursor() as cursor:
        with cursor.cursor.copy("COPY transparency_logleaf (index, leaf, kind, appended_at) FROM STDIN") as copy:
            copy.set_types(["int8", "bytea", "text", "timestamptz"])
            for row in leaf_rows:
                copy.write_row(row)
        with cursor.cursor.copy("COPY transparency_lognode (key, hash) FROM STDIN") as copy:
            copy.set_types(["int8", "bytea"])
            for (level, k), h in new_nodes.items():
                copy.write_row((node_key(level, k), h))


def _request_checkpoint():
    from django.conf import settings

    from transparency.checkpoints import sign_if_due
    from transparency.tasks import sign_checkpoint

    if settings.CELERY_TASK_ALWAYS_EAGER:
        # In-process mode: sign only when due; never sleep in a request.
        sign_if_due(wait=False)
        return
    try:
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
