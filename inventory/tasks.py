from celery import shared_task


@shared_task(ignore_result=True)
def find_silent_chips():
    """Periodic (Celery beat): continuity-of-knowledge findings."""
    from inventory.services.continuity import find_silent_chips as run

    return run()


@shared_task(ignore_result=True)
def find_unreported_chips():
    """Daily (Celery beat): chips of a reporting manufacturer's make it never reported (issue #19)."""
    from inventory.services.watch import find_unreported

    return find_unreported()
