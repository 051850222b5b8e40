"""Retiring a witness key: its organisation's, logged.

An organisation holds a few active witness keys (transparency.api.serializers.MAX_WITNESS_KEYS_PER_ORGANISATION),
so rotating one means retiring one. A retired key cosigns nothing more; its cosignatures of earlier
checkpoints stay served, as they were made while it was active.
"""

from django.db import transaction
from django.utils import timezone

from core.errors import Conflict
from transparency.events import append_event
from transparency.models import WitnessKey


@transaction.atomic
def retire(witness, user):
    witness = WitnessKey.objects.select_for_update().get(pk=witness.pk)
    if witness.retired_at is not None:
        retired = witness.retired_at.isoformat()
        raise Conflict(f"Witness key {witness.name} was retired at {retired}.", code="already_retired")
    witness.retired_at = timezone.now()
    witness.save(update_fields=["retired_at"])
    append_event(
        "witness.retired",
        witness.name,
        {
            "organisation": witness.organisation,
            "key_line": witness.key_line,
            "retired_at": witness.retired_at.isoformat(),
            "by": user.username,
        },
    )
    return witness
