"""A shipment cannot be dated before the shipper's own statements about its chips (hostile review, session 14).

Before: op-a trained ten days in c-east-1 (3.4e22 FLOP, reported at US-VA-001: the cluster's unexplained-compute
alert raised), then shipped the chips to its own US-CA-001 with a `shipped_at` 19 days ago, before the work it had
reported: the cluster's placements closed at that date, its window forgot the work and its alert cleared.
"""

from datetime import timedelta

from compliance.choices import Scope
from compliance.evaluation import compute_in_window, evaluate_all
from compliance.models import Alert, ThresholdRule
from inventory.models import Cluster, Transfer
from outbox.relay import drain_all
from registry.models import Chip
from tests.attestations.conftest import now
from tests.runs.test_forbidden_runs_are_flagged import CHIPS, H100_W, iso, twenty_in_cluster  # noqa: F401


def _work(w, start, end, facility="US-VA-001"):
    seconds = int((end - start).total_seconds())
    rows = [{"chip": c, "active_s": seconds, "utilization": 1.0, "energy_j": H100_W * seconds} for c in CHIPS]
    r, _ = w.submit(w.op_a, w.usage(rows, start, end, facility=facility))
    assert r.status_code == 201, r.content
    drain_all()
    evaluate_all()
    return r.json()


def _ship(w, days_ago, chips=CHIPS):
    return w.op_a.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-a",
            "destination_facility": "US-CA-001",
            "shipped_at": iso(now() - timedelta(days=days_ago)),
            "chips": chips,
        },
        format="json",
    )


def test_a_shipment_dated_before_reported_work_is_refused(twenty_in_cluster):  # noqa: F811
    w = twenty_in_cluster
    end = now() - timedelta(days=5)
    _work(w, end - timedelta(days=10), end)
    east = Cluster.objects.get(code="c-east-1")
    rule = ThresholdRule.objects.get(key="treaty-unexplained-compute-cluster")
    alert = Alert.objects.filter(rule=rule, subject_key=str(east.pk), cleared_at__isnull=True)
    assert alert.exists()
    r = _ship(w, days_ago=19)
    assert r.status_code == 409, r.content
    problem = r.json()
    assert problem["code"] == "shipped_before_reported"
    assert "20 chip(s)" in problem["detail"] and problem["latest"]
    # Nothing shipped: no transfer, the chips installed and placed where they worked, the work in the window.
    assert not Transfer.objects.exists()
    assert set(Chip.objects.filter(serial__startswith="FRB").values_list("status", flat=True)) == {"installed"}
    drain_all()
    evaluate_all()
    assert compute_in_window(rule, Scope.CLUSTER, str(east.pk), now()) >= 3.4e22
    assert alert.exists()
    # Dated after the work began, the shipment goes (the last period may have been the chips' last hours there).
    r = _ship(w, days_ago=4)
    assert r.status_code == 201, r.content
    drain_all()
    evaluate_all()
    assert compute_in_window(rule, Scope.CLUSTER, str(east.pk), now()) >= 3.4e22


def test_a_sighting_after_the_date_refuses_it_too(twenty_in_cluster):  # noqa: F811
    """A location statement saw the chips at US-VA-001 two days ago: a shipment dated three days ago is refused;
    one chip of them alone is enough."""
    w = twenty_in_cluster
    r, _ = w.submit(
        w.op_a, w.location([{"chip": c, "cluster": "c-east-1"} for c in CHIPS], observed=now() - timedelta(days=2))
    )
    assert r.status_code == 201, r.content
    r = _ship(w, days_ago=3, chips=CHIPS[:1])
    assert r.status_code == 409 and r.json()["code"] == "shipped_before_reported", r.content
    assert "1 chip(s)" in r.json()["detail"]
    assert _ship(w, days_ago=1).status_code == 201


def test_another_partys_word_does_not_hold_a_shipment(twenty_in_cluster, api, parties):  # noqa: F811
    """Only the shipper's own statements at its own sites count: another operator listing op-a's chips at its
    facility after the date does not stop op-a shipping them (nor tell op-a anything)."""
    w = twenty_in_cluster
    r, _ = w.submit(
        w.op_b,
        w.location(CHIPS, facility="DE-FRA-001", operator="op-b", observed=now() - timedelta(days=2)),
        w.key_b,
    )
    assert r.status_code == 201, r.content
    assert _ship(w, days_ago=3).status_code == 201


def test_work_at_the_destination_after_the_date_does_not_refuse_the_shipment(twenty_in_cluster):  # noqa: F811
    """The honest move between two of op-a's sites: the chips left US-VA-001 three days ago and worked at its
    US-CA-001 from two days ago, which op-a reported there. Shipped with the true date: accepted (a review found
    the first cut refusing it, asking the operator to misdate the shipment after the work at its destination)."""
    w = twenty_in_cluster
    _work(w, now() - timedelta(days=2), now() - timedelta(days=1), facility="US-CA-001")
    assert _ship(w, days_ago=3).status_code == 201
