from celery import shared_task


@shared_task(ignore_result=True)
def relay():
    """Drain the outbox (also run periodically by Celery beat)."""
    from outbox.relay import drain_all

    return drain_all()
