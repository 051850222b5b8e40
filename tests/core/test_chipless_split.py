"""Rows without a chip leave the per-chip tables (docs/scaling.md, "Rows without a chip").

The migrations (inventory and attestations 0007) move the rows a database already holds, ids kept, replace the
primary keys, and leave each pair of tables on one id sequence; and back.
"""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import chip_rows

BEFORE = [("inventory", "0008_placement_chip_key"), ("attestations", "0007_usage_attributed_to_runs")]
WHEN = datetime(2026, 3, 14, 12, tzinfo=UTC)
UNKNOWN = "nvidia:NOSUCHCHIP"


def _old_rows(old, chip):
    """One row with the chip and one or two without, in each table as it was before the split: their ids."""
    finding = old.get_model("inventory", "Finding").objects
    ids = {
        "finding": finding.create(
            kind="unaccounted", chip_id=chip, chip_ref="nvidia:MIG000000", source="declaration", source_id="7"
        ).pk,
        "finding_unknown": finding.create(
            kind="unknown_chip", chip_ref=UNKNOWN, source="declaration", source_id="7"
        ).pk,
        "finding_statement": finding.create(kind="revoked_key", source="attestation", source_id="9").pk,
    }
    for name, parent in (("DeclarationItem", "declaration_id"), ("InspectionItem", "inspection_id")):
        items = old.get_model("inventory", name).objects
        ids[name] = items.create(**{parent: 7}, chip_id=chip, chip_ref="nvidia:MIG000000").pk
        ids[f"{name}_unknown"] = items.create(**{parent: 7}, chip_id=None, chip_ref=UNKNOWN).pk
    sightings = old.get_model("attestations", "Sighting").objects
    row = {"attestation_id": 9, "facility_id": 5, "observed_at": WHEN}
    ids["Sighting"] = sightings.create(chip_id=chip, chip_ref="nvidia:MIG000000", **row).pk
    ids["Sighting_unknown"] = sightings.create(chip_id=None, chip_ref=UNKNOWN, cluster_code="c1", **row).pk
    usage = old.get_model("attestations", "UsageRecord").objects
    row = {
        "attestation_id": 9,
        "facility_id": 5,
        "period_start": WHEN,
        "period_end": WHEN,
        "active_s": 1.0,
        "utilization": 0.5,
        "energy_j": 2.0,
    }
    ids["UsageRecord"] = usage.create(chip_id=chip, chip_ref="nvidia:MIG000000", flop_fp16=3.0, **row).pk
    ids["UsageRecord_unknown"] = usage.create(chip_id=None, chip_ref=UNKNOWN, **row).pk
    return ids


def _primary_key(table):
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(attnum, n)
                            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.n)
               FROM pg_constraint c WHERE c.conrelid = %s::regclass AND c.contype = 'p'""",
            [table],
        )
        return cursor.fetchone()[0]


def _latest():
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_migrations_move_existing_rows_without_a_chip_ids_kept(parties):
    from attestations.models import AnyUsageRecord, ChiplessSighting, ChiplessUsageRecord, Sighting, UsageRecord
    from inventory.models import (
        AnyFinding,
        ChiplessDeclarationItem,
        ChiplessFinding,
        ChiplessInspectionItem,
        DeclarationItem,
        Finding,
        InspectionItem,
    )
    from inventory.services.findings import new_finding, store_findings
    from registry.models import Chip
    from registry.registration import register_chips

    register_chips(chip_rows("MIG", 1), parties.users["op_a_admin"])
    chip = Chip.objects.get(serial="MIG000000").pk
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(BEFORE)
        ids = _old_rows(executor.loader.project_state(BEFORE).apps, chip)
        _latest()

        assert list(Finding.objects.values_list("id", "chip_id", "kind")) == [(ids["finding"], chip, "unaccounted")]
        assert sorted(ChiplessFinding.objects.values_list("id", "kind", "chip_ref")) == [
            (ids["finding_unknown"], "unknown_chip", UNKNOWN),
            (ids["finding_statement"], "revoked_key", ""),
        ]
        assert sorted(AnyFinding.objects.values_list("id", "chip_id")) == [
            (ids["finding"], chip),
            (ids["finding_unknown"], None),
            (ids["finding_statement"], None),
        ]
        for model, chipless in ((DeclarationItem, ChiplessDeclarationItem), (InspectionItem, ChiplessInspectionItem)):
            name = model.__name__
            assert list(model.objects.values_list("id", "chip_id")) == [(ids[name], chip)]
            assert list(chipless.objects.values_list("id", "chip_ref")) == [(ids[f"{name}_unknown"], UNKNOWN)]
        assert list(Sighting.objects.values_list("id", "chip_id")) == [(ids["Sighting"], chip)]
        assert list(ChiplessSighting.objects.values_list("id", "chip_ref", "cluster_code", "observed_at")) == [
            (ids["Sighting_unknown"], UNKNOWN, "c1", WHEN)
        ]
        assert list(UsageRecord.objects.values_list("id", "chip_id")) == [(ids["UsageRecord"], chip)]
        assert list(ChiplessUsageRecord.objects.values_list("id", "chip_ref")) == [
            (ids["UsageRecord_unknown"], UNKNOWN)
        ]
        assert sorted(AnyUsageRecord.objects.values_list("id", "chip_id", "flop_fp16")) == [
            (ids["UsageRecord"], chip, 3.0),
            (ids["UsageRecord_unknown"], None, None),
        ]

        # The keys hold the chip (and the partition column), after the old key's id.
        assert _primary_key("inventory_finding") == ["id", "chip_id"]
        assert _primary_key("inventory_declarationitem") == ["id", "chip_id"]
        assert _primary_key("attestations_sighting") == ["id", "observed_at", "chip_id"]
        assert _primary_key("attestations_usagerecord") == ["id", "period_start", "chip_id"]

        # One sequence per pair: a new row of either table takes the next id, never one the other holds.
        rows = [
            new_finding(kind="revoked_key", source="attestation", source_id="10"),
            new_finding(
                kind="unaccounted", chip_id=chip, chip_ref="nvidia:MIG000000", source="inspection", source_id="3"
            ),
        ]
        store_findings(rows)
        new_ids = sorted(AnyFinding.objects.values_list("id", flat=True))
        assert len(new_ids) == len(set(new_ids)) == 5 and min(new_ids[-2:]) > max(ids[k] for k in ids if "finding" in k)
        later = ChiplessSighting.objects.create(chip_ref=UNKNOWN, attestation_id=10, facility_id=5, observed_at=WHEN)
        assert later.pk > max(ids["Sighting"], ids["Sighting_unknown"])

        # And back: the rows without a chip in their old table again, ids kept.
        executor = MigrationExecutor(connection)
        executor.migrate(BEFORE)
        old = executor.loader.project_state(BEFORE).apps
        back = old.get_model("inventory", "Finding").objects.filter(chip__isnull=True).values_list("id", flat=True)
        assert {ids["finding_unknown"], ids["finding_statement"]} <= set(back)
        sightings = old.get_model("attestations", "Sighting").objects.filter(chip__isnull=True)
        assert ids["Sighting_unknown"] in set(sightings.values_list("id", flat=True))
    finally:
        _latest()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "view,stored",
    [("inventory.AnyFinding", "inventory.Finding"), ("attestations.AnyUsageRecord", "attestations.UsageRecord")],
)
def test_each_view_has_the_columns_of_its_model_and_of_the_table(view, stored):
    """A field added to a pair without the view recreated (core.splits.create_union_view) fails here."""
    from django.apps import apps

    view, stored = apps.get_model(view), apps.get_model(stored)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {view._meta.db_table} LIMIT 0")
        columns = {c.name for c in cursor.description}
    assert columns == {f.column for f in view._meta.concrete_fields} == {f.column for f in stored._meta.concrete_fields}
