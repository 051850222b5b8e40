"""Background work of the console: recomputing reconciliation snapshots (console.reconciliation)."""

from core.tasks import event_task


@event_task()
def refresh_reconciliation(facility_id):
    from console.reconciliation import refresh

    refresh(facility_id)


@event_task()
def reconciliation_events(events):
    """Outbox `placements.changed` events of one relay drain: the books of these facilities moved.
    A facility named by several events of the burst is marked and recomputed once."""
    from console.reconciliation import enqueue, mark_stale

    facilities = sorted({f for _, _, payload in events for f in payload.get("facilities") or []})
    mark_stale(facilities)
    enqueue(facilities, background=True)


@event_task()
def reconciliation_event(event_id, topic, payload):
    """One outbox event (messages queued before the relay sent batches)."""
    reconciliation_events([[event_id, topic, payload]])
