"""A background task whose statement runs past the database's statement_timeout is not retried (core.tasks).

Event tasks retry what fails for a moment (a dropped connection, a lost deadlock: tests/faults/test_task_retry.py).
A statement timeout came as the same OperationalError, so it was retried five times, with growing pauses: the same
work on the same rows runs as long again, holding a worker and the database five times as long for nothing. It
fails once now, as `StatementTimedOut`, which no retry rule matches; a dropped connection is retried as before.
"""

import pytest
from celery.exceptions import Retry
from django.db import OperationalError, connection, transaction

from core.tasks import TRANSIENT, StatementTimedOut, event_task

calls = []


@event_task()
def runs_past_its_timeout():
    calls.append("timeout")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = '20ms'")
        cursor.execute("SELECT pg_sleep(2)")


@event_task()
def loses_its_connection():
    calls.append("dropped")
    raise OperationalError("server closed the connection unexpectedly")


def _outcome(task):
    try:
        result = task.apply()
    except Exception as exc:  # eager tasks may propagate
        return exc
    return result.result


@pytest.mark.django_db
def test_a_statement_timeout_fails_once_and_is_not_retried():
    calls.clear()
    outcome = _outcome(runs_past_its_timeout)
    # Run in process, a retry is asked for with Celery's Retry; this one is not asked for.
    assert isinstance(outcome, StatementTimedOut) and not isinstance(outcome, (Retry, *TRANSIENT)), outcome
    assert "statement timeout" in str(outcome)
    assert calls == ["timeout"]


@pytest.mark.django_db
def test_a_dropped_connection_is_still_retried():
    calls.clear()
    outcome = _outcome(loses_its_connection)
    assert isinstance(outcome, Retry) and isinstance(outcome.exc, OperationalError), outcome
