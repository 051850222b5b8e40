from celery import shared_task

from core.tasks import event_task


@shared_task(ignore_result=True)
def ensure_partitions():
    """Daily (Celery beat): prepare next months' partitions before rows arrive."""
    from attestations.partitions import ensure_partitions as run

    return run()


@event_task()
def fold_sightings(event_id, topic, payload):
    """`sightings.recorded`: refresh the sighted chips' last verification (idempotent, so redelivery is safe)."""
    from attestations.verification import fold_statement

    fold_statement(payload["attestation"])


@event_task()
def recount_usage(event_id, topic, payload):
    """`chips.model_corrected` / `catalog.corrected`: count the chips' stored usage again at their models now
    (idempotent: a redelivery finds nothing to change)."""
    from attestations.recount import recount_chips, recount_model

    if payload.get("chips"):
        recount_chips(payload["chips"])
    if payload.get("model"):
        recount_model(payload["model"])
