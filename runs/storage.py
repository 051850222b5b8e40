"""The SQL of runs: folding a usage statement's attributed records into RunUsageDay (runs.models),
reading the run a usage statement names under a key-share lock, and one operator's declarations at a time.

One INSERT ... ON CONFLICT DO UPDATE per statement: every record of a usage
statement has the statement's period, so a statement adds to exactly one
(run, facility, day) row. Tested against its ORM equivalent in
tests/runs/test_storage.py.
"""

from django.db import connection

from runs.models import Run, RunUsageDay

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


_RUN = Run._meta
_R = _RUN.db_table


def _run_col(field):
    return _RUN.get_field(field).column


# FOR KEY SHARE: the lock the statement's RunUsageDay row takes on its run anyway (its foreign key), taken
# when the run is judged instead, so a withdrawal (FOR UPDATE) cannot slip in between the judgement and the
# commit; statements naming the same run still proceed side by side.
RUN_FOR_ATTRIBUTION = (
    f"SELECT {_run_col('id')}, {_run_col('operator')}, {_run_col('declared_at')}, {_run_col('withdrawn_at')},"  # noqa: S608
    f" {_run_col('state')}, {_run_col('planned_start')}, {_run_col('planned_end')}"
    f" FROM {_R} WHERE {_run_col('code')} = %s FOR KEY SHARE"
)


def run_for_attribution(code):
    """(pk, operator pk, declared_at, withdrawn_at, state, planned_start, planned_end) of the run `code`, or None;
    the row stays key-share locked to the end of the caller's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(RUN_FOR_ATTRIBUTION, [code])
        return cursor.fetchone()


def lock_declarations(operator_id):
    """One declaration of this operator's at a time, until the transaction ends: a declaration is judged with
    the operator's earlier runs of its model (compliance.run_review), so two sent at once must not each judge
    itself without the other."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('chipreg:run-declarations:' || %s::text))", [operator_id])
