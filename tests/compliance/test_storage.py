"""compliance.storage's statements answer and write as their ORM equivalents do, on the same rows
(the world of tests/compliance/test_set_based.py: five facilities, clusters, two campuses, three
operator-country subjects, usage records)."""

from collections import defaultdict
from datetime import timedelta

import pytest
from django.db.models import F, Sum
from django.db.models.functions import Greatest
from django.utils import timezone

from attestations import windows
from attestations.models import AnyUsageRecord, Attestation, ChiplessUsageRecord, UsageRecord
from compliance import storage
from compliance.choices import Scope
from compliance.models import Aggregate, Alert, ThresholdRule
from inventory.models import Facility, Placement
from registry.models import Chip
from registry.registration import register_chips
from tests.compliance.test_set_based import world  # noqa: F401 (a fixture)
from tests.factories import chip_rows

SCOPES = [Scope.FACILITY, Scope.CLUSTER, Scope.CAMPUS, Scope.OPERATOR_COUNTRY]


def _counted(scope):
    """{subject key: [chips]} the ORM's way: live chips by their open placement (or custodian and country)."""
    live = {"manufactured", "installed"}
    out = defaultdict(list)
    if scope == Scope.OPERATOR_COUNTRY:
        for chip in Chip.objects.select_related("model").filter(status__in=live).exclude(country=""):
            out[f"{chip.custodian_id}:{chip.country}"].append((chip, None))
        return out
    placements = Placement.objects.select_related("chip__model", "facility", "chip__manufacturer").filter(
        valid_to__isnull=True, chip__status__in=live
    )
    for p in placements:
        key = {Scope.FACILITY: p.facility_id, Scope.CLUSTER: p.cluster_id, Scope.CAMPUS: p.facility.campus_id}[scope]
        if key is not None:
            out[str(key)].append((p.chip, p))
    return out


def _orm_totals(scope, settings):
    out = {}
    for key, rows in _counted(scope).items():
        models = [chip.model for chip, _ in rows]
        ops = [sum(getattr(m, f) or 0 for m in models) for f in storage.PRECISION_FIELDS.values()]
        if settings.CHIPREG_H100E_CONVENTION == "epoch_8bit":
            from registry.catalog import EPOCH_8BIT_TOPS_PER_H100E

            h100e = sum(max(m.fp8_tflops or 0, m.int8_tops or 0) for m in models) / EPOCH_8BIT_TOPS_PER_H100E
        else:
            from registry.catalog import TREATY_TPP_PER_H100E

            h100e = sum(m.tpp or 0 for m in models) / TREATY_TPP_PER_H100E
        fastest = sum(max(getattr(m, f) or 0 for f in storage.PRECISION_FIELDS.values()) for m in models)
        out[key] = (
            len(models),
            sum(m.tpp or 0 for m in models),
            h100e,
            sum(m.memory_gb or 0 for m in models),
            *ops,
            fastest,
        )
    return out


def _approx(rows):
    return {str(key): tuple(pytest.approx(float(v)) for v in values) for key, *values in rows}


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("convention", ["treaty_tpp", "epoch_8bit"])
def test_totals(world, settings, scope, convention):  # noqa: F811
    settings.CHIPREG_H100E_CONVENTION = convention
    expected = _orm_totals(scope, settings)
    assert len(expected) >= 2
    found = {str(k): tuple(map(float, v)) for k, *v in storage.totals(scope)}
    assert found == {k: pytest.approx(tuple(map(float, v))) for k, v in expected.items()}
    some = sorted(expected)[:2]
    assert {str(k) for k, *_ in storage.totals(scope, some)} == set(some)


def _attributed(scope, record, placements):
    """The cluster or operator-country subjects a usage record counts for, read from its definition in Python
    (compliance.storage's _USAGE): a cluster its chip was placed in at some time in the record's period, or is
    placed in now at the record's facility, or the one of its last placement at the record's facility begun
    before the period ended; an operator-country the record's facility's, and every one its chip
    was placed in during the period. Through placements at the speaker's own facilities only (the record's
    facility's operator). `placements`: {chip id: [Placement]}, facilities selected."""
    during = [
        p
        for p in placements.get(record.chip_id, [])
        if p.valid_from < record.period_end
        and (p.valid_to is None or p.valid_to > record.period_start)
        and p.facility.operator_id == record.facility.operator_id
    ]
    if scope == Scope.CLUSTER:
        at_facility = [p for p in placements.get(record.chip_id, []) if p.facility_id == record.facility_id]
        now_here = [p for p in at_facility if p.valid_to is None]
        begun = sorted((p for p in at_facility if p.valid_from < record.period_end), key=lambda p: (p.valid_from, p.pk))
        return {p.cluster_id for p in during + now_here + begun[-1:] if p.cluster_id is not None}
    return {f"{f.operator_id}:{f.country}" for f in [record.facility] + [p.facility for p in during]}


def _placements():
    out = defaultdict(list)
    for p in Placement.objects.select_related("facility"):
        out[p.chip_id].append(p)
    return out


def _bound(basis):
    """The ORM's reading of a basis, from its definition (attestations/bases.py): `higher` is per record
    the larger of the FP16 bound and the bound at the fastest precision."""
    if basis == "higher":
        return Greatest("flop_fp16", "flop_peak")
    return F("flop_peak" if basis == "peak" else "flop_fp16")


def _one_filed_late(since):
    """One usage statement of the world made late: its period (and its records') ended a day before `since`,
    30 days ago, received now. Its records count in a 30-day window (attestations.windows); chosen by period
    end, none would."""
    statement = Attestation.objects.filter(kind="usage").order_by("pk").first()
    ended = since - timedelta(days=1)
    start = ended - timedelta(days=1)
    Attestation.objects.filter(pk=statement.pk).update(period_start=start, period_end=ended)
    for model in (UsageRecord, ChiplessUsageRecord):
        model.objects.filter(attestation_id=statement.pk).update(period_start=start, period_end=ended)
    assert windows.late_statements(since, timedelta(days=30)) == [statement.pk]
    # Received 31 days after its period ended: late for a 60-day window, within half of a 64-day one.
    just_after = ended + timedelta(hours=1)
    assert windows.late_statements(just_after, timedelta(days=60)) == [statement.pk]
    assert windows.late_statements(just_after, timedelta(days=64)) == []
    assert UsageRecord.objects.filter(attestation_id=statement.pk).exists()
    return statement.pk


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("basis", ["peak", "fp16", "higher"])
def test_usage_totals(world, scope, basis):  # noqa: F811
    since = timezone.now() - timedelta(days=30)
    late = [_one_filed_late(since)]
    # A record kept by reference (a chip the registry does not know) counts at its facility and campus only.
    bound = (
        UsageRecord.objects.filter(period_end__gt=since, facility__campus__isnull=False)
        .exclude(attestation_id__in=late)
        .first()
    )
    ChiplessUsageRecord.objects.create(
        **{f: getattr(bound, f) for f in ("attestation_id", "facility_id", "period_start", "period_end")},
        chip_ref="nvidia:NOSUCHCHIP",
        active_s=1,
        utilization=1,
        energy_j=1,
        flop_fp16=7e20,
        flop_peak=9e20,
    )
    # Chips placed in SB-A1's cluster k1 whose work op-b reported at SB-B1: before they were placed (SB-B1's, its
    # campus's and op-b's in its country; not k1's, nor op-a's), and while they were (still not k1's nor op-a's:
    # another operator's word about op-a's site). And the same records reported by op-a at its SB-A3: while the
    # chips were placed in k1, k1's (and op-a's in the US, where SB-A3 is too), not before.
    placed = UsageRecord.objects.filter(facility__code="SB-A1").first()
    hours_ago = timezone.now() - timedelta(hours=3)
    periods = (((placed.period_start, placed.period_end), 5e20), ((hours_ago, timezone.now()), 4e20))
    for (period, flop), at in [(p, code) for code in ("SB-B1", "SB-A3") for p in periods]:
        UsageRecord.objects.create(
            **{f: getattr(placed, f) for f in ("attestation_id", "chip_id", "chip_ref")},
            facility=Facility.objects.get(code=at),
            period_start=period[0],
            period_end=period[1],
            active_s=1,
            utilization=1,
            energy_j=1,
            flop_fp16=flop,
            flop_peak=flop * 1.2,
        )
    by_facility = scope != Scope.CLUSTER
    records = (AnyUsageRecord if by_facility else UsageRecord).objects.filter(
        windows.counted(since, timedelta(days=30))
    )
    assert records.filter(attestation_id__in=late).exists()
    records = records.annotate(bound=_bound(basis))
    column = "bound"
    if scope == Scope.FACILITY:
        orm = records.values_list("facility_id").annotate(total=Sum(column))
    elif scope == Scope.CAMPUS:
        orm = (
            records.filter(facility__campus__isnull=False)
            .values_list("facility__campus_id")
            .annotate(total=Sum(column))
        )
    else:
        placements, sums = _placements(), defaultdict(float)
        for record in records.select_related("facility"):
            for key in _attributed(scope, record, placements):
                sums[key] += record.bound
        orm = list(sums.items())
    expected = {str(k): pytest.approx(v) for k, v in orm}
    assert expected
    assert {str(k): v for k, v in storage.usage_totals(scope, since, late, basis)} == expected
    if scope == Scope.FACILITY:  # the chipless record is in the facility's total, beside its chips' records
        chips_only = UsageRecord.objects.filter(
            windows.counted(since, timedelta(days=30)), facility_id=bound.facility_id
        )
        chipless_bound = 7e20 if basis == "fp16" else 9e20  # peak, and higher: the larger of the two
        assert dict(storage.usage_totals(scope, since, late, basis))[bound.facility_id] == pytest.approx(
            chips_only.annotate(bound=_bound(basis)).aggregate(t=Sum(column))["t"] + chipless_bound
        )
    some = sorted(expected)[:1]
    assert {str(k) for k, _ in storage.usage_totals(scope, since, late, basis, some)} == set(some)
    # Without the late statement's id its records are out of the window, as by period end alone.
    assert storage.usage_totals(scope, since, [], basis) != storage.usage_totals(scope, since, late, basis)


@pytest.mark.parametrize("scope", SCOPES)
def test_chips_in_many(world, scope):  # noqa: F811
    counted = _counted(scope)
    keys = sorted(counted)[:2]
    expected = sorted(
        (
            f"{chip.manufacturer.code}:{chip.serial}",
            p.source if p else "",
            p.source_id if p else "",
            p.log_index if p else None,
            key,
        )
        for key in keys
        for chip, p in counted[key]
    )
    assert sorted(storage.chips_in_many(scope, keys)) == expected


def test_upsert_aggregates(world):  # noqa: F811
    now = timezone.now()
    rows = [
        ("1", "one", "US", None, 3, 1.5, 0.25, 80.0, {"fp8": 2.0}),
        ("2", "two", "", world["users"]["a"].organisation_id, 0, 0.0, 0.0, 0.0, {}),
    ]
    Aggregate.objects.filter(scope=Scope.FACILITY).delete()
    storage.upsert_aggregates(Scope.FACILITY, now, rows)
    fields = ("subject_key", "label", "country", "operator_id", "chip_count", "tpp", "h100e", "memory_gb", "ops")
    stored = sorted(Aggregate.objects.filter(scope=Scope.FACILITY).values_list(*fields))
    assert stored == rows
    assert set(Aggregate.objects.filter(scope=Scope.FACILITY).values_list("updated_at", flat=True)) == {now}
    later = now + timedelta(minutes=1)
    storage.upsert_aggregates(Scope.FACILITY, later, [("2", "two", "DE", None, 1, 2.0, 3.0, 4.0, {"x": 1.0})])
    assert Aggregate.objects.get(scope=Scope.FACILITY, subject_key="2").ops == {"x": 1.0}
    assert sorted(Aggregate.objects.filter(scope=Scope.FACILITY).values_list(*fields)) == [
        rows[0],
        ("2", "two", "DE", None, 1, 2.0, 3.0, 4.0, {"x": 1.0}),
    ]


def test_insert_alerts_skips_existing_and_sets_log_indices(world):  # noqa: F811
    rule = ThresholdRule.objects.get(key="f-count")
    now = timezone.now()

    def alert(key):
        return Alert(
            kind="threshold",
            severity="high",
            title=key,
            raised_at=now,
            updated_at=now,
            rule=rule,
            group=f"g-{key}",
            scope=Scope.FACILITY,
            subject_key=key,
            subject_label=key,
            country="US",
            value=1.0,
            threshold=1.0,
        )

    first = [alert("a"), alert("b")]
    inserted = storage.insert_alerts(first)
    orm = sorted(Alert.objects.filter(group__in=["g-a", "g-b"]).values_list("id", "group", "subject_key"))
    assert sorted(inserted) == orm and len(orm) == 2
    again = storage.insert_alerts([alert("b"), alert("c")])
    assert [(g, k) for _, g, k in again] == [("g-c", "c")]
    assert Alert.objects.get(group="g-b").pk == dict((g, pk) for pk, g, _ in orm)["g-b"]
    pks = [pk for pk, _, _ in sorted(inserted)] + [again[0][0]]
    storage.set_alert_log_indices(pks, 100)
    assert [Alert.objects.get(pk=pk).log_index for pk in pks] == [100, 101, 102]


def _label_some_records():
    """Spread the world's records over workloads and runs: every third inference, every fourth attributed to
    a run (a server-set key without a database constraint), the rest training or unlabelled."""
    pks = list(UsageRecord.objects.order_by("pk").values_list("pk", flat=True))
    assert len(pks) >= 4
    for i, pk in enumerate(pks):
        workload = "inference" if i % 3 == 0 else ("training" if i % 2 else "")
        UsageRecord.objects.filter(pk=pk).update(workload=workload, run_id=424242 if i % 4 == 1 else None)


@pytest.mark.parametrize("scope", [Scope.FACILITY, Scope.CLUSTER])
def test_unattributed_usage_totals_and_sources(world, scope):  # noqa: F811
    _label_some_records()
    since = timezone.now() - timedelta(days=30)
    late = [_one_filed_late(since)]
    workloads = ["", "training"]
    records = UsageRecord.objects.filter(
        windows.counted(since, timedelta(days=30)), run__isnull=True, workload__in=workloads
    )
    cluster_of = dict(
        Placement.objects.filter(valid_to__isnull=True, cluster__isnull=False).values_list("chip_id", "cluster_id")
    )
    sums, sources = defaultdict(float), defaultdict(set)
    for r in records.select_related("attestation"):
        key = r.facility_id if scope == Scope.FACILITY else cluster_of.get(r.chip_id)
        if key is None:
            continue
        sums[str(key)] += r.flop_peak
        sources[str(key)].add((r.chip_ref, "attestation", str(r.attestation_id), r.attestation.log_index, str(key)))
    assert sums and UsageRecord.objects.filter(workload="inference").exists()
    assert records.filter(attestation_id__in=late).exists()
    found = {str(k): v for k, v in storage.usage_totals(scope, since, late, "higher", None, workloads)}
    assert found == {k: pytest.approx(v) for k, v in sums.items()}
    assert sorted(set(storage.unattributed_sources(scope, since, late, workloads, sorted(sums)))) == sorted(
        row for rows in sources.values() for row in rows
    )


def _accept_one_and_leave_chips_unplaced(world):  # noqa: F811
    """SB-A1 accepted by the treaty body, and two live chips of op-a placed nowhere."""
    from inventory.models import Facility

    Facility.objects.filter(code="SB-A1").update(review="accepted")
    register_chips(chip_rows("SBLOOSE", 2), world["users"]["a"])


def _unaccepted():
    """The ORM's holdings outside accepted facilities: {op:cc: [(chip, open placement or None)]}."""
    live = {"manufactured", "installed"}
    placed = {
        p.chip_id: p
        for p in Placement.objects.select_related("facility").filter(valid_to__isnull=True, chip__status__in=live)
    }
    out = defaultdict(list)
    for chip in Chip.objects.select_related("model", "manufacturer").filter(status__in=live).exclude(country=""):
        p = placed.get(chip.pk)
        if p is None or p.facility.review != "accepted":
            out[f"{chip.custodian_id}:{chip.country}"].append((chip, p))
    return out


def test_unaccepted_holdings_totals_and_chips(world):  # noqa: F811
    _accept_one_and_leave_chips_unplaced(world)
    counted = _unaccepted()
    expected = {
        key: (len(rows), pytest.approx(float(sum(chip.model.tpp or 0 for chip, _ in rows))))
        for key, rows in counted.items()
    }
    found = {str(k): (count, float(tpp)) for k, count, tpp, *_ in storage.totals(Scope.UNACCEPTED_HOLDINGS)}
    assert found == expected
    everything = _counted(Scope.OPERATOR_COUNTRY)
    a_us = f"{world['users']['a'].organisation_id}:US"
    accepted = Placement.objects.filter(valid_to__isnull=True, facility__code="SB-A1", chip__status="installed")
    # Everything op-a holds in the US (the two chips placed nowhere included) but what the accepted SB-A1 holds.
    assert found[a_us][0] == len(everything[a_us]) - accepted.count() and accepted.count() > 0
    assert sum(1 for _, p in counted[a_us] if p is None) == 2
    keys = sorted(counted)[:2]
    rows = sorted(
        (
            f"{chip.manufacturer.code}:{chip.serial}",
            p.source if p else None,
            p.source_id if p else None,
            p.log_index if p else None,
            key,
        )
        for key in keys
        for chip, p in counted[key]
    )
    assert sorted(storage.chips_in_many(Scope.UNACCEPTED_HOLDINGS, keys), key=str) == sorted(rows, key=str)


def test_site_totals_and_chips(world):  # noqa: F811
    live = {"manufactured", "installed"}
    placements = list(
        Placement.objects.select_related("chip__model", "chip__manufacturer").filter(
            valid_to__isnull=True, chip__status__in=live
        )
    )
    expected = defaultdict(lambda: [0, 0.0])
    for p in placements:
        row = expected[(p.facility_id, p.cluster_id)]
        row[0] += 1
        row[1] += p.chip.model.tpp or 0
    found = {(f, c): [n, float(tpp)] for f, c, n, tpp, *_ in storage.site_totals()}
    assert found == {k: [n, pytest.approx(t)] for k, (n, t) in expected.items()}
    some = sorted({f for f, _ in expected})[:2]
    assert {f for f, *_ in storage.site_totals(some)} == set(some)
    chips = sorted(
        (
            f"{p.chip.manufacturer.code}:{p.chip.serial}",
            p.source,
            p.source_id,
            p.log_index,
            p.facility_id,
            p.cluster_id,
        )
        for p in placements
        if p.facility_id in some
    )
    assert sorted(storage.site_chips(some)) == chips


@pytest.mark.parametrize("scope", SCOPES)
def test_stored_totals_stand_for_a_refresh_when_no_chip_moved(world, scope):  # noqa: F811
    """compliance.aggregates.stored_or_refreshed (usage statements alone): the stored rows read back as the
    refresh that wrote them; a subject with no stored row is refreshed (and stored) instead."""
    from compliance import aggregates

    fresh = aggregates.refresh(scope, None)
    keys = sorted(fresh.rows)
    assert keys
    Aggregate.objects.filter(scope=scope, subject_key=keys[0]).delete()
    read = aggregates.stored_or_refreshed(scope, keys)
    assert read.rows == {k: fresh.rows[k] for k in keys}
    assert read.totals == {k: v for k, v in fresh.totals.items() if k in keys}
    assert Aggregate.objects.filter(scope=scope, subject_key=keys[0]).exists()  # the missing one refreshed


@pytest.mark.parametrize("scope", SCOPES)
def test_usage_by_end(world, scope):  # noqa: F811
    """compliance.late_windows' reads: sums by subject and period end, of a span of ends or of some statements,
    as the ORM gives them."""
    from compliance.evaluation import _records

    since = timezone.now() - timedelta(days=30)
    late = _one_filed_late(since)
    placements = _placements()

    def orm(records):
        sums = defaultdict(float)
        for r in records.select_related("facility"):
            if scope == Scope.FACILITY:
                keys = {r.facility_id}
            elif scope == Scope.CAMPUS:
                keys = {r.facility.campus_id} - {None}
            else:
                keys = _attributed(scope, r, placements)
            for key in keys:
                sums[str(key), r.period_end] += r.flop_fp16
        return {k: pytest.approx(v) for k, v in sums.items()}

    def sql(**kw):
        return {(str(k), end): total for k, end, total in storage.usage_by_end(scope, "fp16", None, None, **kw)}

    everything = _records(scope).all()
    after, until = since - timedelta(days=3), timezone.now()
    spanned = sql(between=(after, until))
    assert spanned and spanned == orm(everything.filter(period_end__gt=after, period_end__lte=until))
    own = sql(statements=[late])
    assert own == orm(everything.filter(attestation_id=late))
    if scope in (Scope.FACILITY, Scope.CLUSTER):
        assert own  # the late statement's chips are placed in clusters (and its facility is one)
    some = sorted({k for k, _ in spanned})[:1]
    found = storage.usage_by_end(scope, "fp16", some, None, between=(after, until))
    assert {str(k) for k, *_ in found} == set(some)
