"""Work stays where it was reported: an operator cannot hand a rival its own training by shipping it the chips.

op-a runs 20 H100s flat out for 10 days in its cluster c-east-1, unattributed to any run (3.4e22 FLOP on the
draft's `higher` basis, past the 1e22 line of the unexplained-compute presets), reports it, then ships the chips
to op-c, a rival in the same country, who places them in its own cluster. A cluster's usage was that of the
chips placed in it now, and an operator-country's that of the chips the operator holds now, wherever and by
whomever the work was reported: op-c's cluster and op-c's country total took op-a's month, and op-a's own
country total dropped it the moment the chips left. Each test failed on that code.
"""

from datetime import timedelta

import pytest
from django.core.management import call_command

from compliance import aggregates, services
from compliance.choices import WINDOW_METRICS, Scope
from compliance.evaluation import compute_in_window, evaluate_all
from compliance.models import Alert, ThresholdRule
from inventory.models import Cluster
from outbox.relay import drain_all
from registry.registration import register_chips
from tests.attestations.conftest import World, now
from tests.factories import OrganisationFactory, UserFactory, chip_rows

DAY = 86400
H100_W = 700
CHIPS = [f"nvidia:WSD{i:06d}" for i in range(20)]


def iso(dt):
    return dt.isoformat().replace("+00:00", "Z")


def ruled_world(api, parties):
    """The attestations world with the draft treaty's presets and a custom operator-country compute rule
    (`op-country-compute`: 1e22 FLOP FP16-equivalent in 30 days)."""
    w = World(api, parties)
    call_command("load_presets", "draft-treaty", verbosity=0)
    services.declare(
        parties.users["treaty"],
        "op-country-compute",
        name="Compute of an operator in a country",
        metric="compute_window",
        scope="operator_country",
        comparison="ge",
        value=1e22,
        severity="high",
        effective_from=now() - timedelta(days=60),
        window_days=30,
    )
    return w


@pytest.fixture
def world(api, parties):
    w = ruled_world(api, parties)
    op_c = OrganisationFactory(code="op-c", kind="operator", country="US")
    parties.users["op_c"] = UserFactory(organisation=op_c, role="admin")
    w.op_c = api(parties.users["op_c"])
    r = w.op_c.post(
        "/api/v1/facilities/",
        {"code": "US-NY-001", "name": "US-NY-001", "country": "US", "latitude": 40.71, "longitude": -74.0},
    )
    assert r.status_code == 201, r.content
    assert w.op_c.post("/api/v1/clusters/", {"code": "c-north-1", "facility": "US-NY-001"}).status_code == 201
    register_chips(chip_rows("WSD", len(CHIPS)), parties.users["op_a_admin"])
    listing = [{"chip": c, "cluster": "c-east-1"} for c in CHIPS]
    r = w.op_a.post(
        "/api/v1/declarations/",
        {"facility": "US-VA-001", "as_of": iso(now() - timedelta(days=20)), "chips": listing},
        format="json",
    )
    assert r.status_code == 201, r.content
    # Ten days of training, unattributed, reported by op-a at its own facility.
    end = now() - timedelta(days=5)
    seconds = 10 * DAY
    rows = [{"chip": c, "active_s": seconds, "utilization": 1.0, "energy_j": H100_W * seconds} for c in CHIPS]
    r, _ = w.submit(w.op_a, w.usage(rows, end - timedelta(days=10), end))
    assert r.status_code == 201, r.content
    drain_all()
    w.op_a_id, w.op_c_id = parties.users["op_a_admin"].organisation_id, op_c.pk
    return w


def ship_and_receive(world, chips):
    """op-a ships `chips` to op-c's US-NY-001 four days ago (not naming where they leave from), op-c receives
    them there three days ago."""
    r = world.op_a.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-c",
            "destination_facility": "US-NY-001",
            "shipped_at": iso(now() - timedelta(days=4)),
            "chips": chips,
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    r = world.op_c.post(
        f"/api/v1/transfers/{r.json()['id']}/receive/",
        {"received_at": iso(now() - timedelta(days=3)), "facility": "US-NY-001", "chips": chips},
        format="json",
    )
    assert r.status_code == 200, r.content


def _ship_to_op_c(world):
    """op-a ships the chips to op-c (same country), op-c receives them and places them in its cluster."""
    ship_and_receive(world, CHIPS)
    listing = [{"chip": c, "cluster": "c-north-1"} for c in CHIPS]
    r = world.op_c.post(
        "/api/v1/declarations/",
        {"facility": "US-NY-001", "as_of": iso(now() - timedelta(days=2)), "chips": listing},
        format="json",
    )
    assert r.status_code == 201, r.content
    drain_all()
    evaluate_all()


def _unexplained(**where):
    return Alert.objects.filter(kind="threshold", rule__metric="unattributed_compute", **where)


def test_a_cluster_does_not_take_the_work_its_chips_did_for_another_holder(world):
    east = Cluster.objects.get(code="c-east-1")
    assert _unexplained(scope=Scope.CLUSTER, subject_key=str(east.pk)).exists()  # op-a's, where it was done
    _ship_to_op_c(world)
    north = Cluster.objects.get(code="c-north-1")
    assert north.placements.filter(valid_to__isnull=True).count() == len(CHIPS)
    rule = ThresholdRule.objects.get(key="treaty-unexplained-compute-cluster")
    assert compute_in_window(rule, Scope.CLUSTER, str(north.pk), now()) == 0
    window = timedelta(days=30)
    assert aggregates.usage(Scope.CLUSTER, now() - window, window, "higher", [str(north.pk)]) == {}
    # op-c holds 20 H100s now (a covered chip cluster's capacity alert is its own), but no compute of op-a's.
    assert not Alert.objects.filter(operator_id=world.op_c_id, rule__metric__in=WINDOW_METRICS).exists()
    assert Alert.objects.filter(operator_id=world.op_c_id, rule__key="treaty-covered-cluster").exists()
    # op-a's facility keeps its alert: the work was reported there.
    assert _unexplained(scope=Scope.FACILITY, operator_id=world.op_a_id).exists()


def test_an_operators_country_total_keeps_its_work_after_the_chips_leave(world):
    rule = ThresholdRule.objects.get(key="op-country-compute")
    op_a_work = 20 * 10 * DAY * 989e12  # the custom rule's fp16 basis: 1.7e22
    assert compute_in_window(rule, Scope.OPERATOR_COUNTRY, f"{world.op_a_id}:US", now()) == pytest.approx(op_a_work)
    _ship_to_op_c(world)
    # op-a no longer holds the chips; its work in the US stays in its count, and is not op-c's.
    assert compute_in_window(rule, Scope.OPERATOR_COUNTRY, f"{world.op_a_id}:US", now()) == pytest.approx(op_a_work)
    assert compute_in_window(rule, Scope.OPERATOR_COUNTRY, f"{world.op_c_id}:US", now()) == 0
    window = timedelta(days=30)
    totals = aggregates.usage(Scope.OPERATOR_COUNTRY, now() - window, window, "fp16")
    assert totals.get(f"{world.op_a_id}:US") == pytest.approx(op_a_work) and f"{world.op_c_id}:US" not in totals
    by_rule = Alert.objects.filter(rule=rule, scope=Scope.OPERATOR_COUNTRY)
    assert by_rule.filter(subject_key=f"{world.op_a_id}:US", cleared_at__isnull=True).exists()
    assert not by_rule.filter(subject_key=f"{world.op_c_id}:US").exists()
