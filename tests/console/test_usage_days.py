"""Stored daily usage totals (attestations.daily): kept by the statement that stores the
records, equal to the sums of the records, read by the facility page's chart and windows."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from tests.attestations.conftest import World
from tests.console.helpers import parse_csv


@pytest.fixture
def world(api, parties):
    return World(api, parties)


def accepted(world, statement, client=None, key=None):
    response, _ = world.submit(client or world.op_a, statement, *([key] if key else []))
    assert response.status_code == 201, response.content
    return response.json()


def row(i, active=3600, utilization=0.5, energy=1.0e6, prefix="A"):
    return {"chip": f"nvidia:{prefix}{i:06d}", "active_s": active, "utilization": utilization, "energy_j": energy}


def midnight(days_ago):
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def statements(world):
    """Several statements whose periods share days, cross midnight, and name an unregistered chip."""
    d3, d2, d1 = midnight(3), midnight(2), midnight(1)
    # Crosses midnight: starts on d3, ends on d2.
    accepted(world, world.usage([row(i) for i in range(5)], d3 + timedelta(hours=10), d2 + timedelta(hours=2)))
    # Starts on d3 too (adds to the same stored row), other chips, an unknown chip (its maker's bound).
    accepted(
        world,
        world.usage(
            [row(i, active=7200, utilization=0.9, energy=2.0e6) for i in range(5, 10)] + [row(99, prefix="ZZ")],
            d3 + timedelta(hours=12),
            d3 + timedelta(hours=20),
        ),
    )
    # Overlaps the first one's end day, the same chips again (an implausible overlap is still stored).
    accepted(world, world.usage([row(i, active=600) for i in range(3)], d2, d2 + timedelta(hours=6)))
    # Another facility of the same operator, the same day.
    accepted(world, world.usage([row(9, active=100)], d2, d2 + timedelta(hours=1), facility="US-CA-001"))
    # Another operator, its own facility.
    accepted(
        world,
        world.usage(
            [{"chip": "nvidia:B000000", "active_s": 1800, "utilization": 0.4, "energy_j": 5.0e5}],
            d1,
            d1 + timedelta(hours=3),
            facility="DE-FRA-001",
            operator="op-b",
        ),
        client=world.op_b,
        key=world.key_b,
    )


def record_sums():
    """{(facility, day): [records, fp16, peak, active, energy]} by start day, and {(facility, day): [fp16, peak]} by end day,
    of every record: bound to a chip or kept by reference."""
    from attestations.models import AnyUsageRecord

    started = defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0.0])
    ended = defaultdict(lambda: [0.0, 0.0])
    for r in AnyUsageRecord.objects.all():
        s = started[(r.facility_id, r.period_start.astimezone(UTC).date())]
        s[0] += 1
        s[1] += r.flop_fp16 or 0.0
        s[2] += r.flop_peak or 0.0
        s[3] += r.active_s
        s[4] += r.energy_j
        e = ended[(r.facility_id, r.period_end.astimezone(UTC).date())]
        e[0] += r.flop_fp16 or 0.0
        e[1] += r.flop_peak or 0.0
    return started, ended


def stored_sums():
    from attestations.models import UsageDay

    started = defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0.0])
    ended = defaultdict(lambda: [0.0, 0.0])
    for d in UsageDay.objects.all():
        s = started[(d.facility_id, d.day)]
        s[0] += d.records
        s[1] += d.flop_fp16
        s[2] += d.flop_peak
        s[3] += d.active_s
        s[4] += d.energy_j
        e = ended[(d.facility_id, d.day)]
        e[0] += d.ended_flop_fp16
        e[1] += d.ended_flop_peak
    return started, ended


def assert_same(stored, records):
    nonzero = {k: v for k, v in stored.items() if any(v)}
    assert set(nonzero) == set(records)
    for key, values in records.items():
        assert nonzero[key] == pytest.approx(values, rel=1e-12), key


def test_stored_totals_equal_the_sums_of_the_records(world):
    from attestations.models import AnyUsageRecord, ChiplessUsageRecord, UsageDay

    statements(world)
    assert AnyUsageRecord.objects.count() == 16
    assert AnyUsageRecord.objects.filter(flop_fp16__isnull=True).count() == 0
    # The unknown chip, kept by reference, at its maker's catalogue bound (its work counts too).
    [unknown] = ChiplessUsageRecord.objects.values_list("flop_fp16", flat=True)
    assert unknown > 0
    stored_started, stored_ended = stored_sums()
    started, ended = record_sums()
    assert_same(stored_started, started)
    assert_same(stored_ended, ended)
    # One row per (facility, day, operator, uploader): the two statements starting on d3 share one.
    va = UsageDay.objects.filter(facility__code="US-VA-001", day=midnight(3).date()).get()
    assert va.records == 11 and va.operator.code == "op-a"
    assert UsageDay.objects.filter(facility__code="US-VA-001").count() == 2  # d3 and d2


def test_backfill_rebuilds_the_same_totals(world):
    from attestations import daily
    from attestations.models import UsageDay

    statements(world)
    before = sorted(
        UsageDay.objects.values_list("facility_id", "day", "operator_id", "records", "flop_fp16", "ended_flop_fp16")
    )
    UsageDay.objects.all().delete()
    daily.backfill()
    after = sorted(
        UsageDay.objects.values_list("facility_id", "day", "operator_id", "records", "flop_fp16", "ended_flop_fp16")
    )
    assert len(after) == len(before)
    for a, b in zip(after, before, strict=True):
        assert a[:4] == b[:4]
        assert a[4:] == pytest.approx(b[4:], rel=1e-12)


def test_a_rejected_statement_adds_nothing(world):
    from attestations.models import UsageDay

    statement = world.usage([row(1)], midnight(1), midnight(1) + timedelta(hours=1))
    accepted(world, statement)
    before = list(UsageDay.objects.values_list("records", "flop_fp16"))
    response, _ = world.submit(world.op_a, statement)  # the same statement again: a replay, refused
    assert response.status_code == 409
    assert list(UsageDay.objects.values_list("records", "flop_fp16")) == before


def test_the_facility_chart_reads_the_stored_totals(world, client):
    from attestations.models import AnyUsageRecord

    statements(world)
    client.force_login(world.p.users["op_a_member"])
    rows = parse_csv(client.get("/facilities/US-VA-001/?format=csv&table=usage"))
    assert rows[0] == ["day", "flop_fp16"] and len(rows) == 31
    by_day = {r[0]: float(r[1]) for r in rows[1:]}
    expected = defaultdict(float)
    for r in AnyUsageRecord.objects.filter(facility__code="US-VA-001"):
        expected[r.period_start.astimezone(UTC).date().isoformat()] += r.flop_fp16 or 0.0
    assert {d: v for d, v in by_day.items() if v} == pytest.approx(dict(expected), rel=1e-12)
    page = client.get("/facilities/US-VA-001/")
    assert page.status_code == 200


def test_totals_follow_the_statements_visibility(world, client):
    """An operator sees its own statements' totals only; an inspector those of its jurisdictions."""
    from attestations.models import UsageDay

    statements(world)
    op_a, op_b, insp_us = (world.p.users[u] for u in ("op_a_admin", "op_b", "insp_us"))
    assert {d.facility.code for d in UsageDay.objects.restrict(op_a)} == {"US-VA-001", "US-CA-001"}
    assert {d.facility.code for d in UsageDay.objects.restrict(op_b)} == {"DE-FRA-001"}
    assert {d.facility.code for d in UsageDay.objects.restrict(insp_us)} == {"US-VA-001", "US-CA-001"}
    # A statement op-b makes about op-a's facility is refused (issue 15: an operator speaks only about a facility
    # it operates), so no totals of op-b's appear at op-a's facility for anyone.
    response, _ = world.submit(
        world.op_b,
        world.usage(
            [{"chip": "nvidia:B000001", "active_s": 60, "utilization": 0.1, "energy_j": 1e4}],
            midnight(1),
            midnight(1) + timedelta(hours=1),
            facility="US-VA-001",
            operator="op-b",
        ),
        world.key_b,
    )
    assert response.status_code == 403 and response.json()["code"] == "facility_not_operated"
    assert not UsageDay.objects.filter(operator__code="op-b", facility__code="US-VA-001").exists()


@pytest.mark.parametrize("basis", ["fp16", "higher"])
def test_compute_windows_on_the_page_read_the_stored_totals(world, client, django_assert_max_num_queries, basis):
    """A facility compute rule's value on the page: the records ending within the window (whole UTC days), and
    those of statements filed late that arrived in it; on the `higher` basis, each record's larger bound
    (attestations/bases.py)."""
    from django.db.models import Q, Sum
    from django.db.models.functions import Greatest
    from django.utils import timezone

    from attestations import windows
    from attestations.models import AnyUsageRecord
    from compliance.services import declare

    statements(world)
    declare(
        world.p.users["treaty"],
        key="test-compute",
        name="Compute in 2 days",
        legal_reference="test",
        metric="compute_window",
        basis=basis,
        window_days=2,
        scope="facility",
        comparison="ge",
        value=1e30,
        severity="low",
        effective_from=timezone.now() - timedelta(days=30),
    )
    client.force_login(world.p.users["treaty"])
    rows = parse_csv(client.get("/facilities/US-VA-001/?format=csv&table=thresholds"))
    header, values = rows[0], {r[0].split(" v")[0]: r for r in rows[1:]}
    value = float(values["test-compute"][header.index("value")])
    since = (timezone.now() - timedelta(days=2)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    bound = Greatest("flop_fp16", "flop_peak") if basis == "higher" else "flop_fp16"
    # And the statements filed late that arrived in the window (here: each filed now, over a day after its period).
    window = timedelta(days=2)
    late = windows.late_statements(timezone.now() - window, window)
    assert late
    records = AnyUsageRecord.objects.filter(Q(period_end__gte=since) | Q(attestation_id__in=late))
    expected = records.filter(facility__code="US-VA-001").aggregate(t=Sum(bound))["t"]
    assert value == pytest.approx(expected, rel=1e-12)


def _page_value(client, key):
    rows = parse_csv(client.get("/facilities/US-VA-001/?format=csv&table=thresholds"))
    header, values = rows[0], {r[0].split(" v")[0]: r for r in rows[1:]}
    return float(values[key][header.index("value")])


def test_a_statement_filed_late_is_in_the_window_on_the_page(world, client):
    """A statement held back and filed after its period left the window counts in it from its arrival, on the
    page as in the evaluation (attestations.windows), once: a timely statement of the window's days is counted
    by its period end as before. Another operator's late statement about its own facility adds nothing here."""
    from django.utils import timezone

    from attestations.models import AnyUsageRecord
    from compliance.evaluation import compute_in_window
    from compliance.models import ThresholdRule
    from compliance.services import declare

    declare(
        world.p.users["treaty"],
        key="test-30",
        name="Compute in 30 days",
        legal_reference="test",
        metric="compute_window",
        basis="fp16",
        window_days=30,
        scope="facility",
        comparison="ge",
        value=1e30,
        severity="low",
        effective_from=timezone.now() - timedelta(days=60),
    )
    client.force_login(world.p.users["treaty"])
    timely = accepted(world, world.usage([row(i) for i in range(3)], midnight(3), midnight(2)))
    old_end = midnight(45)
    late = accepted(world, world.usage([row(i) for i in range(3, 8)], old_end - timedelta(days=1), old_end))
    accepted(
        world,
        world.usage(
            [{"chip": "nvidia:B000000", "active_s": 1800, "utilization": 0.4, "energy_j": 5.0e5}],
            old_end - timedelta(days=1),
            old_end,
            facility="DE-FRA-001",
            operator="op-b",
        ),
        client=world.op_b,
        key=world.key_b,
    )
    flop = {
        statement["id"]: sum(
            AnyUsageRecord.objects.filter(attestation_id=statement["id"]).values_list("flop_fp16", flat=True)
        )
        for statement in (timely, late)
    }
    assert all(flop.values())
    value = _page_value(client, "test-30")
    assert value == pytest.approx(flop[timely["id"]] + flop[late["id"]], rel=1e-12)
    rule = ThresholdRule.objects.get(key="test-30")
    facility = world.p.op_a.facilities.get(code="US-VA-001")
    assert compute_in_window(rule, "facility", str(facility.pk), timezone.now()) == pytest.approx(value, rel=1e-12)
