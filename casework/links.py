"""What a case may link to, by kind: each kind's check that the target exists (the treaty body sees all).

A link is generic (kind + id as text), so things built elsewhere link without a foreign key from here.
"""

import re

from django.apps import apps

from core.errors import Invalid

# ASCII digits only: str.isdigit() also takes '²' (which int() refuses) and '١٢' (which int() reads as 12, so
# one row could be linked again under another spelling of its id).
_ID = re.compile(r"[0-9]{1,18}")


def _by_pk(label):
    def exists(target):
        if not _ID.fullmatch(target):
            return False
        return apps.get_model(label).objects.filter(pk=int(target)).exists()

    return exists


def _challenge_inspection(target):
    # By its id, as the API and console name it. A challenge requested with the case's code as its `case`
    # joins the case by itself (casework.cases.follow_challenge); this links one requested otherwise.
    from inventory.models import ChallengeInspection

    return bool(_ID.fullmatch(target)) and ChallengeInspection.objects.filter(pk=int(target)).exists()


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
