"""The README's API section, exercised as an outside client reads it (requests and answers on the wire only;
the set-up is tests/api/spec_world.py's): each test quotes the passage it holds the registry to."""

from datetime import timedelta

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


# --- threshold and destination rules ----------------------------------------------------------------


def _at(text):
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    "path, body",
    [
        (
            "/api/v1/thresholds/",
            {"name": "Audit rule", "metric": "chip_count", "scope": "facility", "comparison": "gt", "value": 1e5},
        ),
        ("/api/v1/destination-rules/", {"name": "Audit embargo", "destinations": ["KP"]}),
    ],
)
def test_a_rule_posted_without_effective_from_takes_effect_at_once(spec_world, path, body):
    """README: "a rule's `PATCH` (or a `POST` of a known `key`) makes its next version, which may take effect
    later (`effective_from`; a `PATCH` that names none takes effect at once ...)", and destination rules "are
    versioned like threshold rules". A POST naming no `effective_from`, of a new key or a known one, was
    400 `invalid` ("effective_from: This field is required.")."""
    before = now()
    first = spec_world.treaty.post(path, {"key": "audit-rule", **body})
    assert first.status_code == 201, first.content
    assert first.json()["version"] == 1
    assert before <= _at(first.json()["effective_from"]) <= now() + timedelta(seconds=1)
    second = spec_world.treaty.post(path, {"key": "audit-rule", **body, "name": "Audit rule, v2"})
    assert second.status_code == 201, second.content
    assert second.json()["version"] == 2
    assert before <= _at(second.json()["effective_from"]) <= now() + timedelta(seconds=1)
    current = spec_world.treaty.get(f"{path}?key=audit-rule").json()["results"]
    assert [(r["version"], r["name"]) for r in current] == [(2, "Audit rule, v2")]


def test_a_rule_posted_with_an_end_already_past_and_no_start_is_refused(spec_world):
    body = {"key": "audit-past", "name": "x", "destinations": ["KP"], "effective_to": ts(now())}
    problem(spec_world.treaty.post("/api/v1/destination-rules/", body), 400, "invalid")


def test_the_schema_says_what_a_rule_with_no_workloads_counts(spec_world):
    """README: an `unattributed_compute` rule counts its listed workloads, "default every one but
    `inference`". The OpenAPI schema the README points clients to said of a rule's `workloads` "empty:
    training and unlabelled", which a client declaring a rule from it would read as mixed, other and idle work
    left uncounted."""
    text = spec_world.anonymous.get("/api/v1/schema/").content.decode()
    assert "training and unlabelled" not in text
    assert "every one but inference" in text
