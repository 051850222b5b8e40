"""Chips: identity (manufacturer, serial), status, custody, and their history."""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce

from core.querysets import RestrictedQuerySet
from protocol.serials import format_chip_id
from registry.choices import ChipEventKind, ChipStatus, OrgKind


class ChipQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        kind = org.kind
        if kind == OrgKind.OPERATOR:
            return self.filter(custodian=org)
        if kind == OrgKind.MANUFACTURER:
            # A manufacturer follows the chips it registered until they leave its custody.
            return self.filter(registered_by=org, custodian=org)
        if action != "view":
            return self.none()
        if kind == OrgKind.TREATY_BODY:
            return self
        if kind == OrgKind.INSPECTORATE:
            return self.filter(country__in=org.jurisdictions or [])
        return self.none()

    def by_public_id(self, public_id):
        """Filter by `<manufacturer>:<serial>` in any spelling; an unparseable id matches nothing."""
        from protocol.serials import normalize_chip_id, parse_chip_id

        try:
            manufacturer, serial = parse_chip_id(normalize_chip_id(public_id))
        except ValueError:
            return self.none()
        return self.filter(manufacturer__code=manufacturer, serial=serial)


class RegistrationBatch(models.Model):
    """One accepted registration request (one chip or a million)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True)
    at = models.DateTimeField(auto_now_add=True)
    submitted = models.PositiveIntegerField()
    created = models.PositiveIntegerField()
    log_index = models.BigIntegerField(null=True, blank=True)


class Chip(models.Model):
    # Indexes: the composite ones in Meta cover the foreign keys that are
    # searched (a manufacturer's view filters on custodian first), so the
    # single-column ones Django would add are switched off (each index costs
    # every bulk registration a write per chip).
    #
    # No foreign key of a chip is checked by the database: PostgreSQL checks
    # each one with a query per inserted row at commit, which cost a
    # 1,000,000-chip registration more time than writing the chips. The ids
    # are the server's own: manufacturer and model are looked up in the
    # catalog by registration (or the model correction) in the same request,
    # custodian, registered_by and batch are set by the server; and
    # organisations, models and batches are never deleted (PROTECT, and no
    # endpoint deletes them).
    manufacturer = models.ForeignKey(
        "registry.Organisation",
        on_delete=models.PROTECT,
        related_name="manufactured_chips",
        db_index=False,
        db_constraint=False,
    )
    serial = models.CharField(max_length=64)
    model = models.ForeignKey(
        "registry.AcceleratorModel",
        on_delete=models.PROTECT,
        related_name="chips",
        db_index=False,
        db_constraint=False,
    )
    uuid = models.CharField("hardware UUID", max_length=64, blank=True, default="")
    board_part_number = models.CharField(max_length=64, blank=True, default="")
    attestation_key_fingerprint = models.CharField(max_length=128, blank=True, default="")
    status = models.CharField(max_length=16, choices=ChipStatus.choices, default=ChipStatus.MANUFACTURED)
    custodian = models.ForeignKey(
        "registry.Organisation",
        on_delete=models.PROTECT,
        related_name="custody_chips",
        db_index=False,
        db_constraint=False,
    )
    registered_by = models.ForeignKey(
        "registry.Organisation",
        on_delete=models.PROTECT,
        related_name="registered_chips",
        db_index=False,
        db_constraint=False,
    )
    # The country the chip is in now, denormalised from its custody and (with
    # the inventory) its placement, so an inspectorate's view is one indexed filter.
    country = models.CharField(max_length=2, blank=True, default="")
    # Not indexed: every chip of a batch would add an entry to one key (a
    # costly insert per chip), and nothing looks chips up by batch (the
    # batch's log event commits to its chip ids; registration knows which
    # chips it created).
    batch = models.ForeignKey(
        RegistrationBatch,
        on_delete=models.PROTECT,
        null=True,
        related_name="chips",
        db_index=False,
        db_constraint=False,
    )
    # Continuity of knowledge: when an attestation or inspection last saw it.
    last_verified_at = models.DateTimeField(null=True, blank=True)
    # When the chip last proved itself: the observed_at of its latest verified hardware evidence
    # (HARDWARE.md 5), moved only forward, by registry.chip_writes.set_hardware_verified.
    hardware_verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ChipQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        # (manufacturer, serial) is unique in ChipIdentity, not here: a chip table distributed by id (see
        # docs/scaling.md) cannot enforce a unique index without its id. This index only finds chips.
        indexes = [
            models.Index(fields=["manufacturer", "serial"], name="chip_serial_idx"),
            models.Index(fields=["custodian", "id"], name="chip_custodian_idx"),
            models.Index(fields=["country", "id"], name="chip_country_idx"),
            models.Index(fields=["model", "id"], name="chip_model_idx"),
            models.Index(fields=["last_verified_at"], name="chip_last_verified_idx"),
        ]

    def __str__(self):
        return self.public_id

    @property
    def public_id(self):
        return format_chip_id(self.manufacturer.code, self.serial)


class ChipIdentity(models.Model):
    """The one chip of each (manufacturer, serial): where the database holds serials unique per manufacturer.

    Registration (registry.registration, through registry.storage) writes a chip and its identity in one
    transaction, and only there; a second registration of a serial, in any spelling (serials are stored
    normalised), meets this primary key, concurrent ones included. Its own table because the chip table
    is to be distributed by id across nodes (docs/scaling.md), where a unique index without the id cannot
    be enforced; this one is distributed by serial. For the same reason the chip is not a checked foreign
    key (Citus refuses one between tables distributed by different columns): the chip is the server's own,
    written beside it, and no endpoint deletes a chip (one deleted through the ORM takes its identity with
    it). Reads of a chip by (manufacturer, serial) use the chip table's own index (one probe, no join);
    this table is registration's.
    """

    pk = models.CompositePrimaryKey("manufacturer", "serial")
    # Unchecked by the database, as the chip's own manufacturer (see Chip): registration looked it up.
    manufacturer = models.ForeignKey(
        "registry.Organisation", on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    serial = models.CharField(max_length=64)
    # Not indexed: nothing finds an identity by its chip (the chip row holds manufacturer and serial itself).
    chip = models.ForeignKey(Chip, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)

    def __str__(self):
        return format_chip_id(self.manufacturer.code, self.serial)


def _holder_then():
    """The code of the chip's holder when a history row was written: the custodian its latest custody row up to
    it gave, or, before any, the one the first custody row took it from (or, the chip never having changed
    hands, its custodian now)."""
    custody = ChipEvent.objects.filter(chip=models.OuterRef("chip"), kind=ChipEventKind.CUSTODY)
    after = custody.filter(id__lte=models.OuterRef("id")).order_by("-id").annotate(c=KT("after__custodian"))
    before = custody.order_by("id").annotate(c=KT("before__custodian"))
    return Coalesce(
        models.Subquery(after.values("c")[:1], output_field=models.CharField()),
        models.Subquery(before.values("c")[:1], output_field=models.CharField()),
        models.F("chip__custodian__code"),
    )


class ChipEventQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # A chip's history is seen by whoever sees the chip, and of it: by its holder (an operator or a maker that
        # sees it holds it), its own acts, every row of its own time with the chip (now, and any earlier spell,
        # whoever wrote it: the witness of its disposal, say) and the chip's model corrections (facts about the
        # chip, not anyone's books); by an inspectorate and the treaty body, all. A former holder's time is its
        # books, as its evidence and sightings are (attestations.models.ChipEvidenceQuerySet): the next holder does
        # not read who installed the chip, when, or under which transfer it came to the holder before.
        if action != "view":
            return self.none()
        rows = self.filter(chip__in=Chip.objects.restrict_for(user, org, "view"))
        if org.kind not in (OrgKind.OPERATOR, OrgKind.MANUFACTURER):
            return rows
        return rows.alias(holder_then=_holder_then()).filter(
            models.Q(actor_organisation=org) | models.Q(kind=ChipEventKind.MODEL) | models.Q(holder_then=org.code)
        )


class ChipEvent(models.Model):
    """Append-only history of a chip: who changed what, when, before and after."""

    # Indexed by the primary key (chip_id, id), which leads with it (see Meta).
    chip = models.ForeignKey(Chip, on_delete=models.PROTECT, related_name="events", db_index=False)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=16, choices=ChipEventKind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    actor_organisation = models.ForeignKey(
        "registry.Organisation", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    before = models.JSONField()
    after = models.JSONField()
    reason = models.TextField(blank=True, default="")
    log_index = models.BigIntegerField(null=True, blank=True)

    objects = ChipEventQuerySet.as_manager()

    class Meta:
        # The database's primary key is (chip_id, id) (migration 0007_chip_identity): a chip's history is
        # read by chip, in id order, and the key includes the column the table is distributed by
        # (docs/scaling.md). The ORM keeps id as its key: unique by its sequence, and nothing refers to
        # an event by id (history is read per chip, or by the log entry that covers it).
        ordering = ["id"]
        indexes = [
            # "Which chips changed hands or status under these log entries": a statement resolved before the
            # log's lock asks it of the entries appended meanwhile (registry.chip_writes.changed_between).
            models.Index(fields=["log_index"], name="chipevent_log_index_idx"),
        ]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError("Chip history is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Chip history is append-only.")


class IdentitySource(models.TextChoices):
    MANUFACTURER = "manufacturer", "Enrolled by the chip's manufacturer (authoritative)"
    EVIDENCE = "evidence", "Enrolled by the first verified evidence (trust on first use)"


class HardwareIdentityQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # Seen by whoever sees the chip; written only by registry.hardware_identity.
        if action != "view":
            return self.none()
        return self.filter(chip__in=Chip.objects.restrict_for(user, org, "view"))


class HardwareIdentity(models.Model):
    """A chip's device identity (HARDWARE.md 4, check 6): one per chip, one chip per identity.

    Not the serial lookup table (chip_identity): this is what the chip's fused key proves it is,
    `<vendor>-<generation>:<HEX>`, enrolled by its manufacturer or by its first verified evidence.
    Every enrolment is a `chip.identity_enrolled` log event (`log_index`)."""

    # Set by the server from chips it has just resolved, not re-checked by the database (as for the
    # chip's own keys): a chip is never deleted, and a foreign key into the chip table is one the
    # Citus plan (docs/scaling.md) could not keep.
    chip = models.OneToOneField(Chip, on_delete=models.PROTECT, related_name="hardware_identity", db_constraint=False)
    identity = models.CharField(max_length=100, unique=True)
    # SHA-256 (hex) of the identity certificate's SubjectPublicKeyInfo; "" until evidence shows it
    # (a manufacturer enrols the identity alone).
    key_sha256 = models.CharField(max_length=64, blank=True, default="")
    source = models.CharField(max_length=16, choices=IdentitySource.choices)
    enrolled_by = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="+")
    enrolled_at = models.DateTimeField()
    log_index = models.BigIntegerField(null=True, blank=True)

    objects = HardwareIdentityQuerySet.as_manager()

    class Meta:
        db_table = "registry_hardwareidentity"
        ordering = ["id"]
