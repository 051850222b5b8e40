"""The daily partition task, run by a real worker as the beat queues it: a month found missing is created.

The task runs outside any transaction (a worker's autocommit); it once asked PostgreSQL for a savepoint there,
which is refused outside a transaction block, and so created no partition after the migration's: from the
fourth month on, every sighting and usage record went to the DEFAULT partition (and that month's partition could
then never be made).
"""

import pytest
from django.db import connection

from tests.attestations.test_partitions import drop_last_month_ahead
from tests.faults.support import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _exists(name):
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def test_the_worker_creates_the_month_the_task_finds_missing(broker, workers):
    from attestations.partitions import ensure_partitions
    from attestations.tasks import ensure_partitions as task

    try:
        names = drop_last_month_ahead()
        task.delay()
        workers("partitions")
        wait_until(lambda: all(_exists(name) for name in names), 60, "the worker to create the missing months")
    finally:
        ensure_partitions()  # as the beat would, should the worker have failed
