from celery import shared_task

from core.tasks import event_task


@event_task()
def deliver(delivery_id):
    from compliance.delivery.sender import attempt

    attempt(delivery_id)


@shared_task(ignore_result=True)
def deliver_due():
    """Periodic sweep: deliveries whose retry time has come, or that were never enqueued."""
    from compliance.delivery.sender import due

    for delivery_id in due():
        deliver.delay(delivery_id)


@event_task()
def notify_events(events):
    """Outbox `alerts.notify` events [[event_id, topic, payload], ...] of one relay drain: queue each alert
    event's deliveries (compliance.delivery.notify: one per subscription and channel, so a redelivered or
    concurrent copy queues nothing twice)."""
    from compliance.delivery import notify_many

    for _, _, payload in events:
        notify_many(payload["alerts"], payload["event"])
