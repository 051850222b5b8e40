"""Stored daily usage totals (UsageDay): one row per facility, UTC day and speaker.

A usage statement stores one UsageRecord per chip; the console's chart of
attested compute over time and its compute windows read these daily totals
instead, so a page costs a row per day, not a row per chip-day.

`add_statement(attestation)` folds the usage records of one statement into
the totals with one INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE.
It is called by attestations.store._usage() (through
UsageRecord.objects.add_day_totals) in the transaction that stores the
records, so the totals are never ahead of or behind the records. The
migration that creates the table backfills it with `backfill()`, the same
statement over every record.

Each record counts twice: towards the day its period starts (records,
flop_fp16, flop_peak, active_s, energy_j: the chart) and the day it ends
(ended_flop_fp16, ended_flop_peak: compute windows, which select records by
period end). Days are UTC dates.
"""

from django.db import connection

COLUMNS = (
    "records",
    "flop_fp16",
    "flop_peak",
    "active_s",
    "energy_j",
    "ended_flop_fp16",
    "ended_flop_peak",
)

_SQL = """
WITH t AS (
    SELECT u.facility_id AS facility_id, a.operator_id AS operator_id, a.uploaded_by_org_id AS up,
           {start_day} AS sd, {end_day} AS ed,
           COUNT(*) AS n, COALESCE(SUM(u.flop_fp16), 0) AS f16, COALESCE(SUM(u.flop_peak), 0) AS fpk,
           COALESCE(SUM(u.active_s), 0) AS act, COALESCE(SUM(u.energy_j), 0) AS en
    FROM attestations_usagerecord u
    JOIN attestations_attestation a ON a.id = u.attestation_id
    WHERE {where}
    GROUP BY u.facility_id, a.operator_id, a.uploaded_by_org_id, {start_day}, {end_day}
)
INSERT INTO attestations_usageday (facility_id, day, operator_id, uploaded_by_org_id, {columns})
SELECT facility_id, day, operator_id, up, SUM(n), SUM(f16), SUM(fpk), SUM(act), SUM(en), SUM(e16), SUM(epk)
FROM (
    SELECT facility_id, operator_id, up, sd AS day, n, f16, fpk, act, en, 0.0 AS e16, 0.0 AS epk FROM t
    UNION ALL
    SELECT facility_id, operator_id, up, ed AS day, 0 AS n, 0.0, 0.0, 0.0, 0.0, f16, fpk FROM t
) AS x
WHERE true
GROUP BY facility_id, day, operator_id, up
ON CONFLICT (facility_id, day, operator_id, uploaded_by_org_id) DO UPDATE SET {updates}
"""


def _day(column, vendor):
    if vendor == "postgresql":
        return f"(({column}) AT TIME ZONE 'UTC')::date"
    # SQLite (and others storing UTC text): the date part of the stored timestamp.
    return f"date({column})"


def _sql(where, vendor):
    return _SQL.format(
        start_day=_day("u.period_start", vendor),
        end_day=_day("u.period_end", vendor),
        where=where,
        columns=", ".join(COLUMNS),
        updates=", ".join(f"{c} = attestations_usageday.{c} + excluded.{c}" for c in COLUMNS),
    )


def add_statement(attestation):
    """Add the usage records of one stored statement to the daily totals (inside its transaction)."""
    where, params = "u.attestation_id = %s", [attestation.pk]
    if attestation.period_start is not None and connection.vendor == "postgresql":
        # Every record of a statement has its period_start: this names the one time partition to read.
        where += " AND u.period_start = %s"
        params.append(attestation.period_start)
    with connection.cursor() as cursor:
        cursor.execute(_sql(where, connection.vendor), params)


def backfill(schema_editor=None):
    """Totals from every usage record (the migration that adds the table; an empty table)."""
    conn = schema_editor.connection if schema_editor is not None else connection
    with conn.cursor() as cursor:
        cursor.execute(_sql("true", conn.vendor))
