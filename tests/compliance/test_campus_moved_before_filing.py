"""A facility moved out of its campus before the work done there is filed (hostile review of facilities and
campuses, r3).

Before: op-a trained 16 H100s for five days, 8 at each of two facilities 2 km apart (one campus, so one covered
chip cluster), then moved one of them 50 km away (a PATCH of its coordinates) and filed the statements: a usage
window joined the sites tied by links and groups in force at any time in it, but the campuses only as they stand
now, so the work was parted, each half under the 1e22 line, as retiring a link before filing no longer parts it.
Now the campus memberships in force at any time in the window join the sites as well.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from compliance.evaluation import compute_in_window, evaluate_all
from inventory.models import Facility
from outbox.relay import drain_all
from tests.attestations.conftest import now
from tests.compliance.test_counting_review import (  # noqa: F401  (fixtures)
    H100_DAY_HIGHER,
    rows,
    send,
    serials,
    unexplained,
    world,
)
from tests.compliance.test_covered_clusters import EAST, WEST, declare, site

NEAR = (WEST[0], WEST[1] + 0.023)  # about 2 km east of WEST: one campus


def test_a_facility_moved_out_of_its_campus_before_filing_still_joins_the_work_done_there(world, api, parties):  # noqa: F811
    a = api(parties.users["op_a_admin"])
    west, near = site(a, "WEST-1", WEST), site(a, "WEST-2", NEAR)
    assert near.campus_id is not None and near.campus_id == Facility.objects.get(pk=west.pk).campus_id
    declare(a, "WEST-1", serials(0, 8))
    declare(a, "WEST-2", serials(8, 8))
    drain_all()
    # The work done, op-a "moves" WEST-2 50 km away: the campus dissolves, and then the statements come.
    response = a.patch("/api/v1/facilities/WEST-2/", {"latitude": EAST[0], "longitude": EAST[1]})
    assert response.status_code == 200, response.content
    assert response.json()["campus"] is None
    drain_all()
    end = now() - timedelta(minutes=5)
    for first, code in ((0, "WEST-1"), (8, "WEST-2")):
        send(world, world.usage(rows(serials(first, 8), 5), end - timedelta(days=5), end, facility=code))
    per_facility = 8 * 5 * H100_DAY_HIGHER
    assert per_facility < 1e22 < 2 * per_facility
    alerts = unexplained().filter(rule__key="treaty-unexplained-compute-covered-cluster", cleared_at=None)
    assert alerts.exists(), "the work of one campus was parted by moving a facility away before filing"
    alert = alerts.get()
    assert alert.value == pytest.approx(2 * per_facility, rel=1e-9)
    value = compute_in_window(alert.rule, "covered_cluster", alert.subject_key, timezone.now())
    assert value == pytest.approx(alert.value, rel=1e-9)
    evaluate_all()
    alert.refresh_from_db()
    assert alert.cleared_at is None
    # Once the work has left the window, and the facility left the campus before it opened, nothing is left.
    evaluate_all(now=timezone.now() + timedelta(days=31))
    alert.refresh_from_db()
    assert alert.cleared_at is not None
