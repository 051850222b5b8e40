"""Findings: every signal that something does not add up, with its evidence.

Findings are never dropped and never edited away: a finding can be resolved
(with who and why) but stays. Each is unique per (kind, subject, source) so
re-running a reconciliation does not repeat itself.

Stored in two tables (docs/scaling.md, the Citus plan): `Finding`, a finding
about a registered chip (chip never null: the table is distributed by it), and
`ChiplessFinding`, every other one (about a facility, a transfer, a statement,
or a chip reference the registry does not know: a small table kept on the
coordinator). Both take their ids from one sequence, so an id names one finding
whichever table holds it. `AnyFinding` reads both (a view): what lists, pages,
alerts and the API show. Findings are written through
inventory.services.findings.store_findings, which puts each in its table.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.querysets import RestrictedQuerySet
from inventory.access import scope_q
from inventory.choices import FindingKind, FindingSource


class FindingQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # A manufacturer is the party concerned by a finding about its own holding (it holds chips before it
        # sells them, ships and takes them back), and answers it: it reads it, as an operator does.
        return self.filter(
            scope_q(
                org,
                operator_paths=["organisation", "other_organisation"],
                country_paths=["country", "other_country"],
                manufacturer_paths=["organisation", "other_organisation"],
                action="view",
            )
        )


class FindingFields(models.Model):
    """What every finding says, wherever it is stored (no chip: each table says its own)."""

    kind = models.CharField(max_length=24, choices=FindingKind.choices)
    chip_ref = models.CharField(max_length=100, blank=True, default="")
    facility = models.ForeignKey(
        "inventory.Facility", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The operator concerned, and the countries whose inspectorates see it.
    organisation = models.ForeignKey(
        "registry.Organisation", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The other party that sees it: the receiver of a transfer the finding is about
    # (the shipper is `organisation`). Both parties to a transfer see its findings.
    other_organisation = models.ForeignKey(
        "registry.Organisation", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    country = models.CharField(max_length=2, blank=True, default="")
    other_country = models.CharField(max_length=2, blank=True, default="")
    source = models.CharField(max_length=16, choices=FindingSource.choices)
    source_id = models.CharField(max_length=64)
    detail = models.TextField(blank=True, default="")
    evidence = models.JSONField(default=dict)
    detected_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolution = models.TextField(blank=True, default="")

    objects = FindingQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["id"]


class Finding(FindingFields):
    """A finding about a registered chip (distributed by chip_id under Citus)."""

    chip = models.ForeignKey("registry.Chip", on_delete=models.PROTECT, related_name="+")

    class Meta(FindingFields.Meta):
        constraints = [
            # A chip has one public id (chip_ref), so this is the rule (kind, source, chip_ref) it replaces.
            models.UniqueConstraint(fields=["chip", "kind", "source", "source_id"], name="finding_once_per_source"),
        ]
        indexes = [
            models.Index(fields=["facility", "id"], name="finding_facility_idx"),
            models.Index(fields=["chip", "id"], name="finding_chip_idx"),
            models.Index(fields=["kind", "id"], name="finding_kind_idx"),
            models.Index(fields=["country", "id"], name="finding_country_idx"),
        ]


class ChiplessFinding(FindingFields):
    """A finding about no registered chip: a facility's record, a transfer, a statement, a chip reference
    the registry does not know (kept on the coordinator under Citus)."""

    class Meta(FindingFields.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "source", "source_id", "chip_ref"], name="chiplessfinding_once_per_source"
            ),
        ]
        indexes = [
            models.Index(fields=["facility", "id"], name="chiplessfinding_facility_idx"),
            models.Index(fields=["kind", "id"], name="chiplessfinding_kind_idx"),
            models.Index(fields=["country", "id"], name="chiplessfinding_country_idx"),
        ]


class AnyFinding(FindingFields):
    """Every finding, of both tables (a view: read-only). What the lists, the pages and the alerts read."""

    chip = models.ForeignKey("registry.Chip", on_delete=models.DO_NOTHING, null=True, blank=True, related_name="+")

    class Meta(FindingFields.Meta):
        managed = False
        db_table = "inventory_anyfinding"
        verbose_name = "finding"

    @classmethod
    def open(cls):
        return cls.objects.filter(Q(resolved_at__isnull=True))
