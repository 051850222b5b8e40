"""The README's API section, exercised as an outside client reads it (requests and answers on the wire only;
the set-up is tests/api/spec_world.py's): each test quotes the passage it holds the registry to."""

import pytest

from tests.api.spec_world import now, problem, ts

pytestmark = pytest.mark.django_db


# --- declarations ---------------------------------------------------------------------------------


@pytest.mark.parametrize("facility", ["DE-FRA-001", "XX-NONE-001"])
def test_a_declaration_naming_another_partys_facility_gets_the_answer_of_one_that_does_not_exist(spec_world, facility):
    """README: "A declaration naming another party's facility or cluster gets the answer of one that does not
    exist (400 `invalid`, "You run no facility ...")". It answered 404 `not_found` ("No facility ... in your
    view"), which a client written from the README did not expect, and which told the treaty body (who sees
    every facility) that the facility was out of its view."""
    body = {"facility": facility, "as_of": ts(now()), "chips": ["nvidia:A000000"]}
    answer = problem(spec_world.op_a.post("/api/v1/declarations/", body), 400, "invalid")
    assert answer["detail"] == f"facility: You run no facility {facility}."
    assert answer["errors"] == {"facility": [f"You run no facility {facility}."]}


def test_a_party_that_runs_no_facility_gets_the_same_answer_for_a_declaration(spec_world):
    body = {"facility": "US-VA-001", "as_of": ts(now()), "chips": ["nvidia:A000000"]}
    problem(spec_world.treaty.post("/api/v1/declarations/", body), 400, "invalid")
    problem(spec_world.op_b.post("/api/v1/declarations/", body), 400, "invalid")
    assert spec_world.op_a.post("/api/v1/declarations/", body).status_code == 201
