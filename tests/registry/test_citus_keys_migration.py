"""The migrations of issue #16's Citus keys run on a database with data, both ways: every registered chip
gets its identity, chip events, placements and aggregates keep their rows under their new primary keys,
and going back restores the unique index on (manufacturer, serial) and the keys on id."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from compliance.models import Aggregate
from inventory.models import Facility, Placement
from registry import chip_writes
from registry.models import Chip, ChipEvent, ChipIdentity
from registry.registration import register_chips
from tests.factories import chip_rows

BEFORE = [
    ("registry", "0006_catalog_fp6_fp4_tpp_derived"),
    ("inventory", "0007_finding_run_kinds"),
    ("compliance", "0006_answers_clarifications"),
]


def _keys(table):
    """{index name: (unique?, primary?, [columns])} of the table."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT i.relname, x.indisunique, x.indisprimary,
                      ARRAY(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(attnum, n)
                            JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum ORDER BY k.n)
               FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass""",
            [table],
        )
        return {name: (unique, primary, columns) for name, unique, primary, columns in cursor.fetchall()}


def _primary(table):
    return next(columns for unique, primary, columns in _keys(table).values() if primary)


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets or executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_keys_migrate_both_ways_on_data(parties):
    user = parties.users["op_a_admin"]
    register_chips(chip_rows("MIG", 5), user)
    chips = list(Chip.objects.filter(serial__startswith="MIG").order_by("pk"))
    chip_writes.set_status([c.pk for c in chips[:2]], "decommissioned", actor=user, reason="old", log_index=None)
    facility = Facility.objects.create(
        code="MIG-1", name="m", country="US", latitude=1, longitude=1, operator=parties.op_a
    )
    placement = Placement.objects.create(
        chip=chips[0], facility=facility, valid_from=timezone.now(), source="declaration", source_id="1"
    )
    aggregate = Aggregate.objects.create(scope="facility", subject_key=str(facility.pk), chip_count=5)
    identities = set(ChipIdentity.objects.values_list("manufacturer_id", "serial", "chip_id"))
    events = set(ChipEvent.objects.values_list("pk", "chip_id"))
    try:
        _migrate(BEFORE)
        assert "registry_chipidentity" not in connection.introspection.table_names()
        assert _keys("registry_chip")["chip_unique_serial"][:2] == (True, False)
        assert [_primary(t) for t in ("registry_chipevent", "inventory_placement", "compliance_aggregate")] == [
            ["id"],
            ["id"],
            ["id"],
        ]
        assert _keys("compliance_aggregate")["aggregate_once"] == (True, False, ["scope", "subject_key"])

        _migrate(None)
        # Every chip registered before the migration has its identity, and registering it again is a no-op.
        assert set(ChipIdentity.objects.values_list("manufacturer_id", "serial", "chip_id")) == identities
        assert {(c.manufacturer_id, c.serial, c.pk) for c in chips} <= identities
        assert register_chips(chip_rows("MIG", 5), user).created == 0
        assert "chip_unique_serial" not in _keys("registry_chip")
        assert _keys("registry_chip")["chip_serial_idx"] == (False, False, ["manufacturer_id", "serial"])
        assert _primary("registry_chipevent") == ["chip_id", "id"]
        assert _primary("inventory_placement") == ["chip_id", "id"]
        assert _primary("compliance_aggregate") == ["scope", "subject_key"]
        assert set(ChipEvent.objects.values_list("pk", "chip_id")) == events and len(events) == 2
        assert Placement.objects.get(pk=placement.pk).chip_id == chips[0].pk
        assert Aggregate.objects.get(scope="facility", subject_key=str(facility.pk)).pk == aggregate.pk
    finally:
        _migrate(None)
