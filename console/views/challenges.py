"""Challenge inspections in the console: the list with their clocks, a request form, a page per challenge with
the steps its viewer may take. Every form calls inventory.services.challenges, the service the API calls."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from console.access import console_view, forbidden, not_found
from console.forms import ChallengeRecordForm, ChallengeRequestForm, OptionalReasonForm
from core.errors import DomainError
from inventory.chiprefs import parse_listing
from inventory.models import AnyFinding, ChallengeInspection
from inventory.services import challenges
from transparency.models import LogEventData

SHOWN = 200
STEPS = ("acknowledge", "grant", "refuse", "record")


def _left(seconds):
    """'5 h 12 min' (or '3 d 4 h'), of a number of seconds (its absolute value)."""
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    return f"{days} d {hours} h" if days else f"{hours} h {minutes} min"


def _clock(request, row, now):
    clock = challenges.clock(row, now)
    step, deadline, left = clock if clock else (None, None, None)
    return {
        "row": row,
        "step": step,
        "deadline": deadline,
        "left": _left(left) if clock else "",
        "overdue": clock is not None and left < 0,
        "answers": challenges.answers_for(request.user, row),
        "case_ref": row.case_ref if challenges.sees_case(request.user, row) else "",
    }


@require_safe
@console_view
def challenge_list(request):
    """The challenge inspections in the user's view (restrict(): the requester, the party concerned, the site
    country's inspectorate, the treaty body), awaiting ones first by their next deadline, overdue marked."""
    now = timezone.now()
    rows = list(
        ChallengeInspection.objects.restrict(request.user)
        .select_related("facility", "operator", "requester")
        .order_by("-id")[:SHOWN]
    )
    shown = [_clock(request, row, now) for row in rows]
    shown.sort(key=lambda r: (r["deadline"] is None, r["deadline"] or now, -r["row"].pk))
    context = {"rows": shown, "shown": SHOWN, "now": now, "can_request": challenges.may_request(request.user)}
    return render(request, "console/challenge_list.html", context)


@console_view
def challenge_new(request):
    user = request.user
    if not challenges.may_request(user):
        return forbidden(request, "Only the treaty body, or an inspectorate its rule allows, requests these.")
    status = 200
    if request.method == "POST":
        form = ChallengeRequestForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                row = challenges.request(
                    user,
                    reason=data["reason"],
                    case_ref=data["case"],
                    facility_code=data["facility"] or None,
                    latitude=data["latitude"],
                    longitude=data["longitude"],
                )
            except DomainError as exc:
                form.add_error(None, str(exc.detail))
            else:
                messages.success(request, f"Challenge inspection {row.pk} requested; the party concerned is notified.")
                return redirect("console:challenge", pk=row.pk)
        status = 400
    else:
        form = ChallengeRequestForm(initial={"case": request.GET.get("case", "")})
    return render(request, "console/challenge_form.html", {"form": form}, status=status)


def _challenge(request, pk):
    return (
        ChallengeInspection.objects.restrict(request.user)
        .select_related("facility", "operator", "requester", "requested_by", "inspection")
        .filter(pk=pk)
        .first()
    )


@require_safe
@console_view
def challenge_detail(request, pk):
    row = _challenge(request, pk)
    if row is None:
        return not_found(request, "No such challenge inspection in your view.")
    events = LogEventData.objects.filter(object_id=f"challenge:{row.pk}").order_by("index")
    source, source_id = ("inspection", str(row.inspection_id)) if row.inspection_id else ("challenge", str(row.pk))
    findings = AnyFinding.objects.restrict(request.user).filter(source=source, source_id=source_id).order_by("id")
    context = {
        **_clock(request, row, timezone.now()),
        "events": events,
        "findings": findings[:200],
        "records": challenges.records(request.user, row) and row.state == "access_granted",
        "decides": challenges.answers_for(request.user, row) and row.state in ("requested", "acknowledged"),
        "reason_form": OptionalReasonForm(),
        "record_form": ChallengeRecordForm(initial={"performed_at": timezone.now()}),
    }
    return render(request, "console/challenge.html", context)


@console_view
@require_POST
def challenge_step(request, pk, action):
    """acknowledge, grant, refuse (the party concerned), record (the requester): the service decides who."""
    row = _challenge(request, pk)
    if row is None or action not in STEPS:
        return not_found(request, "No such challenge inspection in your view.")
    allowed = challenges.records if action == "record" else challenges.answers_for
    if not allowed(request.user, row):
        return forbidden(request, "The requester records a challenge inspection; the party concerned answers it.")
    try:
        if action == "record":
            form = ChallengeRecordForm(request.POST)
            if not form.is_valid():
                raise DomainError("; ".join(e for errors in form.errors.values() for e in errors))
            data = form.cleaned_data
            rows = parse_listing(data["observed"], settings.CHIPREG_BULK_MAX_ROWS)
            challenges.record(
                request.user, row.pk, data["performed_at"], rows, seals=data["seals"], notes=data["notes"]
            )
        else:
            form = OptionalReasonForm(request.POST)
            reason = form.cleaned_data["reason"] if form.is_valid() else ""
            if action == "acknowledge":
                challenges.acknowledge(request.user, row.pk, reason)
            else:
                challenges.decide_access(request.user, row.pk, action == "grant", reason)
    except DomainError as exc:
        if exc.status == 404:
            return not_found(request, exc.detail)
        if exc.status == 403:
            return forbidden(request, exc.detail)
        messages.error(request, str(exc.detail))
        return redirect("console:challenge", pk=row.pk)
    messages.success(request, f"Challenge inspection {row.pk}: {action} recorded in the log.")
    return redirect("console:challenge", pk=row.pk)
