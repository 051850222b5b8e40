"""What the console stores for itself: the reconciliation snapshots its pages read.

A facility's material balance (inventory.services.reconciliation) is a set
difference over its whole book: seconds for a facility of hundreds of
thousands of chips. The console stores the last answer per facility and
recomputes it in the background (console.reconciliation) whenever a
declaration, an inspection, a complete location statement, a transfer or a
placement change lands; pages read the stored rows, a page at a time.
"""

from django.db import models


class ReconciliationSnapshot(models.Model):
    """The last computed balance of one facility.

    `wanted` counts the changes announced for the facility, `started` the
    generation a computation last began with, `computed` the generation the
    stored rows answer: the snapshot is current when computed == wanted.
    """

    facility = models.OneToOneField("inventory.Facility", on_delete=models.CASCADE, related_name="+")
    wanted = models.BigIntegerField(default=1)
    started = models.BigIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    computed = models.BigIntegerField(default=0)
    computed_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(default=0, help_text="How long the computation took.")
    at = models.DateTimeField(null=True, blank=True, help_text="The instant reconciled (the book at this time).")
    book_count = models.BigIntegerField(default=0)
    # {"declaration" | "attestation" | "inspection": {"id", "date", "listed", counts} | None, "transfers": {...}}
    sources = models.JSONField(default=dict)
    # What the answer was computed from: the latest listings and the facility's newest placement.
    inputs = models.JSONField(default=dict)
    discrepancy_count = models.BigIntegerField(default=0)

    def __str__(self):
        return f"reconciliation of facility {self.facility_id} at {self.at}"

    @property
    def current(self):
        return self.computed >= self.wanted


class ReconciliationItem(models.Model):
    """One discrepancy of a snapshot (the fields of inventory.services.reconciliation.Discrepancy)."""

    snapshot = models.ForeignKey(ReconciliationSnapshot, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=32)
    chip_ref = models.CharField(max_length=100)
    chip_pk = models.BigIntegerField(null=True, blank=True)
    source = models.CharField(max_length=32)
    source_id = models.CharField(max_length=64)
    book_cluster = models.CharField(max_length=64, blank=True, default="")
    listed_cluster = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["snapshot", "id"], name="recon_item_snapshot_idx")]
