"""The one way apps declare background work that follows an outbox event or a schedule.

`event_task` is Celery's shared_task with the registry's delivery rules:
- acknowledged late, and given back when its worker dies, so a killed worker's message runs again;
- retried, with growing pauses, when the database or the broker failed under it (a restart, a failover, a
  deadlock or serialisation failure it lost): otherwise such a failure would drop the event's work until the
  next periodic sweep, and some work (a case following its challenge, a recount) has no sweep.
Every such task is idempotent (tests/compliance/test_background_idempotency.py), so running it again is safe.
A failure that is no accident of the moment (a bug, a refused row) is not retried: it would fail the same way.
Nor is a statement that ran past the database's `statement_timeout`: the same work on the same rows runs as long
again, so five retries only held a worker and the database five times as long (`StatementTimedOut`, logged).
"""

import functools

from celery import shared_task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError
from psycopg import errors as pg_errors

TRANSIENT = (OperationalError, InterfaceError, BrokerError)
MAX_RETRIES = 5
OPTIONS = {
    "ignore_result": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": 2,  # seconds before the first retry, doubled each time (with jitter)
    "retry_backoff_max": 120,
    "max_retries": MAX_RETRIES,
}


class StatementTimedOut(RuntimeError):
    """A task's statement ran past `statement_timeout`: no accident of the moment, so not one to retry."""


def _timed_out(exc):
    return isinstance(exc.__cause__, pg_errors.QueryCanceled)


def _not_retrying_timeouts(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except OperationalError as exc:
            if _timed_out(exc):
                raise StatementTimedOut(str(exc)) from exc
            raise

    return run


def event_task(**options):
    """shared_task with the delivery rules above (`options` override them)."""

    def decorate(fn):
        return shared_task(**{**OPTIONS, **options})(_not_retrying_timeouts(fn))

    return decorate
