"""A single writer at a time: concurrent submissions leave a dense log with a total order,
and every pair of checkpoints signed meanwhile is consistent.

Real threads, each with its own PostgreSQL connection, append events and sign
checkpoints at once; the head row lock is what keeps them in line.
"""

import itertools
import threading

import pytest
from django.db import connection, transaction

from protocol import merkle
from transparency import log
from transparency.checkpoints import sign_if_due
from transparency.events import append_event
from transparency.models import Checkpoint, LogEventData, LogLeaf

from .helpers import stored_leaf_hashes

WRITERS = 8
EVENTS_EACH = 20
INTERVAL_S = 0.05


def writer(n, barrier, errors, indices):
    try:
        barrier.wait()
        for i in range(EVENTS_EACH):
            with transaction.atomic():
                index = append_event("chip.status_changed", f"nvidia:W{n}-{i}", {"writer": n, "i": i})
            indices.append(index)
            if i % 3 == n % 3:
                sign_if_due()
    except Exception as exc:  # reported by the main thread
        errors.append(exc)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True, available_apps=["transparency"])
def test_concurrent_writers_and_signers(settings):
    settings.CHIPREG_CHECKPOINT_INTERVAL_S = INTERVAL_S
    barrier = threading.Barrier(WRITERS)
    errors, indices = [], []
    threads = [threading.Thread(target=writer, args=(n, barrier, errors, indices)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    final = sign_if_due(wait=True)

    total = WRITERS * EVENTS_EACH
    # Dense and gap-free: indices 0..n-1, each handed out once, each with its data.
    assert sorted(indices) == list(range(total))
    assert list(LogLeaf.objects.values_list("index", flat=True)) == list(range(total))
    assert LogEventData.objects.count() == total
    assert log.current_size() == total == final.size
    # Every writer's own events are in its own order (the order is total and respects each session).
    order = dict(LogEventData.objects.values_list("object_id", "index"))
    for n in range(WRITERS):
        mine = [order[f"nvidia:W{n}-{i}"] for i in range(EVENTS_EACH)]
        assert mine == sorted(mine)

    # The root from the leaves alone equals the root from the stored nodes.
    hashes = stored_leaf_hashes()
    assert merkle.root_from_leaf_hashes(hashes) == log.root_at(total) == bytes(final.root)

    signed = list(Checkpoint.objects.order_by("size").values_list("size", "root", "signed_at"))
    assert len(signed) >= 3
    for size, root, _ in signed:
        assert bytes(root) == merkle.root_from_leaf_hashes(hashes[:size])
    # At most one signature per interval, even with eight signers racing.
    by_time = sorted(signed, key=lambda row: row[2])
    assert [row[0] for row in by_time] == [row[0] for row in signed]
    for (_, _, earlier), (_, _, later) in itertools.pairwise(by_time):
        assert (later - earlier).total_seconds() >= INTERVAL_S - 1e-3
    # Every pair of checkpoints is consistent, by proofs from the stored nodes.
    for i, (m, root_m, _) in enumerate(signed):
        for n, root_n, _ in signed[i + 1 :]:
            proof = log.consistency_proof(m, n) if m else []
            assert merkle.verify_consistency(m, n, bytes(root_m), bytes(root_n), proof), (m, n)
