"""Background work of the console: recomputing reconciliation snapshots (console.reconciliation)."""

from celery import shared_task


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def refresh_reconciliation(facility_id):
    from console.reconciliation import refresh

    refresh(facility_id)


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def reconciliation_events(events):
    """Outbox `placements.changed` events of one relay drain: the books of these facilities moved.
    A facility named by several events of the burst is marked and recomputed once."""
    from console.reconciliation import enqueue, mark_stale

    facilities = sorted({f for _, _, payload in events for f in payload.get("facilities") or []})
    mark_stale(facilities)
    enqueue(facilities, background=True)


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def reconciliation_event(event_id, topic, payload):
    """One outbox event (messages queued before the relay sent batches)."""
    reconciliation_events([[event_id, topic, payload]])
