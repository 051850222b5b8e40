"""Where each chip was, over time: [valid_from, valid_to), valid_to null = now.

At most one open placement per chip (a partial unique index), so "where is
it now" is one row. Point-in-time questions use the primary key (chip_id, id)
(a chip's few rows) and the (facility, valid_from) index, and never scan the
table.
"""

from django.db import models
from django.db.models import Q

from core.querysets import RestrictedQuerySet
from inventory.access import scope_q
from inventory.choices import PlacementSource


class PlacementQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        if action != "view":
            return self.none()
        return self.filter(
            scope_q(org, operator_paths=["facility__operator"], country_paths=["facility__country"], action=action)
        )

    def at(self, when):
        return self.filter(valid_from__lte=when).filter(Q(valid_to__isnull=True) | Q(valid_to__gt=when))

    def during(self, start, end):
        return self.filter(in_force_during(start, end))


def in_force_during(start, end):
    """Placements in force at some time in (start, end): values, or expressions such as OuterRef("period_end")."""
    return Q(valid_from__lt=end) & (Q(valid_to__isnull=True) | Q(valid_to__gt=start))


class Placement(models.Model):
    # Placements are written only by the server (declarations, transfers,
    # statements), from chips, facilities and clusters it resolved in the same
    # transaction, so the database does not re-check the keys: at 100,000 rows
    # the deferred checks were most of a statement's commit. The chip and the
    # facility are indexed by the composite indexes below (leading column).
    chip = models.ForeignKey(
        "registry.Chip", on_delete=models.PROTECT, related_name="placements", db_constraint=False, db_index=False
    )
    facility = models.ForeignKey(
        "inventory.Facility", on_delete=models.PROTECT, related_name="placements", db_constraint=False, db_index=False
    )
    cluster = models.ForeignKey(
        "inventory.Cluster",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="placements",
        db_constraint=False,
    )
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=PlacementSource.choices)
    # The declaration, transfer or attestation that put it there.
    source_id = models.CharField(max_length=64)
    log_index = models.BigIntegerField(null=True, blank=True)

    objects = PlacementQuerySet.as_manager()

    class Meta:
        # The database's primary key is (chip_id, id) (migration 0008_placement_chip_key): it includes the
        # column the table is distributed by (docs/scaling.md), and it serves a chip's placements (which
        # had an index of their own, chip and valid_from, before). The ORM keeps id as its key (unique by
        # its sequence; nothing refers to a placement by id in the database), indexed on its own for the
        # reads by id (a placement's page, the lists' keyset pages, closing placements).
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["chip"], condition=Q(valid_to__isnull=True), name="one_open_placement"),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")), name="placement_order"
            ),
        ]
        indexes = [
            models.Index(fields=["id"], name="placement_id_idx"),
            models.Index(fields=["facility", "valid_from"], name="placement_facility_idx"),
            # "What was in F on D", first page in id order: walk F's rows in id order, not the whole table.
            models.Index(fields=["facility", "id"], name="placement_facility_id_idx"),
        ]
