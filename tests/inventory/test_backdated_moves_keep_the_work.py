"""Moves dated back before reported work leave it in the cluster (hostile review of acea783, session 14).

acea783 refuses a *shipment* dated before the shipper's own statements about its chips, because such a shipment
closed the chips' placements in c-east-1 under reported work and the cluster's window forgot it. The same
placements are closed, at a date the operator picks, by:

1. a declaration (`POST declarations/`) whose `as_of` is dated back, listing the chips at another facility of
   the operator (or in another cluster): place() closes the open placement at `as_of`;
2. a partial location statement whose `observed_at` is dated back (ATTESTATION.md bounds `issued_at` to 7 days,
   not `observed_at`), listing the chips in another cluster;
3. the shipment itself, dated back *before* the work is reported (the check reads only statements already filed;
   usage may be filed any time after its period), the work reported afterwards;

Each ended with c-east-1's unexplained-compute window empty and its alert cleared, for 3.4e22 FLOP of training
op-a itself reported at US-VA-001 as done there, while the books had the chips in c-east-1. Now a cluster also
counts a record whose chip's last placement at the record's facility begun before the period ended is in it. A backdated
signed statement moving the chips to another cluster of the same facility moves the work there (2): the work
stays in the facility's clusters, on a signed word the inspectors can hold the operator to.
"""

from datetime import timedelta

from compliance.choices import Scope
from compliance.evaluation import compute_in_window, evaluate_all
from compliance.models import Alert, ThresholdRule
from inventory.models import Cluster
from outbox.relay import drain_all
from tests.attestations.conftest import now
from tests.inventory.test_shipment_before_reports import _work
from tests.runs.test_forbidden_runs_are_flagged import CHIPS, H100_W, iso, twenty_in_cluster  # noqa: F401

WORK = 3.4e22


def _cluster_window(code="c-east-1"):
    """The ORM's reading of the cluster's window, checked against the set-based evaluation's alert."""
    east = Cluster.objects.get(code=code)
    rule = ThresholdRule.objects.get(key="treaty-unexplained-compute-cluster")
    value = compute_in_window(rule, Scope.CLUSTER, str(east.pk), now())
    alerted = Alert.objects.filter(rule=rule, subject_key=str(east.pk), cleared_at__isnull=True).exists()
    assert alerted == (value > rule.value), (value, alerted)
    return value


def _settle():
    drain_all()
    evaluate_all()


def test_a_backdated_declaration_elsewhere_does_not_take_the_work_out_of_the_cluster(twenty_in_cluster):  # noqa: F811
    w = twenty_in_cluster
    end = now() - timedelta(days=5)
    _work(w, end - timedelta(days=10), end)
    assert _cluster_window() >= WORK
    # Today, op-a declares the chips at its US-CA-001 "as of" 19 days ago: before all of the work it reported.
    r = w.op_a.post(
        "/api/v1/declarations/",
        {"facility": "US-CA-001", "as_of": iso(now() - timedelta(days=19)), "chips": [{"chip": c} for c in CHIPS]},
        format="json",
    )
    assert r.status_code in (201, 409), r.content  # refused (like a backdated shipment) is a fix too
    _settle()
    assert _cluster_window() >= WORK


def test_a_backdated_location_statement_moving_the_chips_to_another_cluster_keeps_the_work_there(twenty_in_cluster):  # noqa: F811
    w = twenty_in_cluster
    end = now() - timedelta(days=5)
    _work(w, end - timedelta(days=10), end)
    assert _cluster_window() >= WORK
    # A signed partial location statement issued now, observed_at 19 days ago, the chips in c-east-2.
    r, _ = w.submit(
        w.op_a,
        w.location([{"chip": c, "cluster": "c-east-2"} for c in CHIPS], observed=now() - timedelta(days=19)),
    )
    assert r.status_code == 201, r.content  # a statement is never refused for what it says (ATTESTATION.md 5)
    _settle()
    assert _cluster_window("c-east-2") >= WORK


def test_a_shipment_dated_back_before_work_reported_later_does_not_take_it_out(twenty_in_cluster):  # noqa: F811
    """The order reversed: the backdated shipment first (nothing filed yet to refuse it), the work after."""
    w = twenty_in_cluster
    r = w.op_a.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-a",
            "destination_facility": "US-CA-001",
            "shipped_at": iso(now() - timedelta(days=19)),
            "chips": CHIPS,
        },
        format="json",
    )
    if r.status_code == 201:
        got = w.op_a.post(
            f"/api/v1/transfers/{r.json()['id']}/receive/",
            {
                "received_at": iso(now() - timedelta(days=19) + timedelta(hours=1)),
                "facility": "US-CA-001",
                "chips": CHIPS,
            },
            format="json",
        )
        assert got.status_code == 200, got.content
    else:
        assert r.status_code in (400, 409), r.content
    _settle()
    # The ten days of training done in c-east-1 (15 to 5 days ago), reported now at US-VA-001 where it was done.
    end = now() - timedelta(days=5)
    _work(w, end - timedelta(days=10), end)
    assert _cluster_window() >= WORK
