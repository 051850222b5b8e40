"""Casework's outbox handler, run as a Celery worker runs it: outside any transaction (autocommit).

Eager in the tests, the relay runs a handler inside its own transaction, which hides code that only works in one
(06f108f). Here the challenge's event is committed but held back from the relay (tests.handed_over), and the task's
function is called with what the relay would hand it, in autocommit; a second delivery changes nothing.
"""

import pytest
from django.db import connection

from casework.models import Case, CaseLink, CaseStep
from casework.tasks import follow_challenges
from tests.handed_over import held_back
from tests.inventory.test_challenges import world  # noqa: F401  (the challenge world fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_challenge_requested_for_a_case_joins_it_outside_any_transaction(catalog, world):  # noqa: F811
    treaty = world.as_("treaty")
    opened = treaty.post("/api/v1/cases/", {"title": "Ashburn: a tip of undeclared racks"})
    assert opened.status_code == 201, opened.content
    code = opened.json()["code"]
    with held_back() as held:
        requested = treaty.post(
            "/api/v1/challenge-inspections/", {"reason": "the tip", "case": code, "facility": "US-VA-001"}
        )
        assert requested.status_code == 201, requested.content
    events = held.for_(follow_challenges)
    assert [(topic, payload["step"]) for _, topic, payload in events] == [("challenge.changed", "requested")]
    assert Case.objects.get(code=code).state == "open" and not CaseLink.objects.exists()
    assert connection.get_autocommit()
    follow_challenges(events)
    case = Case.objects.get(code=code)
    assert case.state == "under_inspection"
    assert list(CaseLink.objects.values_list("case__code", "kind", "target")) == [
        (code, "challenge_inspection", str(requested.json()["id"]))
    ]
    steps = list(CaseStep.objects.filter(case=case).order_by("position").values_list("position", "event"))
    assert steps == [(1, "case.opened"), (2, "case.linked"), (3, "case.state_changed")]
    follow_challenges(events)
    assert CaseLink.objects.count() == 1 and CaseStep.objects.filter(case=case).count() == 3
