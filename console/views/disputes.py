"""Answers and clarification requests in the console: the finding page, the forms on the alert and
finding pages, attachments, and the "answers due" page. Each form calls compliance.disputes, the
service the API calls, under the same rules (compliance.authority)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from compliance import authority, disputes
from compliance.api.dispute_views import answers_in_view, attachment_response, clarifications_in_view
from compliance.dispute_models import AWAITING, AnswerAttachment, AnswerDecision, Outcome, RequestState
from compliance.models import Alert
from console.access import can_write, console_view, forbidden, handles_alerts, not_found
from console.forms import AnswerForm, ClarificationForm, DecisionForm, ReasonForm
from console.views.alerts import alert_context
from core.errors import DomainError
from inventory.models import AnyFinding

DUE_SHOWN = 200


def _finding(request, pk):
    return (
        AnyFinding.objects.restrict(request.user)
        .select_related("facility", "organisation", "other_organisation", "resolved_by")
        .filter(pk=pk)
        .first()
    )


def _alert(request, pk):
    return Alert.objects.restrict(request.user).select_related("facility", "operator", "rule").filter(pk=pk).first()


def _subject(request, kind, pk):
    row = _finding(request, pk) if kind == "finding" else _alert(request, pk)
    if row is None:
        return None
    return disputes.Subject(**{kind: row})


def dispute_context(request, subject, **forms):
    """What the alert and finding pages show of answers and requests, and which forms the user gets."""
    user = request.user
    answers = list(answers_in_view(user).filter(**subject.filter()).order_by("id"))
    requests = list(clarifications_in_view(user).filter(**subject.filter()).order_by("id"))
    requesters = {}
    for r in requests:
        if r.answer_id and r.state == RequestState.ANSWERED:
            requesters.setdefault(r.answer_id, set()).add(r.requester_id)
    writes = can_write(user)
    decidable = {
        a.pk for a in answers if writes and _undecided(a) and authority.decides_for(user, requesters.get(a.pk, set()))
    }
    now = timezone.now()
    return {
        "subject": subject,
        "answers": answers,
        "clarifications": [(r, r.state in AWAITING and r.deadline < now) for r in requests],
        "may_answer": writes and authority.may_answer(user, subject),
        "may_request": writes and handles_alerts(user) and not subject.is_closed() and bool(subject.parties()),
        "decidable": decidable,
        "awaiting_mine": [r for r in requests if r.state in AWAITING and r.operator_id == user.organisation_id],
        "answer_form": forms.get("answer_form") or AnswerForm(),
        "clarify_form": forms.get("clarify_form") or ClarificationForm(),
        "decide_form": forms.get("decide_form") or DecisionForm(),
        "decide_failed": forms.get("decide_failed"),
    }


def _undecided(answer):
    try:
        answer.decision  # noqa: B018 - a reverse one-to-one: DoesNotExist when there is none
    except AnswerDecision.DoesNotExist:
        return True
    return False


@console_view
def finding_detail(request, pk):
    subject = _subject(request, "finding", pk)
    if subject is None:
        return not_found(request, "No such finding in your view.")
    return _render(request, subject)


def _render(request, subject, status=200, **forms):
    """The subject's page (finding, or alert with its own context) with the dispute section."""
    context = dispute_context(request, subject, **forms)
    if subject.kind == "finding":
        return render(request, "console/finding.html", {"finding": subject.finding, **context}, status=status)
    return render(
        request, "console/alert.html", {**alert_context(request, subject.alert, ReasonForm()), **context}, status=status
    )


def _failed(request, subject, exc, **forms):
    status = exc.status if 400 <= exc.status < 500 else 400
    return _render(request, subject, status=status, **forms)


@console_view
@require_POST
def answer_new(request, kind, pk):
    subject = _subject(request, kind, pk)
    if subject is None:
        return not_found(request, f"No such {kind} in your view.")
    if not authority.may_answer(request.user, subject):
        return forbidden(request, "Only the party it concerns answers it, for itself.")
    form = AnswerForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            disputes.answer(
                request.user,
                subject,
                form.cleaned_data["explanation"],
                run=form.cleaned_data["run"],
                attachments=form.uploads(),
            )
        except DomainError as exc:
            form.add_error(None, str(exc.detail))
            return _failed(request, subject, exc, answer_form=form)
        messages.success(request, "Your answer is recorded (and in the transparency log).")
        return redirect(f"console:{kind}", pk=pk)
    return _render(request, subject, status=400, answer_form=form)


@console_view
@require_POST
def clarify(request, kind, pk):
    subject = _subject(request, kind, pk)
    if subject is None:
        return not_found(request, f"No such {kind} in your view.")
    if not handles_alerts(request.user):
        return forbidden(request, "Treaty bodies and inspectorates ask for clarification.")
    form = ClarificationForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            disputes.request_clarification(
                request.user, subject, data["question"], days=data["deadline_days"], operator=data["operator"] or None
            )
        except DomainError as exc:
            form.add_error(None, str(exc.detail))
            return _failed(request, subject, exc, clarify_form=form)
        messages.success(request, "Clarification requested (and in the transparency log).")
        return redirect(f"console:{kind}", pk=pk)
    return _render(request, subject, status=400, clarify_form=form)


@console_view
@require_POST
def answer_decide(request, pk):
    answer = answers_in_view(request.user).select_related("finding", "alert").filter(pk=pk).first()
    if answer is None:
        return not_found(request, "No such answer in your view.")
    subject = disputes.Subject.of(answer)
    if not handles_alerts(request.user):
        return forbidden(request, "Treaty bodies and inspectorates decide on answers.")
    form = DecisionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        outcome = Outcome.ACCEPTED if data["decision"] == "accept" else Outcome.REJECTED
        try:
            disputes.decide(
                request.user, answer, outcome, data["reason"], close=data["close"], days=data["deadline_days"]
            )
        except DomainError as exc:
            form.add_error(None, str(exc.detail))
            return _failed(request, subject, exc, decide_form=form, decide_failed=answer.pk)
        messages.success(request, f"Answer {answer.pk} {outcome}.")
        return redirect(f"console:{subject.kind}", pk=subject.row.pk)
    return _render(request, subject, status=400, decide_form=form, decide_failed=answer.pk)


@console_view
def answer_attachment(request, pk, position):
    answer = answers_in_view(request.user).filter(pk=pk).first()
    found = AnswerAttachment.objects.filter(answer=answer, position=position).first() if answer else None
    if found is None:
        return not_found(request, "No such attachment in your view.")
    return attachment_response(found)


@console_view
def answers_due(request):
    """Requests awaiting an answer: an operator's own (what it owes, soonest deadline first); an inspectorate's
    or the treaty body's, those it sees."""
    user = request.user
    due = (
        clarifications_in_view(user)
        .filter(state__in=AWAITING)
        .select_related("finding__facility", "alert")
        .order_by("deadline", "id")
    )
    mine = user.organisation_id is not None and user.organisation.kind == "operator"
    if mine:
        due = due.filter(operator_id=user.organisation_id)
    now = timezone.now()
    rows = [(r, r.deadline < now) for r in due[:DUE_SHOWN]]
    return render(request, "console/answers_due.html", {"rows": rows, "mine": mine, "shown": DUE_SHOWN, "now": now})
