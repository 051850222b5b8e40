from celery import shared_task


@shared_task(ignore_result=True)
def ensure_partitions():
    """Daily (Celery beat): prepare next months' partitions before rows arrive."""
    from attestations.partitions import ensure_partitions as run

    return run()
