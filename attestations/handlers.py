"""Outbox subscriptions of the attestations app, and its continuity-of-knowledge source."""

from attestations.tasks import apply_statement_book, fold_sightings
from attestations.verification import refresh_chips
from inventory.services.continuity import register_verification_source
from outbox.relay import subscribe

subscribe("statement.book", apply_statement_book)
subscribe("sightings.recorded", fold_sightings)
register_verification_source(refresh_chips)
