"""Celery tasks: incremental evaluation from outbox events, and the periodic full evaluation.

Tasks acknowledge late (settings), so a worker killed mid-evaluation leaves
the message to be redelivered; evaluation is idempotent, so running it again
gives the same result.
"""

from celery import shared_task

# Workers discover `<app>.tasks` modules only: without this import a worker does not
# know compliance.delivery.tasks.deliver/deliver_due and discards their messages.
from compliance.delivery import tasks as delivery_tasks  # noqa: F401


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def evaluate_event(event_id, topic, payload):
    from compliance import evaluation
    from compliance.finding_alerts import raise_for

    if topic == "findings.raised":
        raise_for(payload["source"], payload["source_id"])
        return
    if topic == "rules.changed":
        evaluation.evaluate_all()
        return
    subjects = {}
    if payload.get("facilities"):
        subjects = evaluation.merge(subjects, evaluation.subjects_for_facilities(payload["facilities"]))
    if payload.get("organisations"):
        subjects = evaluation.merge(subjects, evaluation.subjects_for_organisations(payload["organisations"]))
    if payload.get("chips"):
        subjects = evaluation.merge(subjects, evaluation.subjects_for_chips(payload["chips"]))
    evaluation.evaluate(subjects)


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def evaluate_all():
    from compliance.evaluation import evaluate_all as run
    from compliance.finding_alerts import sweep

    run()
    # Findings whose alert was lost in transit (a broker that restarted empty) are raised here.
    sweep()
