"""Background work of the console: recomputing reconciliation snapshots (console.reconciliation)."""

from celery import shared_task


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def refresh_reconciliation(facility_id):
    from console.reconciliation import refresh

    refresh(facility_id)


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def reconciliation_event(event_id, topic, payload):
    """Outbox `placements.changed`: the books of these facilities moved."""
    from console.reconciliation import enqueue, mark_stale

    facilities = payload.get("facilities") or []
    mark_stale(facilities)
    enqueue(facilities, background=True)
