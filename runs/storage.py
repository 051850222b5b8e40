"""The SQL of runs: folding a usage statement's attributed records into RunUsageDay (runs.models).

One INSERT ... ON CONFLICT DO UPDATE per statement: every record of a usage
statement has the statement's period, so a statement adds to exactly one
(run, facility, day) row. Tested against its ORM equivalent in
tests/runs/test_storage.py.
"""

from django.db import connection

from runs.models import RunUsageDay

_META = RunUsageDay._meta
_T = _META.db_table


def _col(field):
    return _META.get_field(field).column


# The totals a statement adds to, in the order add_usage takes them.
TOTALS = ("statements", "records", "flop_fp16", "flop_peak", "active_s", "energy_j")
_KEY = ", ".join(_col(f) for f in ("run", "facility", "day"))
_TOTALS = ", ".join(_col(f) for f in TOTALS)

ADD_USAGE = (
    f"INSERT INTO {_T} ({_KEY}, {_TOTALS}) VALUES (%s, %s, %s, {', '.join(['%s'] * len(TOTALS))})"  # noqa: S608
    f" ON CONFLICT ({_KEY}) DO UPDATE SET "
    + ", ".join(f"{_col(f)} = {_T}.{_col(f)} + excluded.{_col(f)}" for f in TOTALS)
)


def add_usage(run_id, facility_id, day, totals):
    """Add one statement's totals (a dict of TOTALS) to the run's row of that facility and UTC day."""
    with connection.cursor() as cursor:
        cursor.execute(ADD_USAGE, [run_id, facility_id, day, *(totals[f] for f in TOTALS)])
