"""Outbox subscriptions of the attestations app, and its continuity-of-knowledge source."""

from attestations.tasks import fold_sightings, recount_usage
from attestations.verification import refresh_chips
from inventory.services.continuity import register_verification_source
from outbox.relay import subscribe

subscribe("sightings.recorded", fold_sightings)
# A chip's model, or a model's figures, corrected: the work already reported is counted at the corrected ones.
subscribe("chips.model_corrected", recount_usage)
subscribe("catalog.corrected", recount_usage)
register_verification_source(refresh_chips)
