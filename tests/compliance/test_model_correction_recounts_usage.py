"""Hostile review of how compute is counted: a chip's holder chooses its model at registration; its manufacturer
(or the treaty body) corrects it. Usage records kept the bounds computed at ingest with the model of that day, so
work reported while H100s stood registered as H20s stayed counted at H20 figures (296 TFLOP/s fastest, 6.7x
less) after the manufacturer's correction: the facility's, the clusters' and any run's or model's attested
compute kept the holder's choice. Now the corrected chips' records are counted again (attestations.recount), the
daily totals and the run's move by the difference, and the evaluation judges them again; a correction of a
model's catalogue figures recounts every chip of the model."""

from collections import defaultdict
from datetime import UTC, timedelta

import pytest
from django.conf import settings

from attestations.kinds.usage import model_figures, record_bounds
from attestations.models import UsageDay, UsageRecord
from attestations.recount import recount_chips
from compliance.evaluation import evaluate_all
from compliance.models import Alert
from outbox.relay import drain_all
from registry.models import Chip
from registry.registration import register_chips
from runs.models import RunUsageDay
from tests.attestations.conftest import World, now
from tests.factories import chip_rows
from tests.runs.test_run_rules import DAY, H100_W
from tests.runs.test_usage import declare_earlier

H100 = "nvidia-h100-sxm5-80gb"
SERIALS = [f"nvidia:L{i:06d}" for i in range(4)]


@pytest.fixture
def world(api, parties):
    w = World(api, parties)
    register_chips(chip_rows("L", 4, model="nvidia-h20"), parties.users["op_a_admin"])
    drain_all()
    return w


def _report(world, seconds=DAY, run=None):
    end = now() - timedelta(minutes=5)
    rows = [{"chip": c, "active_s": seconds, "utilization": 1.0, "energy_j": 400.0 * seconds} for c in SERIALS]
    statement = world.usage(rows, end - timedelta(seconds=seconds), end)
    if run is not None:
        statement["run"] = run
    r, _ = world.submit(world.op_a, statement)
    assert r.status_code == 201, r.content
    drain_all()
    return r.json()


def _correct(api, user, model=H100):
    maker = api(user)
    for ref in SERIALS:
        resp = maker.patch(f"/api/v1/chips/{ref}/", {"model": model, "reason": "our records"}, format="json")
        assert resp.status_code == 200, resp.content
    drain_all()


def _peak_sum():
    return sum(u.flop_peak for u in UsageRecord.objects.all())


def _expected_record_bounds():
    """Each record counted afresh at its chip's model now."""
    records = list(UsageRecord.objects.all())
    figures, _ = model_figures(sorted({r.chip_id for r in records}))
    out = {}
    for r in records:
        own = figures[r.chip_id]
        period_s = (r.period_end - r.period_start).total_seconds()
        out[r.pk] = record_bounds(
            r.active_s, r.utilization, r.energy_j, own, own[2], period_s, settings.CHIPREG_ENERGY_TOLERANCE
        )
    return out


def _days_from_records():
    """The daily totals' compute columns summed afresh from the records (what attestations.daily folds)."""
    days = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for r in UsageRecord.objects.select_related("attestation"):
        who = (r.attestation.operator_id, r.attestation.uploaded_by_org_id)
        start = (r.facility_id, r.period_start.astimezone(UTC).date(), *who)
        end = (r.facility_id, r.period_end.astimezone(UTC).date(), *who)
        days[start][0] += r.flop_fp16 or 0
        days[start][1] += r.flop_peak or 0
        days[end][2] += r.flop_fp16 or 0
        days[end][3] += r.flop_peak or 0
    return days


def _assert_days_match_records():
    expected = _days_from_records()
    stored = {
        (d.facility_id, d.day, d.operator_id, d.uploaded_by_org_id): [
            d.flop_fp16,
            d.flop_peak,
            d.ended_flop_fp16,
            d.ended_flop_peak,
        ]
        for d in UsageDay.objects.all()
    }
    assert stored.keys() == expected.keys()
    for key, totals in expected.items():
        assert stored[key] == pytest.approx(totals, rel=1e-9), key


def test_work_reported_before_a_model_correction_is_recounted_at_the_corrected_model(world, api, parties):
    _report(world)
    assert _peak_sum() == pytest.approx(4 * 296e12 * DAY)
    _correct(api, parties.users["nvidia"])
    assert set(Chip.objects.filter(serial__startswith="L").values_list("model__slug", flat=True)) == {H100}
    evaluate_all()
    assert _peak_sum() >= 4 * 1979e12 * DAY * (400.0 / H100_W) * 0.99
    for record in UsageRecord.objects.all():
        assert (record.flop_fp16, record.flop_peak) == pytest.approx(_expected_record_bounds()[record.pk])
    _assert_days_match_records()


def test_a_runs_attested_compute_follows_the_correction_and_a_redelivery_changes_nothing(world, api, parties):
    run = declare_earlier(parties)  # started five hours ago: two hours of work are its
    _report(world, seconds=7200, run=run.code)
    before = RunUsageDay.objects.get(run=run)
    assert before.flop_peak == pytest.approx(4 * 296e12 * 7200)
    _correct(api, parties.users["nvidia"])
    after = RunUsageDay.objects.get(run=run)
    assert after.flop_peak == pytest.approx(_peak_sum())
    assert after.flop_fp16 == pytest.approx(sum(u.flop_fp16 for u in UsageRecord.objects.all()))
    # What the statement reported is not counted twice: one statement, four records, the same time and energy.
    assert (after.statements, after.records, after.active_s, after.energy_j) == (
        before.statements,
        before.records,
        before.active_s,
        before.energy_j,
    )
    # The outbox delivers at least once: recounting again finds nothing to change.
    assert recount_chips(list(Chip.objects.filter(serial__startswith="L").values_list("pk", flat=True))) == 0
    assert RunUsageDay.objects.get(run=run).flop_peak == pytest.approx(after.flop_peak)
    _assert_days_match_records()


def test_a_facility_compute_alert_follows_the_correction(world, api, parties):
    """A compute window line the H20 figures stayed under and the H100's cross: the evaluation judges the
    facility again after the recount, without another statement."""
    from compliance import services

    services.declare(
        parties.users["treaty"],
        "facility-compute-day",
        name="Facility compute",
        metric="compute_window",
        scope="facility",
        comparison="gt",
        value=4 * 296e12 * DAY * 1.5,
        severity="high",
        window_days=7,
        basis="peak",
        effective_from=now() - timedelta(days=30),
    )
    _report(world)
    evaluate_all()
    rule = Alert.objects.filter(rule__key="facility-compute-day")
    assert not rule.filter(cleared_at__isnull=True).exists()
    _correct(api, parties.users["nvidia"])
    assert rule.filter(cleared_at__isnull=True).exists()


def test_a_catalogue_correction_recounts_every_chip_of_the_model(world, api, parties):
    _report(world)
    treaty = api(parties.users["treaty"])
    resp = treaty.patch("/api/v1/models/nvidia-h20/", {"fp8_tflops": 592, "reason": "datasheet rev B"})
    assert resp.status_code == 200, resp.content
    drain_all()
    assert _peak_sum() == pytest.approx(4 * 592e12 * DAY)
    _assert_days_match_records()


def test_the_holder_cannot_recount_its_own_work_down(world, api, parties):
    """Registered as H100s and reported, the holder's own 'correction' to a weaker model is refused: the
    manufacturer (or the treaty body) corrects a model, so nobody lowers its past work by relabelling."""
    _correct(api, parties.users["nvidia"])
    _report(world)
    counted = _peak_sum()
    resp = world.op_a.patch(f"/api/v1/chips/{SERIALS[0]}/", {"model": "nvidia-h20", "reason": "x"}, format="json")
    assert resp.status_code == 403, resp.content
    drain_all()
    assert _peak_sum() == pytest.approx(counted)
