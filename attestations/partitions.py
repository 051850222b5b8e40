"""Time partitions for the large per-chip tables (PostgreSQL).

Sightings (by observed_at) and usage records (by period_start) grow with every
statement, tens of millions of rows a month at world scale. Monthly range
partitions keep each index small, make a month's data one detachable table
(archive, or move to cheaper storage), and let time-bounded queries touch only
the months they ask for. A DEFAULT partition catches anything outside the
prepared months, so an insert never fails for want of a partition.

Placements are not partitioned: "at most one open placement per chip" is a
unique index, and PostgreSQL cannot enforce a unique index across partitions
unless it includes the partition key. See docs/scaling.md.
"""

import logging
from datetime import UTC, datetime

from django.db import connection

log = logging.getLogger(__name__)
PARTITIONED = {"attestations_sighting": "observed_at", "attestations_usagerecord": "period_start"}


def _month(year, month):
    return datetime(year + (month - 1) // 12, (month - 1) % 12 + 1, 1, tzinfo=UTC)


def ensure_partitions(months_back=1, months_ahead=3, now=None):
    """Create the monthly partitions around `now` that do not exist yet. Returns their names."""
    if connection.vendor != "postgresql":
        return []
    now = now or datetime.now(UTC)
    created = []
    with connection.cursor() as cursor:
        for table in PARTITIONED:
            for offset in range(-months_back, months_ahead + 1):
                start = _month(now.year, now.month + offset)
                end = _month(start.year, start.month + 1)
                name = f"{table}_y{start:%Y}m{start:%m}"
                cursor.execute("SELECT to_regclass(%s)", [name])
                if cursor.fetchone()[0] is not None:
                    continue
                try:
                    cursor.execute("SAVEPOINT chipreg_partition")
                    cursor.execute(
                        f'CREATE TABLE "{name}" PARTITION OF "{table}" FOR VALUES FROM (%s) TO (%s)', [start, end]
                    )
                    cursor.execute("RELEASE SAVEPOINT chipreg_partition")
                    created.append(name)
                except Exception as exc:
                    cursor.execute("ROLLBACK TO SAVEPOINT chipreg_partition")
                    log.warning("could not create partition %s: %s", name, exc)
    return created


PARTITION_SQL = """
ALTER TABLE {table} RENAME TO {table}_unpartitioned;
CREATE TABLE {table} (LIKE {table}_unpartitioned INCLUDING DEFAULTS INCLUDING IDENTITY)
    PARTITION BY RANGE ({key});
ALTER TABLE {table} ADD PRIMARY KEY (id, {key});
CREATE TABLE {table}_default PARTITION OF {table} DEFAULT;
INSERT INTO {table} SELECT * FROM {table}_unpartitioned;
DROP TABLE {table}_unpartitioned;
SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT max(id) FROM {table}), 0) + 1, false);
"""

FOREIGN_KEYS = {
    "attestations_sighting": [
        ("attestation_id", "attestations_attestation"),
        ("chip_id", "registry_chip"),
        ("facility_id", "inventory_facility"),
    ],
    "attestations_usagerecord": [
        ("attestation_id", "attestations_attestation"),
        ("chip_id", "registry_chip"),
        ("facility_id", "inventory_facility"),
    ],
}
INDEXES = {
    "attestations_sighting": [
        ("sighting_chip_idx", "chip_id, observed_at"),
        ("sighting_attestation_idx", "attestation_id"),
    ],
    "attestations_usagerecord": [
        ("usage_chip_idx", "chip_id, period_start"),
        ("usage_facility_idx", "facility_id, period_start"),
        ("usage_attestation_idx", "attestation_id"),
    ],
}


def partition_tables(apps, schema_editor):
    """Migration step: turn the two tables into partitioned ones, keeping rows, indexes and keys."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table, key in PARTITIONED.items():
            for statement in PARTITION_SQL.format(table=table, key=key).split(";\n"):
                if statement.strip():
                    cursor.execute(statement)
            for name, columns in INDEXES[table]:
                cursor.execute(f"CREATE INDEX {name} ON {table} ({columns})")
            for column, target in FOREIGN_KEYS[table]:
                cursor.execute(
                    f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_fk FOREIGN KEY ({column}) "
                    f"REFERENCES {target} (id) DEFERRABLE INITIALLY DEFERRED"
                )
    ensure_partitions()
