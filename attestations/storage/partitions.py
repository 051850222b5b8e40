"""The DDL of the time partitions of sightings and usage records (attestations.partitions says why)."""

from contextlib import contextmanager

from django.db import connection, transaction

from attestations.models import Attestation, Sighting, UsageRecord
from attestations.storage.names import Table
from inventory.models import Facility
from registry.models import Chip

S, U = Table(Sighting), Table(UsageRecord)
# table -> its partition key column
PARTITIONED = {str(S): S.observed_at, str(U): U.period_start}

_TO_PARTITION = """
ALTER TABLE {table} RENAME TO {table}_unpartitioned;
CREATE TABLE {table} (LIKE {table}_unpartitioned INCLUDING DEFAULTS INCLUDING IDENTITY)
    PARTITION BY RANGE ({key});
ALTER TABLE {table} ADD PRIMARY KEY ({id}, {key});
CREATE TABLE {table}_default PARTITION OF {table} DEFAULT;
INSERT INTO {table} SELECT * FROM {table}_unpartitioned;
DROP TABLE {table}_unpartitioned;
SELECT setval(pg_get_serial_sequence('{table}', '{id}'), COALESCE((SELECT max({id}) FROM {table}), 0) + 1, false);
"""


def _keys(table):
    """(column, referenced table) of the foreign keys the partitioned table gets back."""
    return [
        (table.attestation, str(Table(Attestation))),
        (table.chip, str(Table(Chip))),
        (table.facility, str(Table(Facility))),
    ]


# The indexes as they were when the tables were partitioned (migration 0002), rebuilt on the partitioned
# table: a migration step follows the schema of its time, not the models' later indexes.
_INDEXES = {
    Sighting: [("sighting_chip_idx", ("chip", "observed_at")), ("sighting_attestation_idx", ("attestation",))],
    UsageRecord: [
        ("usage_chip_idx", ("chip", "period_start")),
        ("usage_facility_idx", ("facility", "period_start")),
        ("usage_attestation_idx", ("attestation",)),
    ],
}


def partition_name(table, start):
    return f"{table}_y{start:%Y}m{start:%m}"


def partition_exists(name):
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [name])
        return cursor.fetchone()[0] is not None


@contextmanager
def _atomic_waiting_at_most(lock_timeout_ms):
    """A cursor in a transaction of its own, or a savepoint of the caller's (a migration's; the daily task and the
    command run outside any), whose locks are waited for at most `lock_timeout_ms`: a setting undone with the
    savepoint where the work fails, and set back where it succeeds (the caller's transaction goes on)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        (previous,) = cursor.fetchone()
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{int(lock_timeout_ms)}ms"])
        yield cursor
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])


def create_partition(table, name, start, end, lock_timeout_ms):
    """Create the partition of `table` for [start, end), waiting at most `lock_timeout_ms` for the parent's lock;
    raises (and nothing changed) if the database refused it: the lock not had in time, a concurrent creation, rows
    of that range in the DEFAULT partition."""
    with _atomic_waiting_at_most(lock_timeout_ms) as cursor:
        cursor.execute(f'CREATE TABLE "{name}" PARTITION OF "{table}" FOR VALUES FROM (%s) TO (%s)', [start, end])


_MODELS = {str(S): Sighting, str(U): UsageRecord}

_DEFAULT_MONTHS = "SELECT DISTINCT date_trunc('month', {key} AT TIME ZONE 'UTC') FROM {default} ORDER BY 1"
_MOVE_MONTH = (
    "WITH moved AS (DELETE FROM {default} WHERE {key} >= %s AND {key} < %s RETURNING {columns})"
    " INSERT INTO {table} ({columns}) SELECT {columns} FROM moved"
)


def default_months(table):
    """The first instants (UTC, naive) of the months that have rows in `table`'s DEFAULT partition, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(_DEFAULT_MONTHS.format(key=PARTITIONED[table], default=f"{table}_default"))
        return [row[0] for row in cursor.fetchall()]


def move_out_of_default(table, name, start, end, lock_timeout_ms):
    """Give [start, end), whose rows are in `table`'s DEFAULT partition, the partition `name`, and move the rows
    there; the count moved. One transaction, which holds the table (every statement that writes or reads it
    waits) for as long as it copies the month: a maintenance window's work. Raises, and nothing changed, where the
    table's lock is not had within `lock_timeout_ms`."""
    default = f"{table}_default"
    columns = ", ".join(f.column for f in _MODELS[table]._meta.concrete_fields)
    with _atomic_waiting_at_most(lock_timeout_ms) as cursor:
        cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        # Detached, the DEFAULT partition is not scanned for the new month's rows (there are some: they move).
        cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {default}")
        cursor.execute(f'CREATE TABLE "{name}" PARTITION OF {table} FOR VALUES FROM (%s) TO (%s)', [start, end])
        move = _MOVE_MONTH.format(default=default, key=PARTITIONED[table], columns=columns, table=table)
        cursor.execute(move, [start, end])
        count = cursor.rowcount
        cursor.execute(f"ALTER TABLE {table} ATTACH PARTITION {default} DEFAULT")
    return count


def partition_tables(using):
    """Turn the two tables into partitioned ones, keeping rows, indexes and keys (a migration step)."""
    with using.cursor() as cursor:
        for model in (Sighting, UsageRecord):
            table = Table(model)
            key = PARTITIONED[str(table)]
            for statement in _TO_PARTITION.format(table=table, key=key, id=table.id).split(";\n"):
                if statement.strip():
                    cursor.execute(statement)
            for name, fields in _INDEXES[model]:
                columns = table.columns(*fields)
                cursor.execute(f"CREATE INDEX {name} ON {table} ({columns})")
            for column, target in _keys(table):
                cursor.execute(
                    f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_fk FOREIGN KEY ({column}) "
                    f"REFERENCES {target} (id) DEFERRABLE INITIALLY DEFERRED"
                )
