"""Background work run twice, concurrently, or after a crash between its commit and what followed it.

Celery delivers at least once and the relay may hand an event over twice; a worker may die right after
its transaction commits. These tests call the handlers directly, again and side by side, and check that
nothing is logged, raised or sent twice and that nothing done is lost.
"""

import threading

import pytest
from django.db import connections

from compliance.evaluation import evaluate_all
from compliance.models import Alert, Delivery, Subscription
from outbox.relay import drain_all
from registry.registration import register_chips
from tests.compliance.test_evaluation import chips, declare, facility, rule
from transparency.models import LogEventData


@pytest.fixture
def op(parties):
    return parties.users["op_a_admin"]


def _subscribe(parties):
    return Subscription.objects.create(
        organisation=parties.users["treaty"].organisation, min_severity="low", email="duty@treaty.example"
    )


def _raised_events(alert):
    return LogEventData.objects.filter(event="alert.raised", object_id=f"alert:{alert.pk}").count()


def test_an_alert_raised_by_a_worker_that_died_after_its_commit_is_still_delivered(parties, op, mailoutbox):
    """The alert's transaction commits, then the worker dies before its after-commit hooks run (here: a test
    transaction, whose on_commit callbacks never run). The redelivered evaluation finds the alert raised and
    raises nothing; the subscriber must still hear of it, once."""
    sub = _subscribe(parties)
    fac = facility(op, "LOST-NOTE-1")
    ids, rows = chips("LNT", 3)
    register_chips(rows, op)
    declare(op, fac, ids)
    rule(parties.users["treaty"], "lost-note", value=2)
    [alert] = evaluate_all()  # the task: the alert committed, its after-commit hooks lost with the worker
    assert evaluate_all() == []  # the redelivered task: nothing raised again
    drain_all()  # the periodic relay
    drain_all()
    assert Delivery.objects.filter(alert=alert, subscription=sub, event="alert.raised").count() == 1
    assert len(mailoutbox) == 1
    assert _raised_events(alert) == 1


@pytest.mark.django_db(transaction=True)
def test_a_notification_handed_over_twice_side_by_side_is_queued_once(parties, mailoutbox):
    from compliance.delivery.tasks import notify_events

    op = parties.users["op_a_admin"]
    sub = _subscribe(parties)
    fac = facility(op, "TWICE-NOTE-1")
    ids, rows = chips("TWN", 3)
    register_chips(rows, op)
    declare(op, fac, ids)
    rule(parties.users["treaty"], "twice-note", value=2)
    drain_all()
    [alert] = Alert.objects.filter(kind="threshold")
    assert Delivery.objects.filter(alert=alert, subscription=sub).count() == 1
    event = [[0, "alerts.notify", {"alerts": [[alert.pk, 0]], "event": "alert.raised"}]]
    barrier, errors = threading.Barrier(4), []

    def run():
        try:
            barrier.wait()
            notify_events(event)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert Delivery.objects.filter(alert=alert, subscription=sub).count() == 1
    assert len(mailoutbox) == 1


@pytest.mark.django_db(transaction=True)
def test_a_recount_handed_over_several_times_side_by_side_moves_the_totals_once(catalog, api, parties):
    """`chips.model_corrected` redelivered while its first task still runs, and a `catalog.corrected` of the
    same model at once: the daily totals and the run's move by the difference exactly once."""
    from attestations.models import UsageRecord
    from attestations.recount import recount_chips, recount_model
    from registry.models import AcceleratorModel, Chip
    from runs.models import RunUsageDay
    from tests.attestations.conftest import World
    from tests.compliance.test_model_correction_recounts_usage import _assert_days_match_records, _report
    from tests.factories import chip_rows
    from tests.runs.test_usage import declare_earlier

    world = World(api, parties)
    register_chips(chip_rows("L", 4, model="nvidia-h20"), parties.users["op_a_admin"])
    drain_all()
    run = declare_earlier(parties)
    _report(world, seconds=7200, run=run.code)
    before = sum(u.flop_peak for u in UsageRecord.objects.all())
    h100 = AcceleratorModel.objects.get(slug="nvidia-h100-sxm5-80gb")
    pks = list(Chip.objects.filter(serial__startswith="L").values_list("pk", flat=True))
    Chip.objects.filter(pk__in=pks).update(model=h100)  # the correction, its event handed over below
    barrier, errors = threading.Barrier(4), []

    def run_one(work):
        try:
            barrier.wait()
            work()
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    works = [lambda: recount_chips(pks)] * 3 + [lambda: recount_model(h100.pk)]
    threads = [threading.Thread(target=run_one, args=(w,)) for w in works]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    after = sum(u.flop_peak for u in UsageRecord.objects.all())
    assert after > before * 5
    assert RunUsageDay.objects.get(run=run).flop_peak == pytest.approx(after)
    _assert_days_match_records()
    assert recount_chips(pks) == 0


@pytest.mark.django_db(transaction=True)
def test_a_slow_evaluation_never_stores_older_totals_over_a_newer_ones(catalog, parties, monkeypatch):
    """Two workers evaluate one facility: the first reads its totals, then stalls (a long evaluation elsewhere,
    a paused process); chips arrive and the second evaluates them. The first must not store its older totals
    over the second's, nor decide alerts from them, until the next evaluation of that subject."""
    from compliance import aggregates
    from compliance.evaluation import evaluate
    from compliance.models import Aggregate

    op = parties.users["op_a_admin"]
    fac = facility(op, "SLOW-EVAL-1")
    ids, rows = chips("SLW", 8)
    register_chips(rows, op)
    declare(op, fac, ids[:4])
    drain_all()
    rule(parties.users["treaty"], "slow-eval", value=6)
    subjects = {"facility": [str(fac.pk)]}
    computed, resume = threading.Event(), threading.Event()
    real = aggregates.compute

    def stalling(scope, keys, memo=None):
        totals = real(scope, keys, memo)
        if threading.current_thread().name == "first":
            computed.set()
            resume.wait(10)
        return totals

    monkeypatch.setattr(aggregates, "compute", stalling)
    errors = []

    def run():
        try:
            evaluate(subjects)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    first = threading.Thread(target=run, name="first")
    first.start()
    assert computed.wait(10)
    declare(op, fac, ids)  # all eight, committed while the first evaluation holds its four
    second = threading.Thread(target=run, name="second")
    second.start()
    second.join(1.0)  # long enough for it to finish, were it not made to wait its turn
    resume.set()
    first.join(10)
    second.join(10)
    assert not errors, errors
    assert Aggregate.objects.get(scope="facility", subject_key=str(fac.pk)).chip_count == 8
    (alert,) = Alert.objects.filter(rule__key="slow-eval", subject_key=str(fac.pk))
    assert alert.cleared_at is None


def _turn_free_elsewhere(scope):
    """Whether another session may take `scope`'s evaluation turn now."""
    from django.db import connection

    other = connection.copy()
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(hashtext('chipreg:evaluate:' || %s))", [scope])
            free = cursor.fetchone()[0]
            cursor.execute("SELECT pg_advisory_unlock_all()")
        return free
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_an_evaluation_failing_inside_an_outer_transaction_leaves_no_turn_held():
    """In eager mode (no broker) the relay runs an evaluation inside its own transaction. A statement failing
    there aborts that transaction, so a session lock's release failed too: the lock outlived the rollback on a
    pooled connection, and every other worker's evaluation of that scope waited on it for ever. (And released
    before the outer commit, the turn let the next evaluation read totals not yet committed.)"""
    from django.db import DatabaseError, connection, transaction

    from compliance import storage
    from core.rawsql import execute

    try:
        with pytest.raises(DatabaseError), transaction.atomic():
            with storage.evaluation_turn("facility"):
                assert not _turn_free_elsewhere("facility")
                execute("SELECT 1 / 0")
        assert _turn_free_elsewhere("facility")
        with transaction.atomic():
            with storage.evaluation_turn("facility"):
                pass
            # Held to the outer commit: the next evaluation reads what this one stored.
            assert not _turn_free_elsewhere("facility")
        assert _turn_free_elsewhere("facility")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_all()")


@pytest.mark.django_db(transaction=True)
def test_an_evaluation_whose_connection_is_lost_raises_its_own_error_and_leaves_no_turn_held():
    """A worker runs an evaluation in autocommit, holding its turn as a session lock. Its connection lost (the
    server restarted, the backend killed), the release failed too and its error replaced the evaluation's: the
    task's logs and retry saw "connection closed", not why the evaluation failed."""
    from django.db import connection

    from compliance import storage
    from tests.connections import second_connection

    class EvaluationFailed(Exception):
        pass

    with pytest.raises(EvaluationFailed):
        with storage.evaluation_turn("facility"):
            assert not _turn_free_elsewhere("facility")
            pid = connection.connection.info.backend_pid
            with second_connection(autocommit=True) as killer:
                killer.execute("SELECT pg_terminate_backend(%s)", [pid])
            raise EvaluationFailed
    assert connection.connection is None  # closed: whatever it held, the server let go with the session
    assert _turn_free_elsewhere("facility")
