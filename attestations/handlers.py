"""Outbox subscriptions of the attestations app, and its continuity-of-knowledge source."""

from attestations.tasks import fold_sightings
from attestations.verification import refresh_chips
from inventory.services.continuity import register_verification_source
from outbox.relay import subscribe

subscribe("sightings.recorded", fold_sightings)
register_verification_source(refresh_chips)
