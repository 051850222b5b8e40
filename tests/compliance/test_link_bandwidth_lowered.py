"""A link's bandwidth is not lowered in place (hostile review, session 14).

Before: op-a trained 16 H100s, 8 at each of two sites joined by a 100 Gbit/s link, then PATCHed the link to
10 Gbit/s before filing: windows read the links in force at any time in them, but each at its bandwidth now, so
the work was parted (each half under the 1e22 line) although retiring the link before filing parts nothing. Now a
lower bandwidth is refused (409 `bandwidth_lowered`): the link is retired and declared again, and the retired
declaration keeps joining the sites in the windows it was in force in.
"""

from datetime import timedelta

import pytest

from inventory.models import NetworkLink
from outbox.relay import drain_all
from tests.attestations.conftest import now
from tests.compliance.test_counting_review import (  # noqa: F401  (fixtures)
    H100_DAY_HIGHER,
    _west_and_east,
    rows,
    send,
    serials,
    unexplained,
    world,
)
from tests.compliance.test_covered_clusters import link


def test_a_link_is_not_slowed_in_place_and_its_retired_speed_still_joins_the_work(world, api, parties):  # noqa: F811
    a, wan = _west_and_east(api, parties, linked=True)
    response = a.patch(f"/api/v1/links/{wan['id']}/", {"bandwidth_gbps": 10})
    assert response.status_code == 409 and response.json()["code"] == "bandwidth_lowered", response.content
    assert NetworkLink.objects.get(pk=wan["id"]).bandwidth_gbps == 100
    # Raising it is still a PATCH.
    assert a.patch(f"/api/v1/links/{wan['id']}/", {"bandwidth_gbps": 200}).status_code == 200
    # The way down: retire it and declare it again, slower, before filing the work done over it.
    assert a.post(f"/api/v1/links/{wan['id']}/retire/").status_code == 200
    link(a, "wan-1", {"facility": "WEST-1"}, {"facility": "EAST-1"}, 10)
    drain_all()
    end = now() - timedelta(minutes=5)
    for first, code in ((0, "WEST-1"), (8, "EAST-1")):
        send(world, world.usage(rows(serials(first, 8), 5), end - timedelta(days=5), end, facility=code))
    alerts = unexplained().filter(rule__key="treaty-unexplained-compute-covered-cluster", cleared_at=None)
    assert alerts.exists(), "the work done over a 200 Gbit/s link was parted by declaring it slower before filing"
    assert alerts.get().value == pytest.approx(16 * 5 * H100_DAY_HIGHER, rel=1e-9)
