import logging

from celery import shared_task


@shared_task(ignore_result=True)
def sign_checkpoint():
    """Sign the head after appends; a worker may wait out the signing interval."""
    from django.core.cache import cache

    from transparency.checkpoints import sign_if_due
    from transparency.log import CHECKPOINT_REQUESTED

    try:
        cache.delete(CHECKPOINT_REQUESTED)  # before reading the head: later appends ask again
    except Exception as exc:  # the cache is down: appends enqueue without the mark, nothing to clear
        logging.getLogger(__name__).info("checkpoint request mark not cleared (%s)", exc)
    sign_if_due(wait=True)
