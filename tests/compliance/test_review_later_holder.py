"""Hostile review (session 14) of the usage-attribution changes (6bd2c69, fcaed28): a later holder's word.

The world: op-a (US) runs US-CA-001 (kept quiet: it never names it to anyone) and US-VA-001 (cluster
c-east-1). 20 H100s of op-a sat at US-CA-001 from 28 days ago, then in c-east-1 at US-VA-001 from 20 days
ago; op-a ships them, naming no origin facility, to op-c (US, a rival) 4 days ago, and op-c receives them at
its US-NY-001 3 days ago. op-a never reported any work on them.

A usage statement's period may lie anywhere in the past (ATTESTATION.md 3.2: at most 31 days long, ending
before issued_at), and its records are bound to a chip when the speaker holds the chip *now*. So op-c, the
holder now, may report work for periods when op-a held the chips, and:

1. its statement's `usage_elsewhere` finding (filed under op-c, read by op-c) names the facilities where
   op-a had the chips during the period, with how many: op-c reads op-a's facility codes and placement
   history, which the README keeps from it (placements are read by the facility's operator; a facility of
   another operator answers 404; 7f703f5 closed the facility-code oracle of statements);
2. its records count in op-a's cluster and op-a's operator-country compute windows (compliance.storage's
   _USAGE, compliance.evaluation.compute_in_window), raising unexplained-compute alerts against op-a for work
   op-a never reported, whose evidence hands op-a (and its inspectorate) op-c's statements: "usage and
   sightings of a chip by anyone but its holder never count for or against the holder" (README), and op-a
   held the chips all through that period.
"""

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from compliance.choices import Scope
from compliance.evaluation import compute_in_window, evaluate_all
from compliance.models import Alert, ThresholdRule
from inventory.models import Cluster
from outbox.relay import drain_all
from registry.registration import register_chips
from tests.attestations.conftest import now
from tests.compliance.test_work_stays_where_done import ruled_world, ship_and_receive
from tests.factories import OrganisationFactory, UserFactory, chip_rows

DAY = 86400
H100_W = 700
CHIPS = [f"nvidia:RVL{i:06d}" for i in range(20)]
COMPUTE_METRICS = ["unattributed_compute", "compute_window"]


def iso(dt):
    return dt.isoformat().replace("+00:00", "Z")


@pytest.fixture
def world(api, parties):
    w = ruled_world(api, parties)
    op_c = OrganisationFactory(code="op-c", kind="operator", country="US")
    parties.users["op_c"] = UserFactory(organisation=op_c, role="admin")
    w.op_c = api(parties.users["op_c"])
    w.op_a_id, w.op_c_id = parties.users["op_a_admin"].organisation_id, op_c.pk
    w.key_c = ed25519.Ed25519PrivateKey.generate()
    w.register(w.op_c, w.key_c)
    r = w.op_c.post(
        "/api/v1/facilities/",
        {"code": "US-NY-001", "name": "US-NY-001", "country": "US", "latitude": 40.71, "longitude": -74.0},
    )
    assert r.status_code == 201, r.content
    register_chips(chip_rows("RVL", len(CHIPS)), parties.users["op_a_admin"])
    for facility, cluster, days_ago in (("US-CA-001", None, 28), ("US-VA-001", "c-east-1", 20)):
        listing = [{"chip": c, "cluster": cluster} if cluster else {"chip": c} for c in CHIPS]
        r = w.op_a.post(
            "/api/v1/declarations/",
            {"facility": facility, "as_of": iso(now() - timedelta(days=days_ago)), "chips": listing},
            format="json",
        )
        assert r.status_code == 201, r.content
    # op-a ships the chips to op-c without naming where they leave from.
    ship_and_receive(w, CHIPS)
    drain_all()
    evaluate_all()
    return w


def _op_c_reports(world, start_days_ago, days):
    """op-c's signed usage statement at its own US-NY-001: the 20 chips flat out for `days` days."""
    start = now() - timedelta(days=start_days_ago)
    seconds = days * DAY
    rows = [{"chip": c, "active_s": seconds, "utilization": 1.0, "energy_j": H100_W * seconds} for c in CHIPS]
    r, _ = world.submit(
        world.op_c,
        world.usage(rows, start, start + timedelta(days=days), facility="US-NY-001", operator="op-c"),
        world.key_c,
    )
    assert r.status_code == 201, r.content
    return r


def test_usage_elsewhere_does_not_name_the_previous_holders_facilities_to_the_new_holder(world):
    # What op-c may read of op-a's sites: nothing. The transfer names no origin facility; US-CA-001 is a 404.
    transfers = world.op_c.get("/api/v1/transfers/").json()["results"]
    assert [t["origin_facility"] for t in transfers] == [None]
    assert world.op_c.get("/api/v1/facilities/US-CA-001/").status_code == 404
    placements = world.op_c.get("/api/v1/placements/", {"chip": CHIPS[0]}).content.decode()
    assert "US-CA-001" not in placements and "US-VA-001" not in placements
    # op-c reports a day of its chips' past: 25 to 24 days ago, when op-a had them at US-CA-001.
    answer = _op_c_reports(world, start_days_ago=25, days=1)
    assert "US-CA-001" not in answer.content.decode()
    # Nothing op-c reads names op-a's facility (nor how many chips op-a had there).
    seen = world.op_c.get("/api/v1/findings/").content.decode()
    # Nor is it told anything of where another party had them (its book): no usage_elsewhere at all.
    assert not [f for f in world.op_c.get("/api/v1/findings/").json()["results"] if f["kind"] == "usage_elsewhere"]
    assert "US-CA-001" not in seen, [
        f["detail"] for f in world.op_c.get("/api/v1/findings/").json()["results"] if "US-CA-001" in f["detail"]
    ]


def test_a_later_holders_report_of_the_chips_past_does_not_count_against_the_previous_holder(world):
    east = Cluster.objects.get(code="c-east-1")
    cluster_rule = ThresholdRule.objects.get(key="treaty-unexplained-compute-cluster")
    country_rule = ThresholdRule.objects.get(key="op-country-compute")
    assert compute_in_window(cluster_rule, Scope.CLUSTER, str(east.pk), now()) == 0
    assert not Alert.objects.filter(operator_id=world.op_a_id, rule__metric__in=COMPUTE_METRICS).exists()
    # op-c, holding the chips now, "reports" ten days of training from 18 to 8 days ago: op-a's time, in c-east-1.
    _op_c_reports(world, start_days_ago=18, days=10)
    drain_all()
    evaluate_all()
    # op-a reported nothing and held the chips all through: no compute alert stands against it...
    against_a = Alert.objects.filter(operator_id=world.op_a_id, rule__metric__in=COMPUTE_METRICS)
    assert not against_a.exists(), [(a.title, a.value) for a in against_a]
    # ...and its cluster and its country total count nothing.
    assert compute_in_window(cluster_rule, Scope.CLUSTER, str(east.pk), now()) == 0
    assert compute_in_window(country_rule, Scope.OPERATOR_COUNTRY, f"{world.op_a_id}:US", now()) == 0


def test_the_previous_holder_reads_nothing_of_the_later_holders_statements(world):
    statement = _op_c_reports(world, start_days_ago=18, days=10).json()["id"]
    drain_all()
    evaluate_all()
    # op-c's statement is not op-a's to read...
    assert world.op_a.get(f"/api/v1/attestations/{statement}/").status_code == 404
    # ...nor is it named to op-a in the evidence of any alert op-a reads.
    for alert in world.op_a.get("/api/v1/alerts/").json()["results"]:
        detail = world.op_a.get(f"/api/v1/alerts/{alert['id']}/").json()
        named = {str(s["id"]) for e in detail["evidence"] for s in e["sources"] if s.get("source") == "attestation"}
        assert str(statement) not in named, (alert["title"], detail["evidence"])


def test_a_former_holders_report_does_not_flag_the_new_holders_own_time_with_the_chips(world):
    """op-a had the chips until it shipped them 4 days ago; op-c received them 3 days ago. op-a reports its last
    stretch with them (8 to 2 days ago, active the 4 days it had them); op-c then reports its own two days. op-a's
    report is kept by reference (it no longer holds the chips), so op-c's statement carries no two_places nor
    implausible_usage on op-a's word (a second review caught a first cut that bound it, and flagged op-c)."""
    start, end = now() - timedelta(days=8), now() - timedelta(days=2)
    rows = [{"chip": c, "active_s": 4 * DAY, "utilization": 1.0, "energy_j": H100_W * 4 * DAY} for c in CHIPS]
    r, _ = world.submit(world.op_a, world.usage(rows, start, end, facility="US-VA-001"))
    assert r.status_code == 201, r.content
    drain_all()
    start, end = now() - timedelta(days=3) + timedelta(minutes=5), now() - timedelta(days=1)
    seconds = int((end - start).total_seconds())
    rows = [{"chip": c, "active_s": seconds, "utilization": 1.0, "energy_j": H100_W * seconds} for c in CHIPS]
    r, _ = world.submit(world.op_c, world.usage(rows, start, end, facility="US-NY-001", operator="op-c"), world.key_c)
    assert r.status_code == 201, r.content
    flags = r.json()["flags"]
    assert "two_places" not in flags and "implausible_usage" not in flags, flags


def test_a_later_holder_cannot_read_when_the_former_holder_put_the_chips_on_its_books(world):
    """op-a declared the chips at US-CA-001 28 days ago. op-c, holding them now, files one-hour statements about
    their past at day -29 and day -27: both answer alike (a second review found the second, and only it, flagged
    usage_elsewhere from op-a's placements: stepping the hour read op-a's dates out)."""

    def hour_at(days_ago):
        start = now() - timedelta(days=days_ago)
        rows = [{"chip": c, "active_s": 3600, "utilization": 1.0, "energy_j": H100_W * 3600} for c in CHIPS]
        statement = world.usage(rows, start, start + timedelta(hours=1), facility="US-NY-001", operator="op-c")
        r, _ = world.submit(world.op_c, statement, world.key_c)
        assert r.status_code == 201, r.content
        return r.json()["flags"]

    before, during = hour_at(29), hour_at(27)
    assert before == during and "usage_elsewhere" not in during, (before, during)
