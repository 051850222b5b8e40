"""Cases: opened by the treaty body, linking what they concern, read by the inspectorates it adds, closed
with a conclusion. The one writer of Case, CaseLink, CaseInspectorate and CaseStep rows.

Every change is a step of the case's timeline and a log event in the same transaction. The event's
object id is a random reference of its own (casework.log_events.object_id; the data names the case's `ref`)
and its data carries a nonce, so the public leaf says nothing of the case, nor which other leaves are its;
the data is read by the treaty body and by the inspectorates on the case at that step (the event's
`parties`; no country, so no inspectorate reads it by jurisdiction, and no operator it names).
"""

import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from casework import links
from casework.choices import CaseState
from casework.log_events import object_id
from casework.models import Case, CaseInspectorate, CaseLink, CaseStep
from core.errors import Conflict, Forbidden, Invalid, NotFound
from registry.models import Organisation
from transparency.events import append_event

MOVES = {
    CaseState.OPEN: {CaseState.UNDER_INSPECTION, CaseState.CLOSED},
    CaseState.UNDER_INSPECTION: {CaseState.OPEN, CaseState.CLOSED},
    CaseState.CLOSED: set(),
}


def works_cases(user):
    """Whether the user may change cases and triage tips: the treaty body's admins and members."""
    org = getattr(user, "organisation", None)
    return bool(
        user.is_authenticated and org is not None and org.kind == "treaty_body" and user.role in ("admin", "member")
    )


def require_worker(user):
    if not works_cases(user):
        raise Forbidden("Only the treaty body works on cases and tips.", code="treaty_body_only")


def _readers(case):
    return sorted(CaseInspectorate.objects.filter(case=case).values_list("organisation__code", flat=True))


def _step(user, case, event, data, now):
    position = (
        CaseStep.objects.filter(case=case).order_by("-position").values_list("position", flat=True).first() or 0
    ) + 1
    body = {"case": str(case.ref), "code": case.code, "step": position, "by": user.get_username(), **data}
    logged = {**body, "nonce": secrets.token_hex(16)}
    index = append_event(event, object_id(), logged, at=now, parties=_readers(case), countries=[])
    return CaseStep.objects.create(
        case=case, position=position, at=now, event=event, by=user, data=body, log_index=index
    )


def _locked(case):
    """The case row, locked: steps are numbered one after another."""
    case = Case.objects.select_for_update().get(pk=case.pk)
    return case


def _open_for_change(case):
    if case.state == CaseState.CLOSED:
        raise Conflict("This case is closed.", code="case_closed")


def open_case(user, title):
    title = (title or "").strip()
    if not title:
        raise Invalid("A case has a title.", code="title_required")
    if len(title) > 200:
        raise Invalid("A case's title is at most 200 characters.", code="invalid")
    now = timezone.now()
    with transaction.atomic():
        for _ in range(5):
            prefix = f"CASE-{now.year}-"
            last = Case.objects.filter(code__startswith=prefix).order_by("-code").values_list("code", flat=True).first()
            number = int(last.rsplit("-", 1)[1]) + 1 if last else 1
            try:
                with transaction.atomic():
                    case = Case.objects.create(code=f"{prefix}{number:04d}", title=title, opened_at=now, opened_by=user)
                break
            except IntegrityError:  # another case took the number meanwhile
                continue
        else:
            raise Conflict("Could not number the case; try again.", code="conflict")
        _step(user, case, "case.opened", {"title": title}, now)
    return case


def link(user, case, kind, target, _from_triage=False):
    """Link a thing to the case (each kind checked: casework.links); a tip only by triage."""
    target = str(target).strip()
    if not _from_triage:
        links.check(kind, target)
    now = timezone.now()
    with transaction.atomic():
        case = _locked(case)
        _open_for_change(case)
        if CaseLink.objects.filter(case=case, kind=kind, target=target).exists():
            raise Conflict("This case links it already.", code="already_linked")
        row = CaseLink.objects.create(case=case, kind=kind, target=target, added_at=now, added_by=user)
        _step(user, case, "case.linked", {"kind": kind, "target": target}, now)
    return row


def follow_challenge(challenge):
    """A challenge inspection requested for a case (its `case_ref` is the case's code) joins the case, and
    an open case is now under inspection. Only a request by the treaty body or an inspectorate on the
    case does: any other requester may write any reference, and must not add to a case it cannot read.
    A reference that is no case of ours (another body's file number) links nothing. Idempotent: the
    outbox may deliver the event again."""
    case = Case.objects.filter(code=challenge.case_ref).first() if challenge.case_ref else None
    if case is None:
        return None
    requester = challenge.requester
    on_case = CaseInspectorate.objects.filter(case=case, organisation=requester).exists()
    if requester.kind != "treaty_body" and not on_case:
        return None
    user, target, now = challenge.requested_by, str(challenge.pk), timezone.now()
    with transaction.atomic():
        case = _locked(case)
        if case.state == CaseState.CLOSED:
            return None
        kind = "challenge_inspection"
        if CaseLink.objects.filter(case=case, kind=kind, target=target).exists():
            return case
        CaseLink.objects.create(case=case, kind=kind, target=target, added_at=now, added_by=user)
        _step(user, case, "case.linked", {"kind": kind, "target": target, "by_request": True}, now)
        if case.state == CaseState.OPEN:
            case.state = CaseState.UNDER_INSPECTION
            case.save(update_fields=["state"])
            data = {"from": CaseState.OPEN, "to": CaseState.UNDER_INSPECTION, "challenge": target}
            _step(user, case, "case.state_changed", data, now)
    return case


def set_state(user, case, state, conclusion=""):
    now = timezone.now()
    with transaction.atomic():
        case = _locked(case)
        if state not in CaseState.values:
            raise Invalid(f"Unknown state {state!r}.", code="invalid")
        if state not in MOVES[case.state]:
            code = "case_closed" if case.state == CaseState.CLOSED else "invalid_transition"
            raise Conflict(f"A case {case.state} cannot become {state}.", code=code)
        data = {"from": case.state, "to": state}
        if state == CaseState.CLOSED:
            if not (conclusion or "").strip():
                raise Invalid("A case is closed with a conclusion.", code="conclusion_required")
            case.conclusion, case.closed_at = conclusion, now
            data["conclusion"] = conclusion
        case.state = state
        case.save(update_fields=["state", "conclusion", "closed_at"])
        _step(user, case, "case.closed" if state == CaseState.CLOSED else "case.state_changed", data, now)
    return case


def _inspectorate(code):
    org = Organisation.objects.filter(code=str(code)).first()
    if org is None or org.kind != "inspectorate":
        raise Invalid("No inspectorate has this code.", code="not_inspectorate")
    return org


def add_inspectorate(user, case, code):
    org = _inspectorate(code)
    now = timezone.now()
    with transaction.atomic():
        case = _locked(case)
        _open_for_change(case)
        if CaseInspectorate.objects.filter(case=case, organisation=org).exists():
            raise Conflict("This inspectorate is on the case already.", code="already_added")
        CaseInspectorate.objects.create(case=case, organisation=org, added_at=now)
        _step(user, case, "case.inspectorate_added", {"inspectorate": org.code}, now)
    return case


def remove_inspectorate(user, case, code):
    now = timezone.now()
    with transaction.atomic():
        case = _locked(case)
        # Closed is final for its readers too: an inspectorate on the case when it closed keeps its conclusion.
        _open_for_change(case)
        row = CaseInspectorate.objects.filter(case=case, organisation__code=str(code)).first()
        if row is None:
            raise NotFound("This inspectorate is not on the case.", code="not_on_case")
        row.delete()
        _step(user, case, "case.inspectorate_removed", {"inspectorate": str(code)}, now)
    return case
