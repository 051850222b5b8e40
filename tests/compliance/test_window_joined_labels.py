"""Who sees a covered chip cluster's unexplained-compute alert when its window joins sites the ties no longer
join (hostile review of facilities and links, r3).

A usage window joins the sites tied at any time in it (a link retired before filing parts nothing), but the
alert took its label, country and operator from the component as the ties stand now. op-a's US and French sites,
linked at 100 Gbit/s, trained together; op-a retired the link and filed: the alert on the work of both countries
was labelled with the US site alone and given to the US inspectorate, its value and evidence (the French
statements and chips) with it. A set spanning two countries is the treaty body's alone, whenever it was joined.
"""

from datetime import timedelta

from compliance.models import Alert
from outbox.relay import drain_all
from tests.attestations.conftest import now
from tests.compliance.test_counting_review import (  # noqa: F401  (fixtures)
    rows,
    send,
    serials,
    unexplained,
    world,
)
from tests.compliance.test_covered_clusters import WEST, declare, link, site

PARIS = (48.8566, 2.3522)


def test_work_joined_across_a_border_by_a_retired_link_is_not_one_countrys_alert(world, api, parties):  # noqa: F811
    a = api(parties.users["op_a_admin"])
    site(a, "WEST-1", WEST)
    site(a, "PAR-1", PARIS, country="FR")
    declare(a, "WEST-1", serials(0, 8))
    declare(a, "PAR-1", serials(8, 8))
    wan = link(a, "wan-1", {"facility": "WEST-1"}, {"facility": "PAR-1"}, 100)
    drain_all()
    assert a.post(f"/api/v1/links/{wan['id']}/retire/", {}).status_code == 200
    drain_all()
    end = now() - timedelta(minutes=5)
    for first, code in ((0, "WEST-1"), (8, "PAR-1")):
        send(world, world.usage(rows(serials(first, 8), 5), end - timedelta(days=5), end, facility=code))
    alert = unexplained().get(rule__key="treaty-unexplained-compute-covered-cluster")
    assert alert.country == "", alert.subject_label
    assert "PAR-1" in alert.subject_label and "WEST-1" in alert.subject_label
    us = api(parties.users["insp_us"])
    assert us.get(f"/api/v1/alerts/{alert.pk}/").status_code == 404
    assert not Alert.objects.restrict(parties.users["insp_us"]).filter(pk=alert.pk).exists()
