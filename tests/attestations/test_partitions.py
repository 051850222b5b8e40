"""Sightings and usage records live in monthly partitions."""

from datetime import UTC, datetime

from django.db import connection

from attestations.partitions import PARTITIONED, ensure_partitions
from tests.attestations.conftest import now


def partitions(table):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s ORDER BY 1",
            [table],
        )
        return [r[0] for r in cursor.fetchall()]


def test_tables_are_partitioned_by_month(db):
    for table in PARTITIONED:
        names = partitions(table)
        assert f"{table}_default" in names
        assert f"{table}_y{now():%Y}m{now():%m}" in names


def test_statements_land_in_their_month_not_the_default(world):
    response, _ = world.submit(world.op_a, world.location(["nvidia:A000000", "nvidia:A000001"]))
    assert response.status_code == 201
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM attestations_sighting_default")
        assert cursor.fetchone()[0] == 0
        cursor.execute(f"SELECT count(*) FROM attestations_sighting_y{now():%Y}m{now():%m}")
        assert cursor.fetchone()[0] == 2


def test_ensure_partitions_is_idempotent_and_looks_ahead(db):
    later = datetime(2031, 5, 17, tzinfo=UTC)
    created = ensure_partitions(months_back=0, months_ahead=1, now=later)
    assert "attestations_sighting_y2031m05" in created and "attestations_usagerecord_y2031m06" in created
    assert ensure_partitions(months_back=0, months_ahead=1, now=later) == []
