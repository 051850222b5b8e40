"""Inventory change reports: the shipper declares chips leaving, the receiver
confirms what arrived. Differences are findings."""

import uuid

from django.conf import settings
from django.db import models

from core.querysets import RestrictedQuerySet
from inventory.access import scope_q
from inventory.choices import TransferStatus


class TransferQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # Both parties see it; the inspectorates of both countries see it, and of the country of the site
        # it was received at (where the chips went, when that is not the destination declared).
        return self.filter(
            scope_q(
                org,
                operator_paths=["shipper", "receiver"],
                manufacturer_paths=["shipper", "receiver"],
                country_paths=["origin_country", "destination_country", "received_facility__country"],
                action="view",
            )
        )


class Transfer(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    shipper = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="shipments")
    receiver = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="receipts")
    origin_facility = models.ForeignKey(
        "inventory.Facility", on_delete=models.PROTECT, null=True, blank=True, related_name="transfers_out"
    )
    destination_facility = models.ForeignKey(
        "inventory.Facility", on_delete=models.PROTECT, null=True, blank=True, related_name="transfers_in"
    )
    origin_country = models.CharField(max_length=2, blank=True, default="")
    destination_country = models.CharField(max_length=2, blank=True, default="")
    shipped_at = models.DateTimeField()
    received_at = models.DateTimeField(null=True, blank=True)
    received_facility = models.ForeignKey(
        "inventory.Facility", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=16, choices=TransferStatus.choices, default=TransferStatus.IN_TRANSIT)
    shipped_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    ship_log_index = models.BigIntegerField(null=True, blank=True)
    receipt_log_index = models.BigIntegerField(null=True, blank=True)

    objects = TransferQuerySet.as_manager()

    class Meta:
        ordering = ["shipped_at", "id"]
        indexes = [models.Index(fields=["destination_facility", "status"], name="transfer_destination_idx")]

    @property
    def cross_border(self):
        return bool(
            self.origin_country and self.destination_country and self.origin_country != self.destination_country
        )


class TransferItem(models.Model):
    """One chip of a transfer: shipped (declared by the shipper) and/or received."""

    # Indexed by transfer_item_once (transfer, chip_ref), whose leading column it is: no index of its own.
    transfer = models.ForeignKey(Transfer, on_delete=models.PROTECT, related_name="items", db_index=False)
    # Not checked by the database, as a sighting's or a placement's chip: transfer items stay on the
    # coordinator with their transfer (read by transfer: docs/scaling.md), and a foreign key from there into
    # the distributed chip table is one Citus refuses. The server sets it from chips it resolved in the same
    # transaction (shipped ones locked), and no endpoint deletes a chip (the ORM's PROTECT still refuses).
    chip = models.ForeignKey(
        "registry.Chip",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,  # transferitem_chip_idx below
    )
    chip_ref = models.CharField(max_length=100)
    shipped = models.BooleanField(default=True)
    received = models.BooleanField(null=True, blank=True)  # null until the receipt

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["transfer", "chip_ref"], name="transfer_item_once")]
        indexes = [models.Index(fields=["chip"], name="transferitem_chip_idx")]
