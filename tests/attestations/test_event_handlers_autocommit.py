"""The attestations app's outbox handlers, run as a Celery worker runs them: outside any transaction (autocommit).

Eager in the tests, the relay runs a handler inside its own transaction, which hides code that only works in one
(06f108f). Here the event is committed but held back from the relay (tests.handed_over), and the task's function
is called with what the relay would hand it, in autocommit; its effect is checked, and a second delivery of the
same event (the outbox delivers at least once) changes nothing.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from attestations.models import UsageRecord
from attestations.tasks import fold_sightings, recount_usage
from registry.models import Chip
from runs.models import RunUsageDay
from tests.compliance.test_model_correction_recounts_usage import H100, SERIALS, _assert_days_match_records, _report
from tests.compliance.test_model_correction_recounts_usage import world as recount_world  # noqa: F401  (fixture)
from tests.handed_over import held_back
from tests.runs.test_usage import declare_earlier

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_big_statements_sightings_are_folded_outside_any_transaction(catalog, api, parties, monkeypatch):
    from attestations.kinds import location
    from tests.attestations.conftest import World

    monkeypatch.setattr(location, "FOLD_INLINE_MAX", 0)  # as for a big statement: folded by the task
    world = World(api, parties)
    seen = timezone.now().replace(microsecond=0) - timedelta(minutes=2)
    refs = ["nvidia:A000001", "nvidia:A000002"]
    with held_back() as held:
        response, _ = world.submit(world.op_a, world.location(refs, observed=seen))
        assert response.status_code == 201, response.content
    events = held.for_(fold_sightings)
    assert [(topic, payload) for _, topic, payload in events] == [
        ("sightings.recorded", {"attestation": response.json()["id"]})
    ]
    chips = Chip.objects.filter(serial__in=["A000001", "A000002"])
    assert set(chips.values_list("last_verified_at", flat=True)) == {None}
    assert connection.get_autocommit()
    fold_sightings(*events[0])
    assert set(chips.values_list("last_verified_at", flat=True)) == {seen}
    fold_sightings(*events[0])
    assert set(chips.values_list("last_verified_at", flat=True)) == {seen}


def _state(run):
    days = RunUsageDay.objects.get(run=run)
    records = sorted(UsageRecord.objects.values_list("pk", "flop_fp16", "flop_peak"))
    return records, (days.flop_fp16, days.flop_peak, days.statements, days.records)


def test_a_chips_model_correction_is_recounted_outside_any_transaction(catalog, api, parties, recount_world):  # noqa: F811
    run = declare_earlier(parties)
    _report(recount_world, seconds=7200, run=run.code)
    before = sum(r.flop_peak for r in UsageRecord.objects.all())
    maker = api(parties.users["nvidia"])
    with held_back() as held:
        for ref in SERIALS:
            response = maker.patch(f"/api/v1/chips/{ref}/", {"model": H100, "reason": "our records"}, format="json")
            assert response.status_code == 200, response.content
    events = held.for_(recount_usage)
    assert [topic for _, topic, _ in events] == ["chips.model_corrected"] * len(SERIALS)
    assert sum(r.flop_peak for r in UsageRecord.objects.all()) == pytest.approx(before)  # not recounted yet
    assert connection.get_autocommit()
    for event in events:
        recount_usage(*event)
    after = sum(r.flop_peak for r in UsageRecord.objects.all())
    assert after > before * 5
    assert RunUsageDay.objects.get(run=run).flop_peak == pytest.approx(after)
    _assert_days_match_records()
    state = _state(run)
    for event in events:
        recount_usage(*event)
    assert _state(run) == state


def test_a_catalogue_correction_is_recounted_outside_any_transaction(catalog, api, parties, recount_world):  # noqa: F811
    run = declare_earlier(parties)
    _report(recount_world, seconds=7200, run=run.code)
    before = sum(r.flop_peak for r in UsageRecord.objects.all())
    with held_back() as held:
        response = api(parties.users["treaty"]).patch(
            "/api/v1/models/nvidia-h20/", {"fp8_tflops": 592, "reason": "datasheet rev B"}
        )
        assert response.status_code == 200, response.content
    events = held.for_(recount_usage)
    assert [topic for _, topic, _ in events] == ["catalog.corrected"]
    assert connection.get_autocommit()
    recount_usage(*events[0])
    assert sum(r.flop_peak for r in UsageRecord.objects.all()) == pytest.approx(before * 2)
    assert RunUsageDay.objects.get(run=run).flop_peak == pytest.approx(before * 2)
    _assert_days_match_records()
    state = _state(run)
    recount_usage(*events[0])
    assert _state(run) == state
