"""Hostile review (backdating): a later holder's location statements dated into the former holder's time.

The world of test_review_later_holder: op-a had the 20 chips at US-CA-001 from 28 days ago and in c-east-1 at
US-VA-001 from 20 days ago, shipped them 4 days ago; op-c received them at its US-NY-001 3 days ago. op-c signs,
today, statements observed 10 days ago (a location statement's `observed_at` has no lower bound), partial (in a
cluster of its own) and complete. The books of op-a's time do not move: placements change only from a chip's open
placement on, and op-c's began at its receipt (a statement dated before it is `superseded`), so op-a's
placements keep their dates and op-c's chips are not placed at US-NY-001 before they arrived there. Sound on the
code reviewed; kept as a regression test.
"""

from datetime import timedelta

from compliance.choices import Scope
from compliance.evaluation import compute_in_window, evaluate_all
from compliance.models import ThresholdRule
from inventory.models import Cluster, Placement
from outbox.relay import drain_all
from tests.attestations.conftest import now
from tests.compliance.test_review_later_holder import CHIPS, world  # noqa: F401  (the fixture)


def _books():
    return sorted(
        Placement.objects.filter(chip__serial__in=[c.split(":")[1] for c in CHIPS]).values_list(
            "chip_id", "facility__code", "cluster__code", "valid_from", "valid_to"
        )
    )


def test_a_later_holders_statements_dated_into_the_former_holders_time_rewrite_none_of_its_books(world):  # noqa: F811
    assert world.op_c.post("/api/v1/clusters/", {"code": "c-ny-1", "facility": "US-NY-001"}).status_code == 201
    before = _books()
    back = now() - timedelta(days=10)
    for scope, chips in (
        ("partial", [{"chip": c, "cluster": "c-ny-1"} for c in CHIPS]),
        ("complete", [{"chip": c, "cluster": "c-ny-1"} for c in CHIPS]),
    ):
        statement = world.location(chips, facility="US-NY-001", operator="op-c", scope=scope, observed=back)
        r, _ = world.submit(world.op_c, statement, world.key_c)
        assert r.status_code == 201, r.content
    drain_all()
    evaluate_all()
    assert _books() == before
    # op-c's chips are at US-NY-001 from their receipt only; op-a's cluster keeps them until they shipped.
    arrived = Placement.objects.filter(facility__code="US-NY-001")
    assert min(p.valid_from for p in arrived) > now() - timedelta(days=3, minutes=5)
    east = Cluster.objects.get(code="c-east-1")
    assert east.placements.filter(valid_to__gt=now() - timedelta(days=5)).count() == len(CHIPS)
    rule = ThresholdRule.objects.get(key="treaty-unexplained-compute-cluster")
    assert compute_in_window(rule, Scope.CLUSTER, str(Cluster.objects.get(code="c-ny-1").pk), now()) == 0
