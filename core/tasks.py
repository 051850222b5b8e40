"""The one way apps declare background work that follows an outbox event or a schedule.

`event_task` is Celery's shared_task with the registry's delivery rules:
- acknowledged late, and given back when its worker dies, so a killed worker's message runs again;
- retried, with growing pauses, when the database or the broker failed under it (a restart, a failover, a
  deadlock or serialisation failure it lost): otherwise such a failure would drop the event's work until the
  next periodic sweep, and some work (a case following its challenge, a recount) has no sweep.
Every such task is idempotent (tests/compliance/test_background_idempotency.py), so running it again is safe.
A failure that is no accident of the moment (a bug, a refused row) is not retried: it would fail the same way.
"""

from functools import partial

from celery import shared_task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

TRANSIENT = (OperationalError, InterfaceError, BrokerError)
MAX_RETRIES = 5

event_task = partial(
    shared_task,
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT,
    retry_backoff=2,  # seconds before the first retry, doubled each time (with jitter)
    retry_backoff_max=120,
    max_retries=MAX_RETRIES,
)
