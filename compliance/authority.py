"""Who may declare thresholds and handle alerts: one rule, read by the API and the console.

Which rows a party sees is restrict()'s business (compliance.models); these are
the kind-of-party rules on top of it. The console adds its own page concern
(a read-only role may look, not change) around them.
"""

from core.errors import Forbidden
from registry.choices import OrgKind


def _kind(user):
    org = getattr(user, "organisation", None)
    return org.kind if org is not None else None


def declares_rules(user):
    return bool(user.is_superuser or _kind(user) == OrgKind.TREATY_BODY)


def handles_alerts(user):
    return bool(user.is_superuser or _kind(user) in (OrgKind.TREATY_BODY, OrgKind.INSPECTORATE))


def require_rule_declarer(user, what="thresholds"):
    """`what` the caller declares, for the refusal's words (thresholds, destination rules)."""
    if not declares_rules(user):
        raise Forbidden(f"Only treaty bodies declare {what}.")


def require_alert_handler(user):
    if not handles_alerts(user):
        raise Forbidden("Treaty bodies and inspectorates handle alerts.")


# --- answers and clarification requests (compliance.disputes) --------------------------------------
# Who may answer is decided by the subject, not the kind of party: the organisations it concerns
# (Subject.parties: a finding's operator and the other party of its transfer, an alert's operator).
# Nobody answers for another: not an inspectorate, not the treaty body, not a registry superuser.


def answering_party(user, subject):
    """The organisation `user` answers `subject` for (their own), or Forbidden."""
    org = getattr(user, "organisation", None)
    if org is None or org.pk not in {p.pk for p in subject.parties()}:
        raise Forbidden("Only the party the finding or alert concerns answers it, for itself.", code="not_party")
    return org


def may_answer(user, subject):
    try:
        answering_party(user, subject)
    except Forbidden:
        return False
    return True


def _require_organisation(user, what):
    """A request or a decision names the organisation that makes it (the requester decides on the answers to its
    requests; an overdue request escalates in its country): a registry administrator of no organisation speaks
    as none, and is refused rather than stored without one."""
    if getattr(user, "organisation", None) is None:
        raise Forbidden(
            f"{what} is made by an organisation: sign in as a member of the treaty body or an inspectorate.",
            code="no_organisation",
        )


def require_clarification_requester(user, countries=None):
    """The treaty body and inspectorates ask for clarification (about what they see: restrict()); an
    inspectorate only about a subject of its jurisdictions (`countries`: the subject's country and other
    country): one it reads as another country's (a run's alert placed in another of the run's countries) is
    read, not handled, and a request it opened there would be one it could not read back."""
    if not handles_alerts(user):
        raise Forbidden("Treaty bodies and inspectorates ask for clarification.")
    _require_organisation(user, "A request for clarification")
    org = user.organisation
    if countries is None or user.is_superuser or org.kind != OrgKind.INSPECTORATE:
        return
    concerned = {c for c in countries if c}
    if not concerned & set(org.jurisdictions or []):
        raise Forbidden(
            f"This is {' and '.join(sorted(concerned)) or 'no country'}'s: asked about by its inspectorate or the "
            "treaty body.",
            code="outside_jurisdiction",
        )


def decides_for(user, requesters):
    """Whether `user` may decide on an answer to requests of `requesters` (organisation pks; empty: unsolicited).

    The organisation that asked decides on the answer it asked for; the treaty body on any; an
    inspectorate on an answer nobody asked for, about what it sees. One answer may fulfil several
    organisations' requests (the party's next answer fulfils all it owes): a decision settles every one of
    them, so it is the treaty body's unless the decider asked them all (no inspectorate accepts or rejects
    another's request)."""
    if not handles_alerts(user):
        return False
    if user.is_superuser or _kind(user) == OrgKind.TREATY_BODY or not requesters:
        return True
    return set(requesters) == {user.organisation_id}


def require_decider(user, requesters):
    if not handles_alerts(user):
        raise Forbidden("Treaty bodies and inspectorates decide on answers.")
    _require_organisation(user, "A decision on an answer")
    if not decides_for(user, requesters):
        raise Forbidden(
            "Only the organisation that asked (or the treaty body) decides on this answer; one that answers "
            "several organisations' requests, the treaty body.",
            code="not_requester",
        )
