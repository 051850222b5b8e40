"""Outbox subscriptions: which changes make compliance recompute what."""

from compliance.tasks import evaluate_events
from outbox.relay import subscribe

for _topic in ("placements.changed", "chips.changed", "usage.recorded", "findings.raised", "rules.changed"):
    subscribe(_topic, evaluate_events, batched=True)
