"""Hostile review of how compute is counted: a usage record's bound is peak x active_s x busy fraction, and the
busy fraction's energy witness (energy / (TDP x active_s)) is capped at 1, so it can never witness more than
`active_s`. An operator that reports its chips' energy as drawn but their active time as a minute counted a
minute of work: 400 H100s drawing full power for 31 days (2.1e24 FLOP on the draft's basis) counted 4.8e19,
under every unexplained-compute line, with an implausible_usage finding for its own chips and none at all for
chips the registry does not know. The energy drawn witnesses at least energy / TDP seconds at the chip's full
power (at most the period's length): a report whose energy exceeds what its active time allows is counted on
that time instead.

Each test failed on the code before the fix."""

from datetime import timedelta

from attestations.models import ChiplessUsageRecord, UsageRecord
from inventory.models import AnyFinding
from registry.models import AcceleratorModel
from tests.attestations.conftest import now
from tests.compliance.test_counting_review import (
    H100_DAY_HIGHER,
    send,
    serials,
    unexplained,
    world,  # noqa: F401 (a fixture)
)
from tests.runs.test_run_rules import DAY, H100_W

DAYS = 31


def understated(refs, active_s=60):
    """Each chip drew 700 W for the whole period; the report says it was active `active_s` seconds."""
    return [{"chip": ref, "active_s": active_s, "utilization": 1.0, "energy_j": H100_W * DAYS * DAY} for ref in refs]


def test_energy_drawn_for_a_month_counts_though_the_active_time_says_a_minute(world):  # noqa: F811
    end = now() - timedelta(minutes=5)
    body = send(world, world.usage(understated(serials(0, 400)), end - timedelta(days=DAYS), end))
    records = UsageRecord.objects.filter(attestation_id=body["id"])
    assert records.count() == 400
    # The energy witnesses 31 days at full power per chip: 1979 TFLOP/s x 31 days on the `higher` basis.
    assert sum(r.flop_peak for r in records) >= 400 * DAYS * H100_DAY_HIGHER * 0.999
    assert unexplained().filter(rule__key="treaty-unexplained-compute-facility").exists()
    # Still flagged: the report contradicts itself.
    assert AnyFinding.objects.filter(kind="implausible_usage").exists()


def test_active_time_of_zero_does_not_make_the_energy_vanish(world):  # noqa: F811
    end = now() - timedelta(minutes=5)
    body = send(world, world.usage(understated(serials(0, 400), active_s=0), end - timedelta(days=DAYS), end))
    assert sum(r.flop_peak for r in UsageRecord.objects.filter(attestation_id=body["id"])) > 2e24
    assert unexplained().filter(rule__key="treaty-unexplained-compute-facility").exists()


def test_unregistered_chips_understated_the_same_way_count_too(world):  # noqa: F811
    """Chips the registry does not know count at their maker's bound; no implausible_usage finding is raised for
    them (the registry holds no model of theirs), so their count was the only witness, and it said a minute."""
    end = now() - timedelta(minutes=5)
    ghosts = [f"nvidia:GHOST{i:06d}" for i in range(400)]
    body = send(world, world.usage(understated(ghosts), end - timedelta(days=DAYS), end))
    kept = ChiplessUsageRecord.objects.filter(attestation_id=body["id"])
    assert sum(r.flop_peak for r in kept) > 2e24
    assert unexplained().filter(rule__key="treaty-unexplained-compute-facility").exists()


def test_an_honest_report_counts_as_before(world):  # noqa: F811
    """Energy within what the active time allows: the bound is peak x active_s x busy fraction, unchanged."""
    end = now() - timedelta(minutes=5)
    rows = [{"chip": ref, "active_s": DAY, "utilization": 0.5, "energy_j": H100_W * DAY} for ref in serials(0, 2)]
    body = send(world, world.usage(rows, end - timedelta(days=2), end))
    for r in UsageRecord.objects.filter(attestation_id=body["id"]):
        assert r.flop_peak == H100_DAY_HIGHER


def test_an_honest_report_of_chips_the_registry_does_not_know_is_not_stretched(world):  # noqa: F811
    """An unregistered chip counts at its maker's bound (the fastest peak, the lowest power limit); its energy
    witnesses active time by the maker's highest power limit, so a 700 W chip reported honestly (a day active,
    700 W) counts a day at the bound, not the two a 350 W chip would have needed for that energy."""
    end = now() - timedelta(minutes=5)
    rows = [{"chip": "nvidia:GHOST000001", "active_s": DAY, "utilization": 1.0, "energy_j": H100_W * DAY}]
    body = send(world, world.usage(rows, end - timedelta(days=2), end))
    [kept] = ChiplessUsageRecord.objects.filter(attestation_id=body["id"])
    fastest = max(
        m.fp4_tflops or m.fp8_tflops or 0 for m in AcceleratorModel.objects.filter(manufacturer__code="nvidia")
    )
    assert kept.flop_peak == fastest * 1e12 * DAY
