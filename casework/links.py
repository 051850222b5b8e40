"""What a case may link to, by kind: each kind's check that the target exists (the treaty body sees all).

A link is generic (kind + id as text), so things built elsewhere link without a foreign key from here.
"""

from django.apps import apps

from core.errors import Invalid


def _by_pk(label):
    def exists(target):
        if not target.isdigit() or len(target) > 18:
            return False
        return apps.get_model(label).objects.filter(pk=int(target)).exists()

    return exists


def _challenge_inspection(target):
    # HOOK(lead, issue 19 merge): challenge inspections are built by another part of issue 19 (inventory,
    # model likely `ChallengeInspection`, which stores the case's code as text). Until that model exists
    # here, a link to one is refused; after the merge, check the lookup field below (pk or a code) and
    # decide whether linking one moves the case to `under_inspection` (casework.cases.link).
    try:
        model = apps.get_model("inventory", "ChallengeInspection")
    except LookupError:
        raise Invalid("Challenge inspections are not available yet.", code="kind_unavailable") from None
    return target.isdigit() and len(target) <= 18 and model.objects.filter(pk=int(target)).exists()


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
