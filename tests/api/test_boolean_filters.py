"""A yes/no query parameter is true or false, or a 400 naming it (core.filters).

django-filter read `?open=maybe`, `?open=yes` (and `?open=1` on the lists built from plain filter sets) as no
filter at all: a client's typo was answered with every row, as if filtered. Each list's boolean parameter, the
declared ones and those built from a model's boolean field (`flagged`, `is_active`), now refuses what it cannot
read and reads `true`/`false`/`1`/`0` in any case.
"""

import pytest
from django.utils import timezone

from inventory.models import ChiplessFinding, Facility

BOOLEAN_LISTS = [
    ("/api/v1/findings/", "open", "treaty"),
    ("/api/v1/attestations/", "flagged", "treaty"),
    ("/api/v1/links/", "active", "treaty"),
    ("/api/v1/clarifications/", "awaiting", "treaty"),
    ("/api/v1/delegations/", "in_force", "op_a_admin"),
]


@pytest.mark.parametrize("path, name, user", BOOLEAN_LISTS)
@pytest.mark.parametrize("garbage", ["maybe", "yes", "2", "truee", " "])
def test_a_boolean_parameter_that_is_neither_is_400(api, parties, path, name, user, garbage):
    response = api(parties.users[user]).get(path, {name: garbage})
    if garbage.strip() == "":
        assert response.status_code == 200, response.content  # empty: no filter
        return
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid" and name in body.get("errors", {}), body


def test_true_false_one_zero_filter(api, parties):
    facility = Facility.objects.create(
        code="BF-1",
        name="BF-1",
        operator=parties.users["op_a_admin"].organisation,
        country="US",
        latitude=38,
        longitude=-77,
    )
    ChiplessFinding.objects.create(
        kind="unknown_chip", source="declaration", source_id="1", facility=facility, chip_ref="x"
    )
    ChiplessFinding.objects.create(
        kind="unknown_chip",
        source="declaration",
        source_id="2",
        facility=facility,
        chip_ref="y",
        resolved_at=timezone.now(),
    )
    treaty = api(parties.users["treaty"])
    for value, refs in (("true", ["x"]), ("TRUE", ["x"]), ("1", ["x"]), ("false", ["y"]), ("0", ["y"])):
        got = [f["chip"] for f in treaty.get("/api/v1/findings/", {"open": value}).json()["results"]]
        assert got == refs, value
    assert sorted(f["chip"] for f in treaty.get("/api/v1/findings/").json()["results"]) == ["x", "y"]
