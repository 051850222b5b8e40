"""Physical inventory listings: an operator's declaration, an inspector's observations."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.querysets import RestrictedQuerySet
from inventory.access import scope_q
from registry.choices import OrgKind


def _listing_scope(org):
    return scope_q(org, operator_paths=["facility__operator"], country_paths=["facility__country"], action="view")


class ListingQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        return self.filter(_listing_scope(org))


class InspectionQuerySet(ListingQuerySet):
    def restrict_for(self, user, org, action):
        # The inspectorate that recorded an inspection reads it wherever its facility lies now: a facility moved
        # across a border by its operator does not take the record out of the hands of the one that made it.
        visible = _listing_scope(org)
        if org.kind == OrgKind.INSPECTORATE:
            visible |= Q(inspectorate=org)
        return self.filter(visible)


class Declaration(models.Model):
    """The complete list of chips an operator says a facility held at `as_of`."""

    facility = models.ForeignKey("inventory.Facility", on_delete=models.PROTECT, related_name="declarations")
    as_of = models.DateTimeField()
    declared_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    # A complete location attestation counts as a declaration too.
    attestation_id = models.CharField(max_length=64, blank=True, default="")
    chip_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    log_index = models.BigIntegerField(null=True, blank=True)

    objects = ListingQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["facility", "as_of"], name="declaration_facility_idx")]


# A listing's items are written only by the server (listings._store_items), in the transaction that
# creates their listing, from chips and clusters it has just resolved: the database does not re-check
# those keys (deferred checks of a 100,000-item listing were most of its commit), as for placements.


# A listed chip the registry knows is an item (distributed by chip under Citus, so its chip is never null); a
# listed reference no chip has is a chipless item, kept on the coordinator (docs/scaling.md). Both take their
# ids from the item table's sequence, so the two read back in the order they were written, by id.


def _cluster():
    return models.ForeignKey(
        "inventory.Cluster", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_constraint=False
    )


def _chip():
    return models.ForeignKey("registry.Chip", on_delete=models.PROTECT, related_name="+", db_constraint=False)


class DeclarationItem(models.Model):
    # Looked up by declaration through declitem_chip_idx (its leading column): an index of the declaration
    # alone cost every item of a complete statement's declaration one more index entry, for nothing.
    declaration = models.ForeignKey(
        Declaration, on_delete=models.CASCADE, related_name="items", db_constraint=False, db_index=False
    )
    chip = _chip()
    chip_ref = models.CharField(max_length=100)
    cluster = _cluster()

    class Meta:
        indexes = [models.Index(fields=["declaration", "chip"], name="declitem_chip_idx")]


class ChiplessDeclarationItem(models.Model):
    """A declared chip reference the registry does not know."""

    declaration = models.ForeignKey(Declaration, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    chip_ref = models.CharField(max_length=100)
    cluster = _cluster()

    class Meta:
        indexes = [models.Index(fields=["declaration", "id"], name="chipless_declitem_idx")]


class Inspection(models.Model):
    facility = models.ForeignKey("inventory.Facility", on_delete=models.PROTECT, related_name="inspections")
    inspectorate = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="inspections")
    performed_at = models.DateTimeField()
    inspectors = models.JSONField(default=list)
    seals_checked = models.JSONField(default=list)
    notes = models.TextField(blank=True, default="")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    observed_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    log_index = models.BigIntegerField(null=True, blank=True)

    objects = InspectionQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["facility", "performed_at"], name="inspection_facility_idx")]


class InspectionItem(models.Model):
    # Indexed by inspitem_chip_idx (inspection, chip), whose leading column it is: no index of its own.
    inspection = models.ForeignKey(
        Inspection, on_delete=models.CASCADE, related_name="items", db_constraint=False, db_index=False
    )
    chip = _chip()
    chip_ref = models.CharField(max_length=100)
    cluster = _cluster()

    class Meta:
        indexes = [models.Index(fields=["inspection", "chip"], name="inspitem_chip_idx")]


class ChiplessInspectionItem(models.Model):
    """An inspected chip reference the registry does not know."""

    inspection = models.ForeignKey(
        Inspection, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )  # chipless_inspitem_idx (inspection, id)
    chip_ref = models.CharField(max_length=100)
    cluster = _cluster()

    class Meta:
        indexes = [models.Index(fields=["inspection", "id"], name="chipless_inspitem_idx")]
