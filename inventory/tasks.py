from celery import shared_task


@shared_task(ignore_result=True)
def find_silent_chips():
    """Periodic (Celery beat): continuity-of-knowledge findings."""
    from inventory.services.continuity import find_silent_chips as run

    return run()
