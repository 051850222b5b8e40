"""runs.storage against its ORM equivalent, on the same rows."""

from datetime import date

import psycopg
import pytest
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from inventory.models import Facility
from runs import storage
from runs.models import Run, RunUsageDay
from tests.connections import second_connection
from tests.runs.test_usage import declare_earlier


def _orm_add(run_id, facility_id, day, totals):
    row, _ = RunUsageDay.objects.get_or_create(run_id=run_id, facility_id=facility_id, day=day)
    RunUsageDay.objects.filter(pk=row.pk).update(**{f: F(f) + totals[f] for f in storage.TOTALS})


def _rows():
    return sorted(RunUsageDay.objects.values_list("run_id", "facility_id", "day", *storage.TOTALS), key=lambda r: r[:3])


def test_add_usage_is_its_orm_equivalent(world, parties):
    run = declare_earlier(parties)
    other = declare_earlier(parties)
    va, ca = (Facility.objects.get(code=c).pk for c in ("US-VA-001", "US-CA-001"))
    calls = [
        (run.pk, va, date(2026, 1, 1), (1, 3, 3e18, 6e18, 10800.0, 6.6e6)),
        (run.pk, va, date(2026, 1, 1), (1, 1, 1e18, 2e18, 3600.0, 2.2e6)),  # the same row again: added
        (run.pk, ca, date(2026, 1, 1), (1, 2, 2e18, 4e18, 7200.0, 4.4e6)),
        (run.pk, va, date(2026, 1, 2), (1, 5, 0.0, 0.0, 0.0, 0.0)),
        (other.pk, va, date(2026, 1, 1), (1, 1, 5e17, 5e17, 60.0, 1e4)),
    ]
    for run_id, facility_id, day, values in calls:
        storage.add_usage(run_id, facility_id, day, dict(zip(storage.TOTALS, values, strict=True)))
    by_sql = _rows()
    RunUsageDay.objects.all().delete()
    for run_id, facility_id, day, values in calls:
        _orm_add(run_id, facility_id, day, dict(zip(storage.TOTALS, values, strict=True)))
    assert _rows() == by_sql and len(by_sql) == 4
    assert by_sql[0][3:] == (2, 4, 4e18, 8e18, 14400.0, 8.8e6)


def test_the_run_a_statement_names_is_read_as_the_orm_reads_it(world, parties):
    run = declare_earlier(parties)
    Run.objects.filter(pk=run.pk).update(withdrawn_at=timezone.now())
    for code in (run.code, "run-neverdeclared"):
        orm = (
            Run.objects.filter(code=code)
            .values_list("pk", "operator_id", "declared_at", "withdrawn_at", "state", "planned_start", "planned_end")
            .first()
        )
        assert storage.run_for_attribution(code) == orm
    assert storage.run_for_attribution(run.code)[3] is not None


def test_the_run_a_statement_names_stays_locked_against_a_withdrawal(transactional_db, world, parties):
    """A withdrawal (FOR UPDATE) cannot slip in between a statement's judgement of its run and its commit;
    another statement naming the run (the key-share lock its usage row takes anyway) still can."""
    run = declare_earlier(parties)
    other = second_connection(autocommit=True)
    table = Run._meta.db_table
    try:
        with transaction.atomic():
            assert storage.run_for_attribution(run.code)[0] == run.pk
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE NOWAIT", [run.pk])
            with other.transaction():
                row = other.execute(f"SELECT id FROM {table} WHERE id = %s FOR KEY SHARE NOWAIT", [run.pk])
                assert row.fetchone() == (run.pk,)
        with other.transaction():
            row = other.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE NOWAIT", [run.pk])
            assert row.fetchone() == (run.pk,)
    finally:
        other.close()
