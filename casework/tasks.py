"""Celery tasks: casework following what other apps do (outbox events)."""

from core.tasks import event_task


@event_task()
def follow_challenges(events):
    """`challenge.changed` events [[event_id, topic, payload], ...]: a requested challenge joins its case."""
    from casework.cases import follow_challenge
    from inventory.models import ChallengeInspection

    requested = {payload["challenge"] for _, _, payload in events if payload.get("step") == "requested"}
    for challenge in ChallengeInspection.objects.filter(pk__in=requested).select_related("requester", "requested_by"):
        follow_challenge(challenge)
