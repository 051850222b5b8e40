"""A later holder's report of work from before it received the chips is a finding (session 19).

op-a's 20 H100s were shipped to op-c 4 days ago and received by op-c 3 days ago (test_review_later_holder's
world). A usage statement is judged against its chips' holder's own reports only (ATTESTATION.md 5), so op-c's
report of ten days of work from 18 days ago, op-a's time, raised nothing at all: counted at op-c's facility, with
no word to anyone that op-c did not hold the chips then. Its custody says so, and says nothing of op-a beyond
what op-c's own receipt says: an `unexpected` finding per chip, read by op-c, its facility's inspectorate and the
treaty body, and by no one else.
"""

from datetime import timedelta

from inventory.models import AnyFinding
from tests.attestations.conftest import now
from tests.compliance.test_review_later_holder import (
    CHIPS,
    DAY,
    H100_W,
    _op_c_reports,
    world,  # noqa: F401  (the fixture)
)

BEFORE = "did not hold it then"


def _before_custody(statement_id):
    return AnyFinding.objects.filter(kind="unexpected", source="attestation", source_id=str(statement_id)).filter(
        detail__contains=BEFORE
    )


def test_work_reported_for_a_time_before_the_speaker_received_the_chips_is_a_finding(world, api, parties):  # noqa: F811
    answer = _op_c_reports(world, start_days_ago=18, days=10)
    assert_custody_findings(answer.json()["id"], api, parties)


def assert_custody_findings(statement_id, api, parties):
    """One custody finding per chip of the statement, naming the speaker and its facility and nothing of the
    former holder (its code, its facilities), read by op-c, the US inspectorate and the treaty body; not by op-a,
    whose chips they were, nor by another country's inspectorate."""
    found = _before_custody(statement_id)
    assert sorted(f.chip_ref for f in found) == sorted(CHIPS)
    detail = found.first().detail
    assert "US-NY-001" in detail and "op-c" in detail
    assert "op-a" not in detail and "US-VA-001" not in detail and "US-CA-001" not in detail
    for user, sees in (("op_c", True), ("insp_us", True), ("treaty", True), ("op_a_admin", False), ("insp_fr", False)):
        listed = api(parties.users[user]).get("/api/v1/findings/", {"kind": "unexpected"}).json()["results"]
        assert any(BEFORE in f["detail"] for f in listed) is sees, user


def test_work_that_fits_after_the_receipt_is_not(world):  # noqa: F811
    # A period from 4 days ago to 1 day ago: one day's work fits after the receipt 3 days ago; three days' do not.
    start, end = now() - timedelta(days=4), now() - timedelta(days=1)
    for days, flagged in ((1, False), (2.9, True)):
        seconds = days * DAY
        rows = [{"chip": c, "active_s": seconds, "utilization": 1.0, "energy_j": H100_W * seconds} for c in CHIPS[:2]]
        r, _ = world.submit(
            world.op_c, world.usage(rows, start, end, facility="US-NY-001", operator="op-c"), world.key_c
        )
        assert r.status_code == 201, r.content
        assert _before_custody(r.json()["id"]).count() == (2 if flagged else 0), days


def test_the_former_holders_own_report_of_its_time_is_not(world):  # noqa: F811
    """op-a's report of its own time with the chips, filed after it shipped them: the chips are op-c's now, so
    its records are kept by reference (other_operator), and its custody then is op-a's: no such finding."""
    seconds = 2 * DAY
    rows = [{"chip": c, "active_s": seconds, "utilization": 1.0, "energy_j": H100_W * seconds} for c in CHIPS[:3]]
    start = now() - timedelta(days=10)
    r, _ = world.submit(world.op_a, world.usage(rows, start, start + timedelta(days=2)))
    assert r.status_code == 201, r.content
    assert not _before_custody(r.json()["id"]).exists()


def test_the_work_is_judged_on_the_time_its_energy_witnesses(world):  # noqa: F811
    """A minute reported with six days of energy at full power is six days of work (protocol.usage's
    witnessed_active_s, as the work is counted): it cannot all lie after the receipt 3 days ago. A chip listed idle
    (no second, no energy) did not work at all."""
    start, end = now() - timedelta(days=12), now() - timedelta(days=1)
    rows = [{"chip": CHIPS[0], "active_s": 60, "utilization": 1.0, "energy_j": H100_W * 6 * DAY}]
    rows += [{"chip": CHIPS[1], "active_s": 0, "utilization": 0.0, "energy_j": 0}]
    r, _ = world.submit(world.op_c, world.usage(rows, start, end, facility="US-NY-001", operator="op-c"), world.key_c)
    assert r.status_code == 201, r.content
    assert [f.chip_ref for f in _before_custody(r.json()["id"])] == [CHIPS[0]]
