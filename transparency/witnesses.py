"""Registering and retiring witness keys: an organisation's own, logged.

An organisation holds a few active witness keys (MAX_KEYS_PER_ORGANISATION), so rotating one means
retiring one. A retired key cosigns nothing more; its cosignatures of earlier checkpoints stay served, as
they were made while it was active.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, Invalid
from protocol import note
from transparency import storage
from transparency.events import EVERY_PARTY, append_event
from transparency.models import Checkpoint, Cosignature, WitnessKey

# Active witness keys an organisation may hold: every one may cosign each checkpoint, and the served
# checkpoint carries at most note.MAX_SIGNATURES lines, so no party may take them all.
MAX_KEYS_PER_ORGANISATION = 4

# Cosignatures a checkpoint accepts: its served note also carries the log's own signature.
MAX_COSIGNATURES = note.MAX_SIGNATURES - 1

DUPLICATE_KEY = "That public key is already registered."


def register(organisation, name, public_key, user):
    """A new active witness key `name` of `organisation` (its code) with the raw Ed25519 `public_key`, and its
    `witness.registered` event. The cap and both uniqueness rules hold under concurrent registrations: the
    organisation's registrations take turns, and the database refuses a second row for a name or a key."""
    try:
        with transaction.atomic():
            storage.lock_witness_organisation(organisation)
            active = WitnessKey.objects.filter(organisation=organisation, retired_at__isnull=True).count()
            if active >= MAX_KEYS_PER_ORGANISATION:
                raise Conflict(
                    f"An organisation holds at most {MAX_KEYS_PER_ORGANISATION} active witness keys.",
                    code="too_many_witness_keys",
                )
            witness = WitnessKey.objects.create(
                organisation=organisation,
                name=name,
                public_key=public_key,
                key_line=note.cosigner_key_line(name, public_key),
                created_by=user.username,
            )
            append_event(
                "witness.registered",
                witness.name,
                {"organisation": organisation, "key_line": witness.key_line, "by": user.username},
                # Witness keys are public (anyone checks a cosignature): so are their registration and retirement,
                # as the signing keys' and landmarks' are.
                parties=[EVERY_PARTY],
                countries=[],
            )
            return witness
    except IntegrityError:
        # A concurrent registration took the name or the key first: the answer the serializer's own checks
        # of both give when the other came earlier.
        field, message = (
            ("public_key", DUPLICATE_KEY)
            if WitnessKey.objects.filter(public_key=public_key).exists()
            else ("name", "witness key with this name already exists.")
        )
        raise Invalid(message, errors={field: [message]}) from None


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
        parties=[EVERY_PARTY],
        countries=[],
    )
    return witness


@transaction.atomic
def cosign(checkpoint, witness, line, timestamp):
    """Store `witness`'s verified cosignature `line` of `checkpoint`, judged under the checkpoint's row lock so
    that cosignatures arriving together are counted one by one (_check_room)."""
    checkpoint = Checkpoint.objects.select_for_update().get(pk=checkpoint.pk)
    _check_room(checkpoint, witness.organisation)
    return Cosignature.objects.create(checkpoint=checkpoint, witness=witness, line=line, timestamp=timestamp)


def _check_room(checkpoint, organisation):
    """The served note must stay one that every verifier reads (signed-note's limit of MAX_COSIGNATURES
    besides the log's own line), and no early witness may fill it: an organisation's first cosignature of a
    checkpoint always finds room while any is left, and its further keys' only what remains after a place is
    kept for every witness organisation that has not cosigned it yet (the treaty body among them)."""
    signed = list(checkpoint.cosignatures.values_list("witness__organisation", flat=True))
    if len(signed) >= MAX_COSIGNATURES:
        raise Conflict("That checkpoint carries as many cosignatures as a note may.", code="cosignatures_full")
    if organisation not in signed:
        return
    active = set(WitnessKey.objects.filter(retired_at__isnull=True).values_list("organisation", flat=True))
    waiting = active - set(signed)
    if len(signed) + len(waiting) >= MAX_COSIGNATURES:
        raise Conflict(
            "Your organisation has cosigned that checkpoint; its remaining places are kept for the "
            f"{len(waiting)} witness organisation(s) that have not.",
            code="cosignatures_full",
        )
