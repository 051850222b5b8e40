"""Outbox subscriptions: casework follows challenge inspections requested for its cases."""

from casework.tasks import follow_challenges
from outbox.relay import subscribe

# inventory.services.challenges: inventory sits below casework and cannot name a case; the request carries
# the case's code as text, and casework links the inspection to the case when the event arrives.
subscribe("challenge.changed", follow_challenges, batched=True)
