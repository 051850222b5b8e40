from celery import shared_task


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def deliver(delivery_id):
    from compliance.delivery.sender import attempt

    attempt(delivery_id)


@shared_task(ignore_result=True)
def deliver_due():
    """Periodic sweep: deliveries whose retry time has come, or that were never enqueued."""
    from compliance.delivery.sender import due

    for delivery_id in due():
        deliver.delay(delivery_id)
