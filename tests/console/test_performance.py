"""Pages read stored aggregates and pages of rows: their query counts are bounded and
do not grow with the number of chips, placements or statements."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

CHIP = "/chips/nvidia:1653824019000/"

# (url, user, most queries allowed): session and user lookups included.
BOUNDS = [
    ("/", "treaty", 14),
    ("/", "operator", 14),
    ("/map/", "treaty", 7),
    ("/facilities/", "inspector", 8),
    # 20, and the covered clusters it is in: the declared links and groups, the campuses, the clusters, the
    # stored totals (compliance.covered): one query each, however many there are; and one sum per compute
    # window a rule in force measures (the facility's and its clusters' unattributed compute): per rule,
    # never per chip, record or cluster; 4 for the covered cluster's unattributed compute (its ties and
    # campuses read again to find its facilities, and its sum); and one per compute window for the statements
    # filed late in it (compliance.late_windows).
    ("/facilities/US-VA-001/", "inspector", 31),
    ("/facilities/US-VA-001/?after=1", "inspector", 31),
    # The stored balance (console.reconciliation): the warm-up request computed it.
    ("/facilities/US-VA-001/reconciliation/?fragment=1", "inspector", 12),
    ("/facilities/US-VA-001/reconciliation/", "inspector", 12),
    ("/facilities/US-VA-001/reconciliation/?after=1", "inspector", 12),
    (CHIP, "inspector", 16),
    ("/alerts/", "treaty", 6),
    ("/alerts/?state=open&severity=high", "treaty", 6),
    ("/inspections/", "inspector", 6),
    ("/submissions/", "operator", 7),
    ("/keys/", "operator", 6),
    ("/search/?q=1653824019000", "inspector", 6),
    ("/runs/", "operator", 6),
    ("/runs/?state=under_review", "inspector", 6),
    ("/runs/review/", "treaty", 5),
]


@pytest.mark.parametrize(("url", "user", "bound"), BOUNDS)
def test_query_counts_are_bounded(login, django_assert_max_num_queries, url, user, bound):
    c = login(user)
    c.get(url)  # warm: a first chip page may sign a checkpoint
    with django_assert_max_num_queries(bound):
        response = c.get(url)
    assert response.status_code in (200, 302)


def test_alert_detail_is_bounded(login, django_assert_max_num_queries):
    from tests.console.helpers import alert_for

    c = login("treaty")
    # 8, and 3 for what was answered and asked about it: its answers, their attachments, its requests (issue 17).
    with django_assert_max_num_queries(11):
        assert c.get(f"/alerts/{alert_for('Covered chip cluster').pk}/").status_code == 200


def test_run_page_is_bounded(login, django_assert_max_num_queries):
    """A run's page reads its stored daily totals and a page of its chips, whatever the run's size."""
    from runs.models import Run

    c = login("inspector")
    url = f"/runs/{Run.objects.get(model_name='demo-atlas-2').code}/"
    c.get(url)
    with django_assert_max_num_queries(11):
        assert c.get(url).status_code == 200


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
        if response.streaming:
            b"".join(response.streaming_content)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


def test_query_counts_do_not_grow_with_data(login, demo):
    """Add 300 chips to Ashburn and a week of usage for 100 more; no page issues more queries."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from demo.world import Demo
    from inventory.chiprefs import parse_listing
    from inventory.models import Facility
    from inventory.services.listings import record_declaration
    from outbox.relay import drain_all
    from registry.registration import register_chips
    from runs.models import Run
    from tests.factories import chip_rows

    run = f"/runs/{Run.objects.get(model_name='demo-atlas-2').code}/"
    urls = ["/", "/map/", "/facilities/", "/facilities/US-VA-001/", CHIP, "/alerts/", "/submissions/", "/runs/", run]
    c = login("operator")
    for url in urls:
        c.get(url)
    before = {url: _count(c, url) for url in urls}

    operator = demo.users["operator"]
    register_chips(chip_rows("SCALE", 300), operator)
    facility = Facility.objects.get(code="US-VA-001")
    existing = [(i, f"nvidia:1653824019{i:03d}", "va-train-1") for i in range(40)]
    extra = [(41 + i, f"nvidia:SCALE{i:06d}", "va-train-1") for i in range(300)]
    entries = [{"chip": chip, "cluster": cluster} for _, chip, cluster in existing + extra]
    record_declaration(
        operator, facility, timezone.now() - timedelta(hours=1), parse_listing(entries, settings.CHIPREG_BULK_MAX_ROWS)
    )
    drain_all()
    Demo().run()  # idempotent: nothing new from the demo itself

    after = {url: _count(c, url) for url in urls}
    assert after == before
