"""Sightings and usage records live in monthly partitions."""

import threading
import time
from datetime import UTC, datetime

import pytest
from django.db import connection

from attestations.partitions import PARTITIONED, ensure_partitions
from tests.attestations.conftest import now
from tests.connections import second_connection


def partitions(table):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s ORDER BY 1",
            [table],
        )
        return [r[0] for r in cursor.fetchall()]


def drop_last_month_ahead():
    """Drop the partitions of the last month the task prepares (three ahead: empty in the tests), as a deployment
    whose task never ran would lack them. Their names, one per partitioned table."""
    from attestations.partitions import _month

    today = datetime.now(UTC)
    ahead = _month(today.year, today.month + 3)
    names = [f"{table}_y{ahead:%Y}m{ahead:%m}" for table in PARTITIONED]
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
    return names


def test_tables_are_partitioned_by_month(db):
    for table in PARTITIONED:
        names = partitions(table)
        assert f"{table}_default" in names
        assert f"{table}_y{now():%Y}m{now():%m}" in names


def test_statements_land_in_their_month_not_the_default(world):
    response, _ = world.submit(world.op_a, world.location(["nvidia:A000000", "nvidia:A000001"]))
    assert response.status_code == 201
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM attestations_sighting_default")
        assert cursor.fetchone()[0] == 0
        cursor.execute(f"SELECT count(*) FROM attestations_sighting_y{now():%Y}m{now():%m}")
        assert cursor.fetchone()[0] == 2


def test_ensure_partitions_is_idempotent_and_looks_ahead(db):
    later = datetime(2031, 5, 17, tzinfo=UTC)
    created = ensure_partitions(months_back=0, months_ahead=1, now=later)
    assert "attestations_sighting_y2031m05" in created and "attestations_usagerecord_y2031m06" in created
    assert ensure_partitions(months_back=0, months_ahead=1, now=later) == []


@pytest.mark.django_db(transaction=True)
def test_the_daily_task_creates_a_missing_month_outside_any_transaction():
    """The beat's task runs in autocommit, as a worker does: the partition it finds missing is created (it once
    asked for a savepoint there, which PostgreSQL refuses outside a transaction, and never created one)."""
    from attestations import tasks

    try:
        names = drop_last_month_ahead()
        assert not any(name in partitions(table) for table, name in zip(PARTITIONED, names, strict=True))
        assert connection.get_autocommit()
        tasks.ensure_partitions()
        for table, name in zip(PARTITIONED, names, strict=True):
            assert name in partitions(table)
    finally:
        ensure_partitions()


def test_a_new_month_waits_a_bounded_time_behind_a_running_statement(db, monkeypatch):
    """A new partition takes an ACCESS EXCLUSIVE lock on its table, queued behind a statement that read or wrote
    it (a million-chip one runs for seconds), and every statement after would queue behind it: the fleet stopped
    for as long as the big one runs. The task gives up after LOCK_TIMEOUT_MS and leaves the month for its next
    run; the statement queued meanwhile goes on while the big one still runs."""
    from attestations import partitions as P

    monkeypatch.setattr(P, "LOCK_TIMEOUT_MS", 300)
    table = next(iter(PARTITIONED))
    window = f"SELECT count(*) FROM {table} WHERE chip_id = 1 AND observed_at > now() - interval '1 day'"
    big, fleet = second_connection(), second_connection()
    released = threading.Event()
    ender = threading.Timer(0, lambda: None)
    try:
        big.execute(window).fetchone()  # its transaction open, holding the table's partitions

        def end_big():  # without a bound, the task would wait for it: it ends at 15 s
            released.set()
            big.rollback()

        ender = threading.Timer(15, end_big)
        ender.start()

        def statement_after():
            queued = f"SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = '{table}'::regclass"
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not fleet.execute(queued).fetchone()[0]:
                time.sleep(0.02)  # until the task's request waits, so that this one queues behind it
            fleet.execute(window).fetchone()
            fleet.rollback()
            finished.append(released.is_set())

        finished = []
        after = threading.Thread(target=statement_after)
        after.start()
        with connection.cursor() as cursor:
            cursor.execute("SHOW lock_timeout")
            (before,) = cursor.fetchone()
        far = datetime(2034, 3, 9, tzinfo=UTC)
        created = ensure_partitions(months_back=0, months_ahead=0, now=far)
        # Gave up on the table the big one holds (the other table's month was free to create).
        assert f"{table}_y2034m03" not in created and len(created) == len(PARTITIONED) - 1
        after.join(10)
        assert finished == [False]  # the statement after went on while the big one ran
        big.rollback()
        assert ensure_partitions(months_back=0, months_ahead=0, now=far) == [f"{table}_y2034m03"]
        with connection.cursor() as cursor:
            cursor.execute("SHOW lock_timeout")
            assert cursor.fetchone()[0] == before  # the caller's transaction keeps its own setting
    finally:
        ender.cancel()
        released.set()
        big.close()
        fleet.close()


def test_a_month_stored_in_default_is_moved_into_its_own_partition(db):
    """Rows of a month stored before its partition existed (the daily task never ran) are in DEFAULT, where they
    stop the month's partition from being created; `manage.py partitions --move-default` creates it and moves
    them, every row kept as it was and read as before."""
    from io import StringIO

    from django.core.management import call_command

    from attestations.models import Sighting

    when = datetime(2036, 1, 15, 12, tzinfo=UTC)
    row = Sighting.objects.create(
        chip_ref="nvidia:DEF000001", cluster_code="c-1", observed_at=when, attestation_id=1, chip_id=1, facility_id=1
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM attestations_sighting_default")
        assert cursor.fetchone()[0] == 1
    assert "attestations_sighting_y2036m01" not in ensure_partitions(months_back=0, months_ahead=0, now=when)
    out = StringIO()
    call_command("partitions", "--move-default", stdout=out)
    assert "attestations_sighting_y2036m01: 1 row moved out of DEFAULT" in out.getvalue()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM attestations_sighting_default")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT id, chip_ref, observed_at FROM attestations_sighting_y2036m01")
        assert cursor.fetchall() == [(row.pk, "nvidia:DEF000001", when)]
    assert Sighting.objects.get(pk=row.pk).chip_ref == "nvidia:DEF000001"
    assert "attestations_sighting_y2036m01" in partitions("attestations_sighting")
    assert ensure_partitions(months_back=0, months_ahead=0, now=when) == []  # both months there now
