"""Folding usage records into the stored daily totals (attestations.daily says what and why).

One INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE: each record
counts towards the UTC day its period starts (records, compute, active time,
energy: the chart) and the day it ends (ended_*: compute windows).
"""

from django.db import connection

from attestations.models import AnyUsageRecord, Attestation, UsageDay, UsageRecord
from attestations.storage.names import Table

U, A, D = Table(UsageRecord), Table(Attestation), Table(UsageDay)
# Every record counts, bound to a chip or not: the view of both tables (attestations.models.AnyUsageRecord).
ALL = Table(AnyUsageRecord)

# The totals the fold adds to, in the order the SELECT below sums them.
TOTALS = ("records", "flop_fp16", "flop_peak", "active_s", "energy_j", "ended_flop_fp16", "ended_flop_peak")
_TOTALS = D.columns(*TOTALS)
_KEY = D.columns("facility", "day", "operator", "uploaded_by_org")


def _day(column):
    return f"(({column}) AT TIME ZONE 'UTC')::date"


_FOLD = f"""
WITH t AS (
    SELECT u.{U.facility} AS facility_id, a.{A.operator} AS operator_id, a.{A.uploaded_by_org} AS up,
           {_day(f"u.{U.period_start}")} AS sd, {_day(f"u.{U.period_end}")} AS ed,
           COUNT(*) AS n, COALESCE(SUM(u.{U.flop_fp16}), 0) AS f16, COALESCE(SUM(u.{U.flop_peak}), 0) AS fpk,
           COALESCE(SUM(u.{U.active_s}), 0) AS act, COALESCE(SUM(u.{U.energy_j}), 0) AS en
    FROM {{records}} u
    JOIN {A} a ON a.{A.id} = u.{U.attestation}
    WHERE {{where}}
    GROUP BY 1, 2, 3, 4, 5
)
INSERT INTO {D} ({_KEY}, {_TOTALS})
SELECT facility_id, day, operator_id, up, SUM(n), SUM(f16), SUM(fpk), SUM(act), SUM(en), SUM(e16), SUM(epk)
FROM (
    SELECT facility_id, operator_id, up, sd AS day, n, f16, fpk, act, en, 0.0 AS e16, 0.0 AS epk FROM t
    UNION ALL
    SELECT facility_id, operator_id, up, ed AS day, 0 AS n, 0.0, 0.0, 0.0, 0.0, f16, fpk FROM t
) AS x
WHERE true
GROUP BY facility_id, day, operator_id, up
ON CONFLICT ({_KEY}) DO UPDATE SET {", ".join(f"{c} = {D}.{c} + excluded.{c}" for c in _TOTALS.split(", "))}
"""  # noqa: S608

# Every record of a statement has the statement's period_start: naming it reads one time partition.
ADD_STATEMENT = _FOLD.format(records=ALL, where=f"u.{U.attestation} = %s AND u.{U.period_start} = %s")
BACKFILL = _FOLD.format(records=ALL, where="true")
# The step of the migration that added the totals (0003): then every record was a UsageRecord (the chipless
# ones moved out, and the view of both was made, in 0007), so it reads the table that held them all.
BACKFILL_BEFORE_SPLIT = _FOLD.format(records=U, where="true")


def add_statement_days(attestation_id, period_start):
    """Add one stored usage statement's records to the daily totals."""
    with connection.cursor() as cursor:
        cursor.execute(ADD_STATEMENT, [attestation_id, period_start])


def backfill_days(using=None, before_split=False):
    """Totals from every usage record (into an empty table: the migration that adds it, `before_split`)."""
    with (using or connection).cursor() as cursor:
        cursor.execute(BACKFILL_BEFORE_SPLIT if before_split else BACKFILL)


# Corrections of stored records (attestations.recount): the difference a record's new bounds make, added to the
# day its period starts (flop_fp16, flop_peak) and the day it ends (ended_flop_fp16, ended_flop_peak); the counts,
# active time and energy stay (the row exists: the record was folded in when it was stored).
_CORRECTED = ("flop_fp16", "flop_peak", "ended_flop_fp16", "ended_flop_peak")
ADD_CORRECTIONS = (
    f"INSERT INTO {D} ({_KEY}, {_TOTALS}) VALUES (%s, %s, %s, %s, "  # noqa: S608
    + ", ".join("%s" if c in _CORRECTED else "0" for c in TOTALS)
    + f") ON CONFLICT ({_KEY}) DO UPDATE SET "
    + ", ".join(f"{c} = {D}.{c} + excluded.{c}" for c in D.columns(*_CORRECTED).split(", "))
)


def add_corrections(rows):
    """Add (facility, day, operator, uploaded_by_org, fp16, peak, ended fp16, ended peak) differences to the
    daily totals (inside the transaction that corrects the records)."""
    if rows:
        with connection.cursor() as cursor:
            cursor.executemany(ADD_CORRECTIONS, rows)
