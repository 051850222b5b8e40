"""Answers, clarification requests, decisions and the escalation of overdue requests: each a log event.

The draft agreement's Article XI (arXiv 2511.10783; its commentary, after CWC Article IX,
which allows 10 days) has a request for clarification answered within 5 days. Here the
treaty body, or the inspectorate of a country a finding or alert concerns, asks the party it
concerns; the party answers (which fulfils the request); the requester or the treaty body
accepts the answer (and may close the finding or alert with it) or rejects it (the request
stands again with a new deadline; an answer nobody asked for, rejected, opens a request).
A request still unanswered at its deadline escalates: it raises an alert of its own (kind
`clarification`, severity CHIPREG_CLARIFICATION_OVERDUE_SEVERITY), which reaches
subscribers like any alert and is handled by the alert transitions; the alert the request
was about keeps the severity its rule gave it. `escalate_overdue` runs from Celery beat.

Readers of every event: the party concerned, the requester, the inspectorates of the
subject's countries, the treaty body (transparency.models.LogEventData.visible_to).
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from compliance import attachments as files
from compliance import authority
from compliance.choices import RUN_SCOPES, AlertKind, AlertState, Scope, Severity
from compliance.dispute_models import (
    AWAITING,
    Answer,
    AnswerAttachment,
    AnswerDecision,
    ClarificationRequest,
    Outcome,
    RequestState,
)
from compliance.models import Alert, AlertEvidence, AlertTransition
from core.errors import Conflict, Invalid
from inventory.access import require_own_country
from registry.choices import OrgKind
from transparency.events import append_event

ALERT_OPEN = (AlertState.OPEN, AlertState.ACKNOWLEDGED)


@dataclass(frozen=True)
class Subject:
    """A finding or an alert, as answers and requests see it."""

    finding: object = None
    alert: object = None

    @classmethod
    def of(cls, row):
        """The subject of an Answer or a ClarificationRequest."""
        return cls(finding=row.finding) if row.finding_id else cls(alert=row.alert)

    @property
    def kind(self):
        return "finding" if self.finding is not None else "alert"

    @property
    def row(self):
        return self.finding if self.finding is not None else self.alert

    @property
    def object_id(self):
        return f"{self.kind}:{self.row.pk}"

    def fields(self):
        """The subject as model fields of an answer or request."""
        return {self.kind: self.row}

    def filter(self):
        return {f"{self.kind}_id": self.row.pk}

    def parties(self):
        """The organisations it concerns, in order: they (only) answer it, each for itself."""
        if self.finding is not None:
            candidates = (self.finding.organisation, self.finding.other_organisation)
        else:
            candidates = (self.alert.operator,)
        seen, out = set(), []
        for org in candidates:
            if org is not None and org.pk not in seen:
                seen.add(org.pk)
                out.append(org)
        return out

    def countries(self):
        """(country, other country): whose inspectorates see it."""
        if self.finding is not None:
            other = self.finding.other_country if self.finding.other_country != self.finding.country else ""
            return self.finding.country or "", other or ""
        return self.alert.country or "", ""

    def is_closed(self):
        if self.finding is not None:
            return self.finding.resolved_at is not None
        return self.alert.state not in ALERT_OPEN

    def label(self):
        return f"{self.kind} {self.row.pk}"


def _readers(row, *also):
    """(parties, countries) who may read an event about `row` besides treaty bodies."""
    parties = sorted({row.operator.code, *(o.code for o in also if o is not None)})
    return parties, sorted({row.country, row.other_country} - {""})


def _org_code(user):
    return user.organisation.code if user.organisation_id else None


# --- answers -------------------------------------------------------------------------------------


def _own_run(party, code):
    from runs.models import Run

    return Run.objects.filter(code=code, operator=party).exists()


def answer(user, subject, explanation, *, run="", request_id=None, attachments=()):
    """The party's answer about `subject`, fulfilling its awaiting requests (all, or `request_id`).

    `attachments`: (name, content_type, bytes) triples, checked here (compliance.attachments)
    before anything is written.
    """
    party = authority.answering_party(user, subject)
    checked = files.check_all(list(attachments))
    if run and not _own_run(party, run):
        # Another party's run gets the answer of one that does not exist: codes are not probed this way.
        raise Invalid(f"You declared no run {run!r}.", code="unknown_run")
    country, other_country = subject.countries()
    with transaction.atomic():
        awaiting = ClarificationRequest.objects.select_for_update().filter(
            **subject.filter(), operator=party, state__in=AWAITING
        )
        if request_id is not None:
            awaiting = awaiting.filter(pk=request_id)
        fulfilled = list(awaiting.order_by("id"))
        if request_id is not None and not fulfilled:
            raise Invalid(
                f"No request {request_id} awaits your answer about this {subject.kind}.", code="no_such_request"
            )
        row = Answer.objects.create(
            **subject.fields(),
            operator=party,
            country=country,
            other_country=other_country,
            by=user,
            at=timezone.now(),
            explanation=explanation,
            run=run or "",
        )
        AnswerAttachment.objects.bulk_create(
            AnswerAttachment(
                answer=row,
                position=i,
                name=a.name,
                content_type=a.content_type,
                size=a.size,
                sha256=a.sha256,
                content=a.content,
            )
            for i, a in enumerate(checked)
        )
        for request in fulfilled:
            request.state, request.answer = RequestState.ANSWERED, row
            request.save(update_fields=["state", "answer"])
        parties, countries = _readers(row, *(r.requester for r in fulfilled))
        row.log_index = append_event(
            "answer.submitted",
            subject.object_id,
            {
                "answer": row.pk,
                subject.kind: subject.row.pk,
                "operator": party.code,
                "by": user.username,
                "explanation": explanation,
                "run": row.run or None,
                "attachments": [a.summary() for a in checked],
                "fulfils": [r.pk for r in fulfilled],
                "at": row.at.isoformat(),
            },
            parties=parties,
            countries=countries,
        )
        row.save(update_fields=["log_index"])
    return row


# --- clarification requests ----------------------------------------------------------------------


def is_overdue(request, now=None):
    """Escalated, or awaiting its answer past the deadline (escalation comes with the next run of the clock)."""
    if request.state == RequestState.OVERDUE:
        return True
    return request.state == RequestState.OPEN and request.deadline < (now or timezone.now())


def deadline_days(days):
    """The days given to answer: the parameter by default; more up to the maximum, never fewer."""
    least, most = settings.CHIPREG_CLARIFICATION_DAYS, settings.CHIPREG_CLARIFICATION_MAX_DAYS
    if days is None:
        return least
    if not least <= days <= most:
        raise Invalid(
            f"deadline_days must be between {least} (the agreement's time to answer) and {most}.",
            code="invalid_deadline",
        )
    return days


def request_clarification(user, subject, question, *, days=None, operator=None):
    """Ask the party `subject` concerns (`operator`: its code, when it concerns two) to clarify."""
    authority.require_clarification_requester(user, subject.countries())
    if subject.is_closed():
        raise Conflict(f"This {subject.kind} is closed; there is nothing left to clarify.", code="subject_closed")
    parties = subject.parties()
    if not parties:
        raise Conflict(f"This {subject.kind} concerns no party that could answer.", code="no_party")
    party = parties[0] if not operator else next((p for p in parties if p.code == operator), None)
    if party is None:
        raise Invalid(f"{str(operator)[:64]!r} is not a party this {subject.kind} concerns.", code="unknown_party")
    days = deadline_days(days)
    with transaction.atomic():
        return _open_request(user, subject, party, question, days)


def _open_request(user, subject, party, question, days):
    country, other_country = subject.countries()
    now = timezone.now()
    row = ClarificationRequest.objects.create(
        **subject.fields(),
        operator=party,
        country=country,
        other_country=other_country,
        requester=user.organisation,
        requested_by=user,
        question=question,
        at=now,
        deadline=now + timedelta(days=days),
    )
    parties, countries = _readers(row, row.requester)
    row.log_index = append_event(
        "clarification.requested",
        subject.object_id,
        {
            "request": row.pk,
            subject.kind: subject.row.pk,
            "operator": party.code,
            "requester": row.requester.code,
            "by": user.username,
            "question": question,
            "at": now.isoformat(),
            "deadline": row.deadline.isoformat(),
            "days": days,
        },
        parties=parties,
        countries=countries,
    )
    row.save(update_fields=["log_index"])
    return row


# --- decisions -----------------------------------------------------------------------------------


def decide(user, answer_row, outcome, reason, *, close=False, days=None):
    """Accept (and with `close`, resolve the finding or alert) or reject an answer; once per answer."""
    authority.require_decider(user, set())  # the kind of party first: 403 before anything is read
    if outcome not in Outcome.values:
        raise Invalid(f"outcome is {' or '.join(Outcome.values)}.", code="invalid")
    if outcome == Outcome.REJECTED and close:
        raise Invalid("A rejected answer closes nothing.", code="invalid")
    days = deadline_days(days) if outcome == Outcome.REJECTED else None
    with transaction.atomic():
        row = (
            Answer.objects.select_for_update(of=("self",))
            .select_related("operator", "finding", "alert")
            .get(pk=answer_row.pk)
        )
        if AnswerDecision.objects.filter(answer=row).exists():
            raise Conflict("This answer has been decided on already.", code="already_decided")
        requests = list(
            ClarificationRequest.objects.select_for_update()
            .filter(answer=row, state=RequestState.ANSWERED)
            .select_related("requester")
            .order_by("id")
        )
        authority.require_decider(user, {r.requester_id for r in requests})
        subject = Subject.of(row)
        if not requests:
            # An answer nobody asked for is decided by the subject's own inspectorate (or the treaty body): one
            # that reads it as another country's (a run's alert, the other row of a lost chip) does not
            # settle it for them (a decision is once per answer).
            require_own_country(user, subject.row.country)
            if outcome == Outcome.REJECTED and subject.is_closed():
                # Its rejection would open a request, which a closed subject does not take (request_clarification).
                raise Conflict(
                    f"This {subject.kind} is closed: rejecting an answer nobody asked for would ask about it again.",
                    code="subject_closed",
                )
        now = timezone.now()
        decision = AnswerDecision(
            answer=row, outcome=outcome, by=user, organisation=user.organisation, reason=reason, at=now
        )
        opened = []
        if outcome == Outcome.ACCEPTED:
            for request in requests:
                request.state = RequestState.ACCEPTED
                request.save(update_fields=["state"])
            decision.closed = bool(close) and _close(user, subject, reason)
        else:
            decision.deadline = now + timedelta(days=days)
            for request in requests:
                request.state, request.deadline, request.round = RequestState.OPEN, decision.deadline, request.round + 1
                request.save(update_fields=["state", "deadline", "round"])
            if not requests:  # nobody asked: the rejection asks, in its own words
                opened.append(_open_request(user, subject, row.operator, reason, days))
        decision.save()
        parties, countries = _readers(row, user.organisation, *(r.requester for r in requests))
        decision.log_index = append_event(
            f"answer.{outcome}",
            subject.object_id,
            {
                "answer": row.pk,
                "decision": decision.pk,
                subject.kind: subject.row.pk,
                "operator": row.operator.code,
                "by": user.username,
                "by_organisation": _org_code(user),
                "reason": reason,
                "closed": decision.closed,
                "requests": [r.pk for r in requests],
                "opened": [r.pk for r in opened],
                "deadline": decision.deadline.isoformat() if decision.deadline else None,
                "at": now.isoformat(),
            },
            parties=parties,
            countries=countries,
        )
        decision.save(update_fields=["log_index"])
    return decision


def _close(user, subject, reason):
    """Close the subject with the accepted answer through its own (logged) transition; False if already closed."""
    if subject.is_closed():
        return False
    if subject.finding is not None:
        from inventory.services.findings import resolve_finding

        resolve_finding(user, subject.finding, reason)
    else:
        from compliance.services import transition

        transition(user, subject.alert, "resolve", reason)
    return True


# --- the clock -----------------------------------------------------------------------------------


def escalate_overdue(now=None, batch=500):
    """Escalate every open request whose deadline has passed (Celery beat; idempotent). Returns the alerts raised."""
    now = now or timezone.now()
    raised = []
    while True:
        due = list(
            ClarificationRequest.objects.filter(state=RequestState.OPEN, deadline__lt=now)
            .order_by("deadline", "id")
            .values_list("pk", flat=True)[:batch]
        )
        done = [alert for pk in due if (alert := _escalate(pk, now)) is not None]
        raised += done
        if len(due) < batch or not done:
            return raised


def _escalate(pk, now):
    with transaction.atomic():
        request = (
            ClarificationRequest.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=pk, state=RequestState.OPEN, deadline__lt=now)
            .select_related("operator", "requester", "finding__facility", "alert__facility")
            .first()
        )
        if request is None:  # answered meanwhile, or another worker has it
            return None
        # One alert per request and round (its group), raised with the request's state change or not at all.
        alert = _raise_escalation(request, now)
        request.state, request.escalated_at, request.escalation = RequestState.OVERDUE, now, alert
        request.save(update_fields=["state", "escalated_at", "escalation"])
        parties, countries = _readers(request, request.requester)
        append_event(
            "clarification.overdue",
            Subject.of(request).object_id,
            {
                "request": request.pk,
                "operator": request.operator.code,
                "requester": request.requester.code,
                "deadline": request.deadline.isoformat(),
                "round": request.round,
                "escalation": alert.pk,
                "severity": alert.severity,
                "at": now.isoformat(),
            },
            parties=parties,
            countries=countries,
        )
        return alert


def _group(request):
    return f"clarification:{request.pk}:{request.round}"


def _where(request):
    """(scope, subject key, label, facility) of a request's escalation: its alert's, or its finding's site.

    Not a run's or a model's: such an alert is read in every country of its runs (AlertQuerySet, and its events:
    evaluation.readers), while a request about it is the alert's country's and the requester's. Its escalation
    is the operator's in the requester's country, as for a finding of no site, so it tells the run's other
    countries nothing of who asked what, nor that it went unanswered."""
    if request.alert_id and request.alert.scope not in RUN_SCOPES:
        a = request.alert
        return a.scope, a.subject_key, a.subject_label, a.facility
    if request.finding_id and request.finding.facility_id:
        f = request.finding
        return Scope.FACILITY, str(f.facility_id), f.facility.code, f.facility
    country = _alert_country(request)
    return Scope.OPERATOR_COUNTRY, f"{request.operator_id}:{country}", f"{request.operator.code} in {country}", None


def _alert_country(request):
    """The subject's country whose inspectorate asked (so the requester sees the escalation), else the first."""
    requester = request.requester
    if requester.kind == OrgKind.INSPECTORATE and request.country not in (requester.jurisdictions or []):
        return request.other_country or request.country
    return request.country


def _severity():
    severity = settings.CHIPREG_CLARIFICATION_OVERDUE_SEVERITY
    if severity not in Severity.values:
        raise ImproperlyConfigured(
            f"CHIPREG_CLARIFICATION_OVERDUE_SEVERITY is {severity!r}; it is one of {', '.join(Severity.values)}."
        )
    return severity


def _raise_escalation(request, now):
    from compliance.evaluation import _notify
    from compliance.evidence import seal

    scope, key, label, facility = _where(request)
    subject = Subject.of(request)
    late = (now - request.deadline).total_seconds() / 86400
    alert = Alert.objects.create(
        kind=AlertKind.CLARIFICATION,
        group=_group(request),
        scope=scope,
        subject_key=key,
        subject_label=label,
        facility=facility,
        operator=request.operator,
        country=_alert_country(request),
        severity=_severity(),
        title=(
            f"Clarification {request.pk} overdue: {request.operator.code} has not answered "
            f"{request.requester.code} about {subject.label()}"
        ),
        value=round(late, 3),
    )
    # Sealed like every alert's evidence (LOG.md 5): a checkpoint covering the request's entry, and its proof.
    sources = [{"source": "clarification", "id": str(request.pk), "log_index": request.log_index}]
    sealed = seal([sources])
    checkpoint = sealed.checkpoint
    AlertEvidence.objects.create(alert=alert, value=alert.value, sources=sources, **sealed.fields(sources))
    alert.log_index = append_event(
        "alert.raised",
        f"alert:{alert.pk}",
        {
            "alert": alert.pk,
            "kind": alert.kind,
            "group": alert.group,
            "subject": label,
            "severity": alert.severity,
            "clarification": request.pk,
            subject.kind: subject.row.pk,
            "deadline": request.deadline.isoformat(),
            "days_late": alert.value,
            "checkpoint_size": checkpoint.size if checkpoint else None,
            "operator": request.operator.code,
            "country": alert.country,
        },
        parties=sorted({request.operator.code, request.requester.code}),
        countries=[alert.country] if alert.country else [],
    )
    alert.save(update_fields=["log_index"])
    AlertTransition.objects.create(
        alert=alert, to_state=AlertState.OPEN, reason="clarification overdue", log_index=alert.log_index
    )
    _notify(alert, "alert.raised")
    return alert
