"""Outbox subscriptions: which changes make compliance recompute what."""

from compliance.delivery.tasks import notify_events
from compliance.tasks import evaluate_events
from outbox.relay import subscribe

for _topic in (
    "placements.changed",
    "chips.changed",
    "usage.recorded",
    "findings.raised",
    "rules.changed",
    "sites.linked",  # inventory.services.links, clusters' interconnect: the covered clusters regroup
    "challenge.changed",  # inventory.services.challenges: a challenge requested or refused raises its alert
    "facilities.reviewed",  # a facility accepted or refused: holdings outside accepted facilities move
    "exports.received",  # a receipt across a border: judged against the destination rules (compliance.exports)
):
    subscribe(_topic, evaluate_events, batched=True)

# An alert raised, reopened, escalated or closed: its subscribers are told (an event of the alert's transaction).
subscribe("alerts.notify", notify_events, batched=True)
