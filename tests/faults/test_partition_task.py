"""The daily partition task, run by a real worker as the beat queues it: a month found missing is created.

The task runs outside any transaction (a worker's autocommit); it once asked PostgreSQL for a savepoint there,
which is refused outside a transaction block, and so created no partition after the migration's: from the
fourth month on, every sighting and usage record went to the DEFAULT partition (and that month's partition could
then never be made).
"""

from datetime import UTC, datetime

import pytest
from django.db import connection

from tests.faults.support import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _exists(name):
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def test_the_worker_creates_the_month_the_task_finds_missing(broker, workers):
    from attestations.partitions import PARTITIONED, _month, ensure_partitions
    from attestations.tasks import ensure_partitions as task

    today = datetime.now(UTC)
    ahead = _month(today.year, today.month + 3)
    names = [f"{table}_y{ahead:%Y}m{ahead:%m}" for table in PARTITIONED]
    try:
        with connection.cursor() as cursor:
            for name in names:
                cursor.execute(f'DROP TABLE IF EXISTS "{name}"')  # months ahead hold no rows in the tests
        task.delay()
        workers("partitions")
        wait_until(lambda: all(_exists(name) for name in names), 60, "the worker to create the missing months")
    finally:
        ensure_partitions()  # as the beat would, should the worker have failed
