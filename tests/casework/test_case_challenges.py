"""A challenge inspection requested for a case joins it (issue 19): the case is then under inspection.

Inventory, below casework, stores the case's code as text; casework links the inspection when the
outbox event of the request arrives. Only the treaty body or an inspectorate on the case adds to it."""

import pytest

from casework.models import Case, CaseLink
from outbox.relay import drain_all
from tests.inventory.test_challenges import LYON, world  # noqa: F401  (the challenge world fixture)

pytestmark = pytest.mark.django_db


def open_case(treaty):
    r = treaty.post("/api/v1/cases/", {"title": "Ashburn: a tip of undeclared racks"})
    assert r.status_code == 201, r.content
    return r.json()["code"]


def request(client, case, **target):
    r = client.post("/api/v1/challenge-inspections/", {"reason": "the tip", "case": case, **target})
    assert r.status_code == 201, r.content
    drain_all()
    return r.json()["id"]


def allow_insp_de_in_france(treaty):
    rule = {"allowed": [{"inspectorate": "insp-de", "countries": ["FR"]}], "reason": "r"}
    assert treaty.post("/api/v1/challenge-rules/", rule).status_code == 201


def test_the_treaty_bodys_request_joins_the_case_and_puts_it_under_inspection(world):  # noqa: F811
    treaty = world.as_("treaty")
    code = open_case(treaty)
    pk = request(treaty, code, facility="US-VA-001")
    case = treaty.get(f"/api/v1/cases/{code}/").json()
    assert case["state"] == "under_inspection"
    assert [(s["event"], s["data"].get("kind"), s["data"].get("target")) for s in case["steps"]] == [
        ("case.opened", None, None),
        ("case.linked", "challenge_inspection", str(pk)),
        ("case.state_changed", None, None),
    ]
    # The event delivered again adds nothing.
    from casework.tasks import follow_challenges

    follow_challenges([[0, "challenge.changed", {"challenge": pk, "step": "requested"}]])
    assert CaseLink.objects.filter(case__code=code).count() == 1
    assert len(treaty.get(f"/api/v1/cases/{code}/").json()["steps"]) == 3


def test_an_inspectorate_not_on_the_case_cannot_add_to_it_by_naming_its_code(world):  # noqa: F811
    treaty = world.as_("treaty")
    allow_insp_de_in_france(treaty)
    code = open_case(treaty)
    request(world.as_("insp_de"), code, **LYON)
    assert not CaseLink.objects.filter(case__code=code).exists()
    assert Case.objects.get(code=code).state == "open"
    # Once the treaty body adds it to the case, its request joins.
    assert treaty.post(f"/api/v1/cases/{code}/inspectorates/", {"organisation": "insp-de"}).status_code in (200, 201)
    pk = request(world.as_("insp_de"), code, latitude=LYON["latitude"] + 0.01, longitude=LYON["longitude"])
    assert list(CaseLink.objects.filter(case__code=code).values_list("target", flat=True)) == [str(pk)]


def test_a_closed_case_or_a_reference_that_is_no_case_links_nothing(world):  # noqa: F811
    treaty = world.as_("treaty")
    code = open_case(treaty)
    closed = treaty.post(f"/api/v1/cases/{code}/state/", {"state": "closed", "conclusion": "No diversion."})
    assert closed.status_code == 200
    request(treaty, code, facility="US-VA-001")
    request(treaty, "OPCW-2026-17", facility="US-VA-001")
    assert not CaseLink.objects.exists()
    assert Case.objects.get(code=code).state == "closed"
