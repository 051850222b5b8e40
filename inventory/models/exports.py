"""Export authorisations: the exporting state's licence for a cross-border transfer, before it ships.

The sending custodian requests one for the chips it means to export (with the exporting state's licence
number as `reference`); an inspectorate whose jurisdictions include the origin country approves or refuses it
(compliance.exports, which also checks the treaty body's destination rules). A cross-border shipment must name
an approved, unused authorisation that covers its chips (inventory.services.transfers.ship); a receipt across a
border without one is recorded and raises a finding (inventory.services.exports.receipt_findings).
Rows are written only by inventory.services.exports.
"""

import uuid

from django.conf import settings
from django.db import models

from core.querysets import RestrictedQuerySet
from inventory.access import scope_q
from inventory.choices import ExportStatus


class ExportAuthorisationQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # The exporter and the receiver see it; the inspectorates of both countries; the treaty body all.
        # Anyone else: as if it did not exist (404).
        return self.filter(
            scope_q(
                org,
                operator_paths=["exporter", "receiver"],
                manufacturer_paths=["exporter", "receiver"],
                country_paths=["origin_country", "destination_country"],
                action="view",
            )
        )


class ExportAuthorisation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    exporter = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="exports")
    receiver = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="imports")
    origin_facility = models.ForeignKey(
        "inventory.Facility", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    destination_facility = models.ForeignKey(
        "inventory.Facility", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    origin_country = models.CharField(max_length=2)
    destination_country = models.CharField(max_length=2)
    reference = models.CharField(max_length=100, help_text="The exporting state's licence number.")
    # The chips it covers (public ids, as the request named them), their models (slugs) for destination rules.
    chips = models.JSONField(default=list)
    chip_models = models.JSONField(default=list)
    chips_sha256 = models.CharField(max_length=64)
    chip_count = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=ExportStatus.choices, default=ExportStatus.REQUESTED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    request_log_index = models.BigIntegerField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_by_organisation = models.ForeignKey(
        "registry.Organisation", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, default="")
    decision_log_index = models.BigIntegerField(null=True, blank=True)
    # An approval is a licence for a time, as the exporting state's are: no shipment under it after this.
    valid_until = models.DateTimeField(null=True, blank=True)
    # Withdrawn before any use by the exporting inspectorate (a receiver sanctioned since, a licence revoked).
    revoked_by_organisation = models.ForeignKey(
        "registry.Organisation", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_reason = models.TextField(blank=True, default="")
    revocation_log_index = models.BigIntegerField(null=True, blank=True)
    # The shipment it was used for: one authorisation, one shipment.
    transfer = models.OneToOneField(
        "inventory.Transfer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="export_authorisation",
    )

    objects = ExportAuthorisationQuerySet.as_manager()

    class Meta:
        ordering = ["requested_at", "id"]
        indexes = [models.Index(fields=["origin_country", "status"], name="export_origin_status_idx")]
