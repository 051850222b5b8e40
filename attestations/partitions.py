"""Time partitions for the large per-chip tables (the DDL: attestations.storage.partitions).

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

from attestations.storage import partitions as ddl

log = logging.getLogger(__name__)
PARTITIONED = ddl.PARTITIONED
# A new partition takes an ACCESS EXCLUSIVE lock on its table, which waits for every statement writing or reading
# it, and every statement after queues behind that wait: behind a million-chip statement, the whole fleet would
# stop for as long as it runs. The task waits this long at most, then leaves the month for its next run (it
# prepares months ahead, and a month without its partition is stored in DEFAULT meanwhile).
LOCK_TIMEOUT_MS = 500


def _month(year, month):
    return datetime(year + (month - 1) // 12, (month - 1) % 12 + 1, 1, tzinfo=UTC)


def ensure_partitions(months_back=1, months_ahead=3, now=None):
    """Create the monthly partitions around `now` that do not exist yet. Returns their names."""
    now = now or datetime.now(UTC)
    created = []
    for table in PARTITIONED:
        for offset in range(-months_back, months_ahead + 1):
            start = _month(now.year, now.month + offset)
            end = _month(start.year, start.month + 1)
            name = ddl.partition_name(table, start)
            if ddl.partition_exists(name):
                continue
            try:
                ddl.create_partition(table, name, start, end, LOCK_TIMEOUT_MS)
            except Exception as exc:  # its lock not had in time, a concurrent creation, or rows of that month in
                # DEFAULT: logged, not fatal
                log.warning(
                    "could not create partition %s: %s (rows of that month already in DEFAULT are moved by "
                    "`manage.py partitions --move-default`)",
                    name,
                    exc,
                )
            else:
                created.append(name)
    return created


def move_out_of_default(lock_timeout_ms=60_000):
    """Give every month with rows in a DEFAULT partition its partition, and move its rows there (`manage.py
    partitions --move-default`): what a month stored before its partition existed needs (the daily task cannot
    create a month whose rows are in DEFAULT). Each month holds its table while its rows are copied: for a
    maintenance window. Returns {partition name: rows moved}."""
    moved = {}
    for table in PARTITIONED:
        for start in ddl.default_months(table):
            start = start.replace(tzinfo=UTC)
            end = _month(start.year, start.month + 1)
            name = ddl.partition_name(table, start)
            moved[name] = ddl.move_out_of_default(table, name, start, end, lock_timeout_ms)
    return moved


def partition_tables(apps, schema_editor):
    """Migration step: turn the two tables into partitioned ones, keeping rows, indexes and keys."""
    ddl.partition_tables(schema_editor.connection)
    ensure_partitions()
