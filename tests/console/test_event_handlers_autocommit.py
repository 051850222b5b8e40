"""The console's outbox handlers, run as a Celery worker runs them: outside any transaction (autocommit).

Eager in the tests, the relay runs a handler inside its own transaction, which hides code that only works in one
(06f108f). Here the placements' event is committed but held back from the relay (tests.handed_over), and the
tasks' functions are called as a worker runs them, in autocommit: the batch marks the facility's snapshot stale,
and the recomputation it queues (called here, as the worker that takes it would) answers it.
"""

import pytest
from django.db import connection

from console.models import ReconciliationItem, ReconciliationSnapshot
from console.tasks import reconciliation_event, reconciliation_events, refresh_reconciliation
from registry.registration import register_chips
from tests.compliance.test_evaluation import chips, declare, facility
from tests.handed_over import held_back

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_facilitys_books_moving_mark_and_recompute_its_snapshot_outside_any_transaction(catalog, parties):
    op = parties.users["op_a_admin"]
    fac = facility(op, "RC-AUTO-1")
    ids, rows = chips("RCA", 3)
    register_chips(rows, op)
    declare(op, fac, ids[:2])
    refresh_reconciliation(fac.pk)
    snapshot = ReconciliationSnapshot.objects.filter(facility=fac)
    assert snapshot.get().current and snapshot.get().book_count == 2
    with held_back() as held:
        declare(op, fac, ids)  # the third chip placed here
    events = held.for_(reconciliation_events)
    assert [topic for _, topic, _ in events] == ["placements.changed"]
    assert all(fac.pk in payload["facilities"] for _, _, payload in events)
    wanted = snapshot.get().wanted
    assert connection.get_autocommit()
    reconciliation_events(events)
    assert snapshot.get().wanted == wanted + 1 and not snapshot.get().current
    assert refresh_reconciliation(fac.pk) is None  # the task returns nothing; its effect is the stored answer
    answered = snapshot.get()
    assert answered.current and answered.computed == wanted + 1 and answered.book_count == 3
    assert answered.discrepancy_count == ReconciliationItem.objects.filter(snapshot=answered).count()
    # Delivered again (and through the single-event task of messages queued before batches): one more
    # computation, to the same answer.
    reconciliation_event(*events[0])
    assert snapshot.get().wanted == wanted + 2
    refresh_reconciliation(fac.pk)
    again = snapshot.get()
    assert again.current and (again.book_count, again.discrepancy_count) == (3, answered.discrepancy_count)
    refresh_reconciliation(fac.pk)  # current: nothing to do
    assert snapshot.get().computed_at == again.computed_at


def test_a_computation_that_fails_releases_its_claim_so_that_its_retry_computes(catalog, parties, monkeypatch):
    """refresh commits its claim on the snapshot before it computes, in autocommit: a computation that fails (a
    dropped connection, which the task retries) must not leave it standing, or the retry finds the snapshot
    "under way" and returns, stale for STUCK (15 minutes)."""
    from django.db import OperationalError

    from console import reconciliation

    op = parties.users["op_a_admin"]
    fac = facility(op, "RC-AUTO-2")
    ids, rows = chips("RCB", 2)
    register_chips(rows, op)
    declare(op, fac, ids)
    reconciliation.mark_stale([fac.pk])
    snapshot = ReconciliationSnapshot.objects.filter(facility=fac)
    assert not snapshot.get().current
    reconcile = reconciliation.reconcile
    failures = []

    def dropped_once(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise OperationalError("server closed the connection unexpectedly")
        return reconcile(*args, **kwargs)

    monkeypatch.setattr(reconciliation, "reconcile", dropped_once)
    assert connection.get_autocommit()
    with pytest.raises(OperationalError):
        reconciliation.refresh(fac.pk)
    assert not snapshot.get().current and snapshot.get().started_at is None  # its claim released
    assert reconciliation.refresh(fac.pk) is True  # the retry computes
    assert snapshot.get().current and snapshot.get().book_count == 2
