"""Lose, work, recover, then report: work a usage statement files for a time its chips stood reported lost is a
sighting (session 20).

op-a's 20 H100s sit in c-east-1 at US-VA-001 from 20 days ago. op-a reports two of them lost 12 days ago (each a
`lost_or_stolen` finding, on the watch list), says it found them 4 days ago (lost -> installed, on its own word),
and then files ten days of work on all 20 from 11 days ago. A lost chip reported working is a critical
`lost_chip_sighted` finding (inventory.services.watch), but the usage check read the chips' status now: recovered
before the statement, the two chips' work in the loss raised nothing, and the watch list's record of them ends
at a recovery nobody can check.
"""

from datetime import timedelta

from inventory.models import AnyFinding
from registry.models import Chip, ChipEvent
from tests.attestations.conftest import now
from tests.compliance.test_review_usage_attribution import (
    CHIPS,
    DAY,
    H100_W,
    _declare,
    world,  # noqa: F401  (the fixture)
)

LOST = CHIPS[:2]


def _lose_and_recover(world, lost_days_ago, found_days_ago):  # noqa: F811
    """op-a's reports, dated as if made then (the history records when a status changed). One instant dates them
    all: read once per report, a second ticking over between two (a loaded machine) shortened the time between
    loss and recovery by a second, and the test's exact five free days no longer held five days of work."""
    base = now()
    for chip in LOST:
        for status, days_ago in (("lost", lost_days_ago), ("installed", found_days_ago)):
            r = world.op_a.patch(f"/api/v1/chips/{chip}/", {"status": status, "reason": "inventory check"})
            assert r.status_code == 200, r.content
            event = ChipEvent.objects.filter(chip__serial=chip.split(":")[1], kind="status").latest("id")
            ChipEvent.objects.filter(pk=event.pk).update(at=base - timedelta(days=days_ago))
    assert set(Chip.objects.filter(serial__in=[c.split(":")[1] for c in LOST]).values_list("status", flat=True)) == {
        "installed"
    }


def _work(world, start_days_ago, days, active_days):  # noqa: F811
    start = now() - timedelta(days=start_days_ago)
    seconds = active_days * DAY
    rows = [{"chip": c, "active_s": seconds, "utilization": 1.0, "energy_j": H100_W * seconds} for c in CHIPS]
    r, _ = world.submit(world.op_a, world.usage(rows, start, start + timedelta(days=days)))
    assert r.status_code == 201, r.content
    return AnyFinding.objects.filter(kind="lost_chip_sighted", source="attestation").filter(
        source_id__startswith=f"{r.json()['id']}:"
    )


def test_work_filed_after_a_recovery_for_the_time_the_chips_stood_lost_is_a_sighting(world, api, parties):  # noqa: F811
    _declare(world, "US-VA-001", "c-east-1", days_ago=20)
    _lose_and_recover(world, lost_days_ago=12, found_days_ago=4)
    sighted = _work(world, start_days_ago=11, days=10, active_days=10)
    assert sorted({f.chip_ref for f in sighted}) == sorted(LOST)
    assert {f.country for f in sighted} == {"US"} and {f.organisation.code for f in sighted} == {"op-a"}
    assert all("lost or stolen (now installed)" in f.detail for f in sighted)
    # Critical, for the holder and the US inspectorate; not another country's.
    for user, sees in (("insp_us", True), ("treaty", True), ("insp_fr", False)):
        listed = api(parties.users[user]).get("/api/v1/findings/", {"kind": "lost_chip_sighted"}).json()["results"]
        assert bool(listed) is sees, user


def test_work_that_fits_in_the_time_the_chips_were_not_lost_is_not(world):  # noqa: F811
    _declare(world, "US-VA-001", "c-east-1", days_ago=20)
    _lose_and_recover(world, lost_days_ago=12, found_days_ago=4)
    # From 14 days ago for 13 days: 2 days before the loss and 3 after the recovery are free; 5 days of work fit.
    assert not _work(world, start_days_ago=14, days=13, active_days=5).exists()
    # 6 days do not.
    assert sorted({f.chip_ref for f in _work(world, start_days_ago=14, days=13, active_days=6)}) == sorted(LOST)
