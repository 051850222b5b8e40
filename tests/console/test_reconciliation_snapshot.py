"""Stored reconciliation snapshots (console.reconciliation): the page reads the stored balance,
which equals inventory's reconcile(), goes stale when a listing, a transfer or the book changes,
and is recomputed; the CSV download stays complete."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from tests.console.helpers import parse_csv, text

VA = "US-VA-001"


def facility(code=VA):
    from inventory.models import Facility

    return Facility.objects.select_related("operator").get(code=code)


def snapshot(code=VA):
    from console.models import ReconciliationSnapshot

    return ReconciliationSnapshot.objects.filter(facility__code=code).first()


def as_set(discrepancies):
    return {
        (str(d.kind), d.chip_ref, str(d.source), str(d.source_id), d.book_cluster or "", d.listed_cluster or "")
        for d in discrepancies
    }


def test_the_stored_balance_is_reconcile(login):
    from inventory.services.reconciliation import reconcile

    c = login("inspector")
    page = text(c.get(f"/facilities/{VA}/reconciliation/?fragment=1"))
    snap = snapshot()
    assert snap is not None and snap.current
    live = reconcile(facility(), timezone.now())
    assert snap.book_count == live.book_count == 40
    assert as_set(snap.items.all()) == as_set(live.discrepancies)
    assert snap.discrepancy_count == len(live.discrepancies) > 0
    assert "nvidia:1653824019030" in page and "Stored balance, computed" in page
    assert snap.sources["inspection"]["unaccounted"] == 2 and snap.sources["inspection"]["unknown_chip"] == 1


def test_csv_is_every_stored_discrepancy_and_live_csv_is_reconcile(login):
    from inventory.services.reconciliation import reconcile

    c = login("treaty")
    rows = parse_csv(c.get(f"/facilities/{VA}/reconciliation/?format=csv"))
    assert rows[0] == ["kind", "chip", "source", "source_id", "book_cluster", "listed_cluster"]
    live = reconcile(facility(), timezone.now())
    assert {tuple(r) for r in rows[1:]} == as_set(live.discrepancies)
    live_rows = parse_csv(c.get(f"/facilities/{VA}/reconciliation/?format=csv&live=1"))
    assert {tuple(r) for r in live_rows[1:]} == as_set(live.discrepancies)


def test_the_page_shows_a_bounded_page_of_discrepancies(login, monkeypatch):
    import console.views.facilities as views

    monkeypatch.setattr(views, "RECON_SHOWN", 1)
    c = login("inspector")
    c.get(f"/facilities/{VA}/reconciliation/")  # computes the snapshot
    total = snapshot().discrepancy_count
    assert total == 4
    fragment = text(c.get(f"/facilities/{VA}/reconciliation/?fragment=1"))
    assert f"and {total - 1} more" in fragment
    seen, url, pages = [], f"/facilities/{VA}/reconciliation/", 0
    ids = list(snapshot().items.order_by("id").values_list("id", "chip_ref"))
    while url:
        page = text(c.get(url))
        pages += 1
        seen += [ref for pk, ref in ids if f">{ref}<" in page]
        found = re.search(r'href="\?after=(\d+)"', page)
        url = f"/facilities/{VA}/reconciliation/?after={found.group(1)}" if found else None
    assert pages == total
    assert {ref for _, ref in ids} <= set(seen)


def test_an_inspection_marks_the_snapshot_stale_and_the_next_view_recomputes(
    login, demo, django_capture_on_commit_callbacks
):
    from inventory.chiprefs import parse_csv_listing
    from inventory.services.listings import record_inspection

    c = login("inspector")
    c.get(f"/facilities/{VA}/reconciliation/?fragment=1")
    before = snapshot()
    assert before.current
    listing = "chip,cluster\n" + "".join(f"nvidia:16538240190{i:02d},va-train-1\n" for i in range(32))
    with django_capture_on_commit_callbacks(execute=True):
        inspection, _ = record_inspection(
            demo.users["inspector"],
            facility(),
            timezone.now() - timedelta(minutes=5),
            parse_csv_listing(listing.encode(), settings.CHIPREG_BULK_MAX_ROWS),
        )
    stale = snapshot()
    assert stale.wanted > stale.computed  # marked once the inspection committed
    page = text(c.get(f"/facilities/{VA}/reconciliation/?fragment=1"))
    after = snapshot()
    assert after.current and after.computed > before.computed
    assert after.sources["inspection"]["id"] == str(inspection.pk)
    assert after.sources["inspection"]["unaccounted"] == 8  # the 8 inference chips were not listed
    assert f"#{inspection.pk}" in page


def test_a_book_change_marks_the_snapshot_stale(login, demo):
    """Chips leaving the facility (outbox placements.changed) change the book count."""
    from inventory.chiprefs import parse_listing
    from inventory.services.transfers import ship
    from outbox.relay import drain_all

    c = login("operator")
    c.get(f"/facilities/{VA}/reconciliation/?fragment=1")
    assert snapshot().book_count == 40
    operator = demo.users["operator"]
    rows = parse_listing(["nvidia:1653824019000", "nvidia:1653824019001"], settings.CHIPREG_BULK_MAX_ROWS)
    ship(operator, rows, operator.organisation, timezone.now() - timedelta(minutes=1), None, facility("US-TX-001"))
    drain_all()
    assert not snapshot().current
    assert not snapshot(code="US-TX-001") or not snapshot(code="US-TX-001").current
    c.get(f"/facilities/{VA}/reconciliation/?fragment=1")
    assert snapshot().current and snapshot().book_count == 38


def test_inputs_changed_without_a_mark_are_noticed(login):
    """A listing stored without the signal (say, by bulk SQL) still makes the page recompute."""
    from console.models import ReconciliationSnapshot

    c = login("inspector")
    c.get(f"/facilities/{VA}/reconciliation/?fragment=1")
    snap = snapshot()
    ReconciliationSnapshot.objects.filter(pk=snap.pk).update(inputs={**snap.inputs, "inspection": -1})
    c.get(f"/facilities/{VA}/reconciliation/?fragment=1")
    again = snapshot()
    assert again.computed > snap.computed and again.inputs == snap.inputs


def test_with_a_worker_the_page_never_computes(login, monkeypatch, settings):
    """Tasks not eager: the page enqueues and shows the stored balance, marked as being recomputed."""
    from console import tasks
    from console.models import ReconciliationSnapshot

    c = login("inspector")
    c.get(f"/facilities/{VA}/reconciliation/?fragment=1")
    snap = snapshot()
    ReconciliationSnapshot.objects.filter(pk=snap.pk).update(wanted=snap.wanted + 1)
    queued = []
    monkeypatch.setattr(tasks.refresh_reconciliation, "delay", lambda facility_id: queued.append(facility_id))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    page = text(c.get(f"/facilities/{VA}/reconciliation/?fragment=1"))
    assert queued == [snap.facility_id]
    assert "it is being recomputed" in page and "nvidia:1653824019030" in page
    assert snapshot().computed == snap.computed
    # The worker's task then answers it.
    tasks.refresh_reconciliation(snap.facility_id)
    assert snapshot().current


def test_a_finished_generation_is_not_recomputed(login):
    from console.reconciliation import refresh

    login("inspector").get(f"/facilities/{VA}/reconciliation/?fragment=1")
    snap = snapshot()
    assert refresh(snap.facility_id) is False
    assert snapshot().computed_at == snap.computed_at


@pytest.mark.parametrize("user", ["other-operator", "inspector-de"])
def test_hidden_facilities_have_no_reconciliation(login, user):
    c = login(user)
    for url in (
        f"/facilities/{VA}/reconciliation/",
        f"/facilities/{VA}/reconciliation/?fragment=1",
        f"/facilities/{VA}/reconciliation/?format=csv",
        f"/facilities/{VA}/reconciliation/?format=csv&live=1",
    ):
        assert c.get(url).status_code == 404, url


def test_before_the_first_snapshot_the_page_says_so_and_the_csv_computes_now(login, monkeypatch, settings):
    from console import tasks
    from inventory.services.reconciliation import reconcile

    queued = []
    monkeypatch.setattr(tasks.refresh_reconciliation, "delay", lambda facility_id: queued.append(facility_id))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    c = login("treaty")
    page = text(c.get(f"/facilities/{VA}/reconciliation/?fragment=1"))
    assert "has not been computed yet" in page
    assert snapshot(VA).at is None and queued
    rows = parse_csv(c.get(f"/facilities/{VA}/reconciliation/?format=csv"))
    assert {tuple(r) for r in rows[1:]} == as_set(reconcile(facility(VA), timezone.now()).discrepancies)
    assert len(rows) > 1
