"""A reason not given (missing, null, empty or blank) is 400 `reason_required` wherever one is due (core.fields)."""

import pytest
from rest_framework import serializers

from core.errors import Invalid
from core.fields import ReasonField
from tests.schema_check import spec

NOT_GIVEN = ({}, {"reason": None}, {"reason": ""}, {"reason": " \t\n"})


class Dismissal(serializers.Serializer):
    reason = ReasonField(min_length=3, max_length=20)


class Review(serializers.Serializer):
    reason = ReasonField(due="refuse", max_length=20)


@pytest.mark.parametrize("body", NOT_GIVEN)
def test_a_required_reason_not_given_is_reason_required(body):
    with pytest.raises(Invalid) as raised:
        Dismissal(data=body).is_valid()
    assert (raised.value.status, raised.value.code) == (400, "reason_required")


@pytest.mark.parametrize("body", NOT_GIVEN)
def test_a_reason_due_only_for_some_decisions_reaches_the_service_as_empty(body):
    """The service knows whether the decision needs one (a refusal, not an acceptance): it answers reason_required."""
    review = Review(data=body)
    assert review.is_valid() and review.validated_data == {"reason": ""}


def test_a_reason_given_is_trimmed_and_its_length_rules_stay_invalid():
    given = Dismissal(data={"reason": "  not ours  "})
    assert given.is_valid() and given.validated_data == {"reason": "not ours"}
    for reason in ("no", "x" * 21):
        body = Dismissal(data={"reason": reason})
        assert not body.is_valid() and "reason" in body.errors
    assert Dismissal(data={}, partial=True).is_valid()  # a partial update leaves it alone


def test_every_required_reason_in_the_schema_documents_reason_required():
    """A request that must give a reason documents the code its absence answers: its field is a ReasonField (a
    plain CharField answered `invalid` to a missing or blank reason, where the services answer reason_required)."""
    schemas = spec()["components"]["schemas"]
    required = [name for name, c in schemas.items() if "reason" in c.get("required", []) and name.endswith("Request")]
    assert {"ReasonRequest", "ExportRefusalRequest", "ResolveRequest", "DecisionInputRequest"} <= set(required)
    for name in required:
        reason = schemas[name]["properties"]["reason"]
        assert "reason_required" in reason.get("description", "") and reason.get("minLength", 0) >= 1, name
