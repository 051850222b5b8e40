from celery import shared_task


@shared_task(ignore_result=True)
def find_silent_chips():
    """Periodic (Celery beat): continuity-of-knowledge findings."""
    from core.turns import sole_run
    from inventory.services.continuity import find_silent_chips as run

    with sole_run("find_silent_chips") as mine:
        return run() if mine else None


@shared_task(ignore_result=True)
def find_unreported_chips():
    """Daily (Celery beat): chips of a reporting manufacturer's make it never reported (issue #19)."""
    from core.turns import sole_run
    from inventory.services.watch import find_unreported

    with sole_run("find_unreported_chips") as mine:
        return find_unreported() if mine else None


@shared_task(ignore_result=True)
def find_overdue_transfers():
    """Daily (Celery beat): shipments still in transit long after they shipped."""
    from inventory.services.transfers import find_overdue

    return find_overdue()
