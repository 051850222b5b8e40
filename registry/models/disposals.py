"""Chips leaving the books, and manufacturers' reports of the chips they made.

A disposal request (destruction or decommissioning) is the holder's word with its evidence: method,
place, date and attachments (photos, a certificate). It changes nothing by itself; an inspector of the
chips' country or the treaty body witnesses (accepts) or refuses it, and only an accepted request sets
the chips' status (registry.disposals, through registry.chip_writes). Rows are never deleted: a refused
request stays with its reason.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import StoredAttachment
from core.querysets import RestrictedQuerySet
from registry.choices import ChipStatus, DisposalKind, DisposalState, OrgKind


class DisposalQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # The requester sees its own; an inspectorate the requests about chips in its jurisdictions (where it
        # would witness); the treaty body all. Nobody changes a request except through its decision.
        if org.kind in (OrgKind.OPERATOR, OrgKind.MANUFACTURER):
            return self.filter(organisation=org)
        if org.kind == OrgKind.TREATY_BODY:
            return self
        if org.kind == OrgKind.INSPECTORATE:
            return self.filter(country__in=org.jurisdictions or [])
        return self.none()


class DisposalRequest(models.Model):
    kind = models.CharField(max_length=16, choices=DisposalKind.choices)
    state = models.CharField(max_length=8, choices=DisposalState.choices, default=DisposalState.PENDING)
    organisation = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    # Where the books have the chips when asked: the jurisdiction whose inspectors witness it.
    country = models.CharField(max_length=2)
    method = models.CharField(max_length=200)
    place = models.CharField(max_length=300)
    date = models.DateField()
    reason = models.TextField(blank=True, default="")
    chip_count = models.PositiveIntegerField()
    chips_sha256 = models.CharField(max_length=64)
    log_index = models.BigIntegerField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_by_organisation = models.ForeignKey(
        "registry.Organisation", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="")
    decision_log_index = models.BigIntegerField(null=True, blank=True)

    objects = DisposalQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["state", "id"], name="disposal_state_idx"),
            models.Index(fields=["country", "id"], name="disposal_country_idx"),
        ]


class DisposalChipQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        return self.filter(request__in=DisposalRequest.objects.restrict_for(user, org, action))


class DisposalChip(models.Model):
    request = models.ForeignKey(DisposalRequest, on_delete=models.PROTECT, related_name="chips")
    chip = models.ForeignKey("registry.Chip", on_delete=models.PROTECT, related_name="+", db_constraint=False)
    # The status the chip had when asked (what the witness is told it leaves).
    status = models.CharField(max_length=16, choices=ChipStatus.choices)
    # A chip is in at most one request awaiting witness.
    pending = models.BooleanField(default=True)

    objects = DisposalChipQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "chip"], name="disposal_chip_once"),
            models.UniqueConstraint(fields=["chip"], condition=Q(pending=True), name="disposal_chip_pending_once"),
        ]
        indexes = [models.Index(fields=["chip", "id"], name="disposal_chip_idx")]


class DisposalAttachment(StoredAttachment):
    """A photo or certificate of a disposal: stored whole, bounded (core.attachments), logged by its SHA-256."""

    request = models.ForeignKey(DisposalRequest, on_delete=models.PROTECT, related_name="attachments")

    objects = DisposalChipQuerySet.as_manager()

    class Meta:
        ordering = ["request", "position"]
        constraints = [models.UniqueConstraint(fields=["request", "position"], name="disposal_attachment_once")]


class ReportQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # A manufacturer's production is its own to read; the treaty body reads every report.
        if org.kind == OrgKind.MANUFACTURER:
            return self.filter(manufacturer=org)
        if action == "view" and org.kind == OrgKind.TREATY_BODY:
            return self
        return self.none()


class ManufacturerReport(models.Model):
    """One serial a manufacturer says it produced. A manufacturer with any report is a reporting party:
    chips of its make that others register and it never reported are findings (inventory.services.watch)."""

    manufacturer = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="+")
    serial = models.CharField(max_length=64)
    reported_at = models.DateTimeField(auto_now_add=True)
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    log_index = models.BigIntegerField(null=True, blank=True)

    objects = ReportQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["manufacturer", "serial"], name="manufacturer_report_once")]
