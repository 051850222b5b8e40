"""Celery tasks: incremental evaluation from outbox events, and the periodic full evaluation.

Tasks acknowledge late (settings), so a worker killed mid-evaluation leaves
the message to be redelivered; evaluation is idempotent, so running it again
gives the same result.
"""

import logging

from celery import shared_task

# Workers discover `<app>.tasks` modules only: without this import a worker does not
# know compliance.delivery.tasks.deliver/deliver_due and discards their messages.
from compliance.delivery import tasks as delivery_tasks  # noqa: F401
from core.tasks import event_task

log = logging.getLogger(__name__)


@event_task()
def evaluate_events(events):
    """Outbox events [[event_id, topic, payload], ...], handed over one batch per relay drain.

    One evaluation covers the union of what the batch's events touched: a burst of
    placements (a fleet of node agents placing their chips) costs one recompute of each
    subject, not one per event. Evaluation recomputes from the current state, so the
    union gives what evaluating the events one by one would have given.
    """
    from compliance import evaluation
    from compliance.finding_alerts import raise_for

    failures = []

    def attempt(what, work, *args):
        # One event that fails must not cost the others of its batch their alerts.
        try:
            return work(*args)
        except Exception as exc:
            log.exception("compliance: %s failed", what)
            failures.append(exc)
            return None

    raised_for = set()

    def raise_once(payload):
        # A monitor announces each batch it stores: one source's alerts are raised once per delivery.
        source = (payload["source"], payload["source_id"])
        if source not in raised_for:
            raised_for.add(source)
            raise_for(*source)

    subjects = {}
    everything = False
    for event_id, topic, payload in events:
        if topic == "challenge.changed":
            from compliance.challenge_alerts import sync

            attempt(f"event {event_id} ({topic})", lambda p: sync(p["challenge"]), payload)
        elif topic == "findings.raised":
            attempt(f"event {event_id} ({topic})", raise_once, payload)
        elif topic == "exports.received":
            from compliance.exports import judge_receipt

            attempt(f"event {event_id} ({topic})", judge_receipt, payload)
        elif topic == "rules.changed":
            everything = True
        elif topic == "sites.linked":
            subjects = evaluation.merge(subjects, evaluation.EVERY_COMPONENT)
        elif topic == "facilities.reviewed":
            touched = attempt(f"event {event_id} ({topic})", evaluation.subjects_for_review, payload["facilities"])
            subjects = evaluation.merge(subjects, touched or {})
        else:
            touched = attempt(f"event {event_id} ({topic})", evaluation.subjects_for_event, payload)
            subjects = evaluation.merge(subjects, touched or {})
    if everything:
        attempt("the full evaluation", evaluation.evaluate_all)
    elif subjects:
        # A usage statement moves no chip: its subjects' capacity totals are as stored.
        chips_moved = any(topic not in ("usage.recorded", "challenge.changed") for _, topic, _ in events)
        attempt("the evaluation", lambda s: evaluation.evaluate(s, chips_moved=chips_moved), subjects)
    if failures:
        raise failures[0]  # the task is marked failed; the periodic full evaluation and sweep cover what it missed


@event_task()
def evaluate_event(event_id, topic, payload):
    """One outbox event (messages queued before the relay sent batches)."""
    evaluate_events([[event_id, topic, payload]])


@event_task()
def evaluate_all():
    from compliance.evaluation import escalate_overdue, lapse_alerts
    from compliance.evaluation import evaluate_all as run
    from compliance.finding_alerts import sweep

    run()
    # Alerts of rule versions no longer in force, which nothing evaluates any more.
    lapse_alerts()
    # Alerts past their clock (consolidation within 120 days, ...) that the evaluation did not clear.
    escalate_overdue()
    # Findings whose alert was lost in transit (a broker that restarted empty) are raised here.
    sweep()


@event_task()
def escalate_overdue():
    """Periodic (Celery beat): requests for clarification past their deadline raise their alerts."""
    from compliance.disputes import escalate_overdue as run

    return len(run())


@event_task()
def escalate_challenges():
    """Periodic (Celery beat): challenge inspections' steps past their deadlines raise their alerts."""
    from compliance.challenge_alerts import escalate_challenges as run

    return len(run())


@shared_task(ignore_result=True)
def find_hardware_unverified():
    """Periodic (Celery beat): chips of covered clusters without verified hardware evidence are findings."""
    from compliance.hardware_continuity import find_hardware_unverified as run
    from core.turns import sole_run

    with sole_run("find_hardware_unverified") as mine:
        return run() if mine else None
