"""What a case may link to, by kind: each kind's check that the target exists (the treaty body sees all).

A link is generic (kind + id as text), so things built elsewhere link without a foreign key from here.
"""

from django.apps import apps

from core.errors import Invalid
from core.ids import parse_id


def _by_pk(label):
    def exists(target):
        # One spelling of an id only (core.ids): one row is never linked again under another.
        pk = parse_id(target)
        return pk is not None and apps.get_model(label).objects.filter(pk=pk).exists()

    return exists


def _challenge_inspection(target):
    # By its id, as the API and console name it. A challenge requested with the case's code as its `case`
    # joins the case by itself (casework.cases.follow_challenge); this links one requested otherwise.
    from inventory.models import ChallengeInspection

    pk = parse_id(target)
    return pk is not None and ChallengeInspection.objects.filter(pk=pk).exists()


EXISTS = {
    "finding": _by_pk("inventory.AnyFinding"),
    "alert": _by_pk("compliance.Alert"),
    "answer": _by_pk("compliance.Answer"),
    "clarification": _by_pk("compliance.ClarificationRequest"),
    "challenge_inspection": _challenge_inspection,
}


def check(kind, target):
    """Nothing, or Invalid: an unknown kind (`unknown_kind`), a tip (`triage_tips`: tips join a case by
    triage), or a target that does not exist (`unknown_target`)."""
    if kind == "tip":
        raise Invalid("A tip joins a case by triage (POST /api/v1/tips/{ref}/triage/).", code="triage_tips")
    exists = EXISTS.get(kind)
    if exists is None:
        raise Invalid(f"Cannot link a {kind!r}; kinds: {', '.join(['tip', *EXISTS])}.", code="unknown_kind")
    if not exists(str(target)):
        raise Invalid(f"No {kind} {str(target)[:64]!r}.", code="unknown_target")
