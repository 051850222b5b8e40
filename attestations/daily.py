"""Stored daily usage totals (UsageDay): one row per facility, UTC day and speaker.

A usage statement stores one UsageRecord per chip; the console's chart of
attested compute over time and its compute windows read these daily totals
instead, so a page costs a row per day, not a row per chip-day.

`add_statement(attestation)` folds the usage records of one statement into
the totals with one INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE
(attestations.storage.usage_days).
It is called by attestations.kinds.usage.store() (through
UsageRecord.objects.add_day_totals) in the transaction that stores the
records, so the totals are never ahead of or behind the records. The
migration that creates the table backfills it with `backfill()`, the same
statement over every record.

Each record counts twice: towards the day its period starts (records,
flop_fp16, flop_peak, active_s, energy_j: the chart) and the day it ends
(ended_flop_fp16, ended_flop_peak: compute windows, which select records by
period end). Days are UTC dates.
"""

from attestations.storage import usage_days

COLUMNS = usage_days.TOTALS


def add_statement(attestation):
    """Add the usage records of one stored statement to the daily totals (inside its transaction)."""
    if attestation.period_start is None:  # a usage statement always has its period; anything else has no records
        raise ValueError(f"statement {attestation.pk} has no usage period")
    usage_days.add_statement_days(attestation.pk, attestation.period_start)


def backfill(schema_editor=None, before_split=False):
    """Totals from every usage record (into an empty table; the migration that adds it, 0003, runs before the
    records without a chip had a table of their own: `before_split`)."""
    usage_days.backfill_days(schema_editor.connection if schema_editor is not None else None, before_split)
