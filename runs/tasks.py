from celery import shared_task


@shared_task(ignore_result=True)
def approve_by_silence():
    """Periodic (Celery beat): runs whose review period ended with no decision are approved by silence."""
    from runs.services import approve_by_silence as sweep

    approved = 0
    while batch := sweep():  # a batch per transaction, until none is due
        approved += len(batch)
    return approved
