"""Checkpoint signing under a stream of appends: one queued request at a time, and it covers them all.

Each append asks a worker to sign a checkpoint after its commit. A queued
signing task waits out the signing interval, so one task per append would
pile up on the ingest queue (ahead of the outbox relay) under load: a request
is queued only when none is pending, and the pending one still covers every
append committed before it starts.
"""

import pytest
from django.db import transaction

from tests.faults.support import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _append(n):
    from transparency.events import append_event

    for i in range(n):
        with transaction.atomic():
            append_event("landmark.registered", f"LM-{i}", {"code": f"LM-{i}"})


def _queued_signing_tasks(redis):
    """sign_checkpoint messages waiting on the ingest queue (kombu keeps a queue as a Redis list)."""
    return sum(b"transparency.tasks.sign_checkpoint" in m for m in redis.lrange("ingest", 0, -1))


def test_appends_queue_one_signing_request_and_its_checkpoint_covers_them(broker, workers):
    from transparency.checkpoints import latest_checkpoint
    from transparency.log import current_size

    redis = broker.client()
    _append(25)
    assert _queued_signing_tasks(redis) == 1  # not 25

    workers("signer")
    wait_until(lambda: (c := latest_checkpoint()) is not None and c.size == current_size(), 30, "a covering checkpoint")
    assert current_size() >= 25

    # The task cleared its request when it started: the next append asks again, and is covered.
    wait_until(lambda: _queued_signing_tasks(redis) == 0, 10, "the queue to drain")
    _append(1)
    wait_until(lambda: latest_checkpoint().size == current_size(), 30, "a checkpoint covering the new append")
