"""Serializer fields the apps' API packages share."""

from collections.abc import Mapping

from rest_framework import serializers
from rest_framework.fields import empty

from core.errors import Invalid


def _missing(data):
    return data is empty or data is None or (isinstance(data, str) and not data.strip())


class ReasonField(serializers.CharField):
    """The reason a decision gives (a refusal, a dismissal, a resolution, an objection).

    Missing, null, empty or blank, it is one thing, a reason not given, answered 400 `reason_required` wherever
    one is due: a plain CharField answered `invalid` (or "may not be null") before the service, which answers
    `reason_required`, saw the request, so the same omission had two codes depending on which layer caught it.

    Required (every decision the serializer takes needs one), the field answers `reason_required` itself and the
    schema documents it as required. Due only for some (`due`: a refusal needs one, an acceptance does not), it
    hands the service "" and the service, which knows the decision, answers `reason_required`. A reason that is
    there but breaks `min_length` or `max_length` stays `invalid`, with the field's message in `errors`.
    """

    def __init__(self, *, due=None, missing="Say why.", code="reason_required", **kwargs):
        """`due`: the decision that needs a reason ("refuse"), where the serializer also takes one that does not
        (the field is then optional, and the service judges). `code`: the one code of an omission, for another
        text a request cannot go without (an export's licence number: `reference_required`)."""
        self.code = code
        if due is None:
            kwargs.setdefault("help_text", "Why, in words (missing or blank: 400 reason_required).")
        else:
            # Documented as it is taken: optional, "" accepted, and judged by the service.
            kwargs.update(required=False, default="", allow_blank=True)
            kwargs.setdefault("help_text", f"Required to {due} (missing or blank: 400 reason_required).")
        self.missing = missing
        super().__init__(**kwargs)

    def run_validation(self, data=empty):
        if not _missing(data) or (data is empty and getattr(self.root, "partial", False)):
            return super().run_validation(data)
        if self.required:
            raise Invalid(self.missing, code=self.code)
        return ""


def acts_for(serializer, member, expected, why):
    """Refuse a body member naming who a request acts for, where it can act only for `expected`.

    DRF drops a member that is no writable field: a registry administrator's `"organisation": "op-other"` on a new
    user made a member of its own organisation (a treaty body's, which sees everything), and an org admin's
    `"is_superuser": true` answered 200 having done nothing. Absent, or equal to `expected` (a client sending back
    what it read), the member passes; any other value is 400 `invalid` naming it, with `why`."""
    data = getattr(serializer, "initial_data", None)
    if isinstance(data, Mapping) and member in data:
        given = data[member]
        # Of the same type too: 0 is not False here (a client's 0 would read as "not a superuser" only by luck).
        if type(given) is not type(expected) or given != expected:
            raise serializers.ValidationError({member: [why]})


def acts_for_own_organisation(serializer, member, why):
    """acts_for with the caller's own organisation's code as the one value `member` may have (a request that acts
    for the caller's organisation only: a key's, a delegation's grantor)."""
    org = serializer.context["request"].user.organisation
    acts_for(serializer, member, org.code if org is not None else None, why)
