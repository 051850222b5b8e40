"""The relay: hands committed outbox events to their handlers' Celery tasks.

Handlers register by topic (`subscribe`). Draining takes pending events in id
order with SELECT ... FOR UPDATE SKIP LOCKED, so several relays never hand
out the same event, enqueues one task per event and marks it dispatched in
the same transaction: if the broker is down the enqueue raises, the
transaction rolls back and the events wait for the next drain. A handler
subscribed `batched` gets one task per drain with all of its events of the
batch instead, so a burst of events costs it one run.
"""

import logging

from django.db import transaction
from django.utils import timezone

log = logging.getLogger(__name__)
HANDLERS = {}  # topic -> [(Celery task, batched)]: a task taking (event_id, topic, payload), or a batch of them
BATCH = 500


def subscribe(topic, task, batched=False):
    """Hand `topic`'s events to `task`: one call per event, or with `batched`, one call per drain
    with the list of [event_id, topic, payload] of every event of the drain it subscribed to."""
    HANDLERS.setdefault(topic, []).append((task, batched))


def pending():
    from outbox.models import OutboxEvent

    return OutboxEvent.objects.filter(dispatched_at__isnull=True).order_by("id")


def drain(limit=BATCH):
    """Dispatch up to `limit` pending events; return how many were dispatched."""
    from outbox.models import OutboxEvent

    with transaction.atomic():
        events = list(pending().select_for_update(skip_locked=True)[:limit])
        if not events:
            return 0
        batches = {}  # task name -> (task, events), in event order
        for event in events:
            for task, batched in HANDLERS.get(event.topic, []):
                if batched:
                    batches.setdefault(task.name, (task, []))[1].append([event.id, event.topic, event.payload])
                else:
                    task.delay(event.id, event.topic, event.payload)
        for task, batch in batches.values():
            task.delay(batch)
        OutboxEvent.objects.filter(pk__in=[e.pk for e in events]).update(dispatched_at=timezone.now())
    return len(events)


def drain_all():
    total = 0
    while True:
        try:
            n = drain()
        except Exception as exc:
            log.warning("outbox relay could not dispatch (%s); events stay pending", exc)
            return total
        total += n
        if n == 0:
            return total


def request_drain():
    """After a commit: drain now (eager mode) or ask a worker to (the periodic relay covers failures)."""
    from django.conf import settings

    if settings.CELERY_TASK_ALWAYS_EAGER:
        drain_all()
        return
    from outbox.tasks import relay

    try:
        relay.delay()
    except Exception as exc:  # broker down; the beat-driven relay will drain later
        log.warning("could not enqueue the outbox relay (%s)", exc)
