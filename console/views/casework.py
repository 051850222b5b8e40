"""The treaty body's tip inbox and cases (issue 19), through casework's services: the same rules as the API.

Tips: the treaty body only (anyone else: a 403 inbox, a 404 tip). A tip's body is opened only where this
deployment holds the treaty body's private key (CHIPREG_TIPS_PRIVATE_KEY_FILE); elsewhere the page says it
cannot be read. Cases: all for the treaty body, the cases it added an inspectorate to for that
inspectorate (read only), nothing for anyone else.
"""

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.db.models import Count, Prefetch
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from casework import cases as case_services
from casework import sealing, tips
from casework.choices import CaseState, LinkKind, TipState, TriageAction
from casework.models import Case, CaseInspectorate, Tip
from console.access import console_view, forbidden, not_found
from core.errors import DomainError
from registry.models import Organisation


def _posted(request, name):
    """A form field as sent. These forms are read without a Django form, so its NUL check is made here: a NUL
    byte (PostgreSQL text refuses it) is the console's 400 page (console_view), never a 500."""
    value = request.POST.get(name, "")
    if "\x00" in value:
        raise BadRequest(f"{name}: null characters are not allowed.")
    return value


def _reads_tips(user):
    org = getattr(user, "organisation", None)
    return org is not None and org.kind == "treaty_body"


def _tip(request, ref):
    try:
        return Tip.objects.restrict(request.user).select_related("case", "triaged_by").filter(ref=ref).first()
    except (ValueError, TypeError):
        return None


@console_view
def tip_list(request):
    if not _reads_tips(request.user):
        return forbidden(request, "The tip inbox is the treaty body's.")
    state = request.GET.get("state", TipState.NEW)
    qs = Tip.objects.restrict(request.user).select_related("case").annotate(n_additions=Count("additions"))
    if state in TipState.values:
        qs = qs.filter(state=state)
    context = {
        "tips": list(qs.order_by("-received_at", "-id")[:200]),
        "state": state,
        "states": TipState.choices,
        "readable": sealing.can_read(),
    }
    return render(request, "console/tip_list.html", context)


def _tip_page(request, tip, error=None, status=200):
    try:
        opened = tips.read(tip)
    except sealing.Unreadable:
        opened = None
    context = {
        "tip": tip,
        "opened": opened,
        "additions": list(tip.additions.all()),
        "actions": TriageAction.choices,
        "open_cases": Case.objects.restrict(request.user).exclude(state=CaseState.CLOSED).order_by("code"),
        "works": case_services.works_cases(request.user),
        "error": error,
    }
    return render(request, "console/tip.html", context, status=status)


@console_view
def tip_detail(request, ref):
    tip = _tip(request, ref)
    if tip is None:
        return not_found(request, "No such tip in your view.")
    return _tip_page(request, tip)


@console_view
@require_POST
def tip_triage(request, ref):
    tip = _tip(request, ref)
    if tip is None:
        return not_found(request, "No such tip in your view.")
    if not case_services.works_cases(request.user):
        return forbidden(request, "Only the treaty body triages tips.")
    try:
        tip = tips.triage(
            request.user,
            tip,
            _posted(request, "action"),
            title=_posted(request, "title"),
            case_code=_posted(request, "case"),
            reason=_posted(request, "reason"),
        )
    except DomainError as exc:
        return _tip_page(request, tip, error=str(exc.detail), status=exc.status if exc.status < 500 else 400)
    if tip.case_id:
        messages.success(request, f"Tip added to {tip.case.code}.")
        return redirect("console:case", code=tip.case.code)
    messages.success(request, "Tip dismissed.")
    return redirect("console:tips")


def _cases(user):
    members = Prefetch("inspectorates", queryset=CaseInspectorate.objects.select_related("organisation"))
    return Case.objects.restrict(user).prefetch_related(members)


@console_view
def case_list(request):
    state = request.GET.get("state", "")
    qs = _cases(request.user)
    if state in CaseState.values:
        qs = qs.filter(state=state)
    context = {
        "cases": list(qs.order_by("-opened_at", "-id")[:200]),
        "state": state,
        "states": CaseState.choices,
        "works": case_services.works_cases(request.user),
    }
    return render(request, "console/case_list.html", context)


@console_view
@require_POST
def case_new(request):
    if not case_services.works_cases(request.user):
        return forbidden(request, "Only the treaty body opens cases.")
    try:
        case = case_services.open_case(request.user, _posted(request, "title"))
    except DomainError as exc:
        messages.error(request, str(exc.detail))
        return redirect("console:cases")
    return redirect("console:case", code=case.code)


def _case(request, code):
    return _cases(request.user).select_related("opened_by").filter(code=code).first()


def _case_page(request, case, error=None, status=200):
    context = {
        "case": case,
        "links": list(case.links.select_related("added_by")),
        "steps": list(case.steps.select_related("by")),
        "tips": list(case.tips.all()) if _reads_tips(request.user) else [],
        "works": case_services.works_cases(request.user) and case.state != CaseState.CLOSED,
        "kinds": [k for k in LinkKind.choices if k[0] != LinkKind.TIP],
        "states": [s for s in CaseState.choices if s[0] in case_services.MOVES[case.state]],
        "inspectorates": Organisation.objects.filter(kind="inspectorate").order_by("code"),
        "error": error,
    }
    return render(request, "console/case.html", context, status=status)


@console_view
def case_detail(request, code):
    case = _case(request, code)
    if case is None:
        return not_found(request, "No such case in your view.")
    return _case_page(request, case)


ACTIONS = ("link", "state", "add-inspectorate", "remove-inspectorate")


@console_view
@require_POST
def case_action(request, code, action):
    if action not in ACTIONS:
        return not_found(request)
    case = _case(request, code)
    if case is None:
        return not_found(request, "No such case in your view.")
    if not case_services.works_cases(request.user):
        return forbidden(request, "Only the treaty body works on cases.")
    try:
        if action == "link":
            case_services.link(request.user, case, _posted(request, "kind"), _posted(request, "target"))
        elif action == "state":
            case_services.set_state(request.user, case, _posted(request, "state"), _posted(request, "conclusion"))
        elif action == "add-inspectorate":
            case_services.add_inspectorate(request.user, case, _posted(request, "organisation"))
        else:
            case_services.remove_inspectorate(request.user, case, _posted(request, "organisation"))
    except DomainError as exc:
        return _case_page(request, case, error=str(exc.detail), status=exc.status if exc.status < 500 else 400)
    messages.success(request, f"{case.code}: done.")
    return redirect("console:case", code=case.code)
