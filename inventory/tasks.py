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


@shared_task(ignore_result=True)
def find_overdue_transfers():
    """Daily (Celery beat): shipments still in transit long after they shipped."""
    from inventory.services.transfers import find_overdue

    return find_overdue()
