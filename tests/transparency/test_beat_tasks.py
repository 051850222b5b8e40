"""The log's periodic task, run as a Celery worker runs it: outside any transaction (autocommit).

Most tests sign inside the test's transaction (the `db` fixture), which hides code that only works in one: the
daily partition task once asked for a savepoint there and never did its work (06f108f). Here the beat's
`sign_checkpoint` is called directly, in autocommit, with an append its last checkpoint does not cover.
"""

import pytest
from django.db import connection

from transparency.checkpoints import latest_checkpoint
from transparency.log import current_size
from transparency.tasks import sign_checkpoint

from .helpers import append_events

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_beat_task_signs_the_head_outside_any_transaction(catalog, settings):
    settings.CHIPREG_CHECKPOINT_INTERVAL_S = 0.5
    append_events(1)  # signed at its commit (in-process mode: when due)
    append_events(1, prefix="LATER")  # within the interval: left to the task
    assert latest_checkpoint().size == 1 and current_size() == 2
    assert connection.get_autocommit()
    sign_checkpoint()  # waits out the interval, then signs
    assert latest_checkpoint().size == 2
