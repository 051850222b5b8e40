"""Outbox events committed but not handed over yet (what a worker's handler task is given), or refused.

In the tests Celery runs eagerly, so the relay that a commit asks for runs each handler at once, inside the
relay's own transaction. A worker runs it later, in autocommit. `held_back()` lets a test commit its changes
with their outbox events while no relay hands them over (marked dispatched in the same transaction, as the
relay marks what it queued), and gives the test, for a handler task, the [event_id, topic, payload] lists the
relay would have handed it, to call the task's function with itself, outside any transaction.
"""

from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from outbox.models import OutboxEvent
from outbox.relay import HANDLERS


class Held(list):
    """The [event_id, topic, payload] of the events the block committed, in order."""

    def for_(self, task):
        """Those the relay hands to `task` (subscribed to their topic)."""
        return [e for e in self if any(t.name == task.name for t, _ in HANDLERS.get(e[1], []))]


@contextmanager
def held_back():
    held = Held()
    with transaction.atomic():
        last = OutboxEvent.objects.aggregate(last=Max("id"))["last"] or 0
        yield held
        events = OutboxEvent.objects.filter(pk__gt=last, dispatched_at__isnull=True).order_by("id")
        held += [[e.pk, e.topic, e.payload] for e in events]
        events.update(dispatched_at=timezone.now())


@contextmanager
def refusing(model=OutboxEvent):
    """The database refuses every new row of `model` (a trigger raises) until the block ends: by default the
    outbox's, a failure after a task stored what it found and before it could announce it, as a lost
    connection or a killed worker would leave it. For tests run outside the test's transaction. (Not a
    constraint: an IntegrityError is what some writers expect of a race, and take as "already there".)"""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
        )
        cursor.execute(f"CREATE TRIGGER test_refusing BEFORE INSERT ON {table} EXECUTE FUNCTION test_refuse()")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER test_refusing ON {table}")
            cursor.execute("DROP FUNCTION test_refuse()")
