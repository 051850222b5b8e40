"""runs.storage against its ORM equivalent, on the same rows."""

from datetime import date

from django.db.models import F

from inventory.models import Facility
from runs import storage
from runs.models import RunUsageDay
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
