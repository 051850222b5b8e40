"""The runs' periodic task, run as a Celery worker runs it: outside any transaction (autocommit).

tests/runs/test_declarations.py calls it inside the test's transaction (the `db` fixture), which hides code
that only works in one: the daily partition task once asked for a savepoint there and never did its work
(06f108f). Here `approve_by_silence` is called directly, in autocommit, with a run whose review period ended.
"""

from datetime import timedelta

import pytest
from django.db import connection

from runs.models import Run
from runs.tasks import approve_by_silence
from tests.attestations.conftest import now
from tests.runs.test_declarations import declared, events

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_beat_task_approves_by_silence_outside_any_transaction(catalog, world):
    codes = [declared(world.op_a)["code"] for _ in range(2)]
    Run.objects.filter(code=codes[0]).update(review_due_at=now() - timedelta(minutes=1))
    assert connection.get_autocommit()
    assert approve_by_silence() == 1
    states = dict(Run.objects.filter(code__in=codes).values_list("code", "state"))
    assert states == {codes[0]: "approved_by_silence", codes[1]: "under_review"}
    [logged] = events("run.approved_by_silence", codes[0])
    assert logged["to"] == "approved_by_silence"
    assert approve_by_silence() == 0  # once
