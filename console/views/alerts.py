"""Alerts: filter, open one, its frozen evidence, acknowledge/resolve/dismiss with a reason."""

import json

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from compliance import evidence as alert_evidence
from compliance import services
from compliance.choices import AlertKind, AlertState, Severity
from compliance.models import Alert
from compliance.services import TRANSITIONS
from console.access import console_view, forbidden, handles_alerts, not_found
from console.forms import ReasonForm
from console.tables import cursor_param, keyset_iter, keyset_page, wants_csv
from console.tablespec import Column, Table
from core.errors import DomainError, NotFound

FILTERS = {"state": AlertState, "severity": Severity, "kind": AlertKind}
ACTIONS = {"acknowledge": "Acknowledge", "resolve": "Resolve", "dismiss": "Dismiss"}

# Download only: the chips an alert's evidence counted, one public id a row.
CHIPS = Table("chips", "alert-chips.csv", (Column(csv="chip", value="chip"),), fields=("chip",))

ALERTS = Table(
    "alerts",
    "alerts.csv",
    (
        Column("#", "<a href=\"{% url 'console:alert' row.pk %}\">{{ row.pk }}</a>", "id", lambda a: a.pk),
        Column(
            "Raised",
            '<span title="{{ row.raised_at|when }}">{{ row.raised_at|stamp }}</span>',
            "raised_at",
            lambda a: a.raised_at.isoformat(),
            css="stamp",
        ),
        Column("Severity", '{% include "console/_severity.html" with s=row.severity %}'),
        Column(
            "State",
            '<span class="state-word st-{{ row.state }}">{{ row.get_state_display }}</span>',
            "state",
            lambda a: a.state,
        ),
        Column(csv="severity", value=lambda a: a.severity),
        Column(csv="kind", value=lambda a: a.kind),
        Column(csv="scope", value=lambda a: a.scope),
        Column(
            "Alert",
            "<a href=\"{% url 'console:alert' row.pk %}\">{{ row.title }}</a>",
        ),
        Column(
            "Subject",
            "{% if row.facility %}<a href=\"{% url 'console:facility' row.facility.code %}\">"
            "{{ row.subject_label }}</a>"
            '{% else %}{{ row.subject_label }}{% endif %} <span class="muted small">{{ row.get_scope_display }}</span>',
            "subject",
            lambda a: a.subject_label,
        ),
        Column("Country", '{{ row.country|default:"—" }}', "country", lambda a: a.country),
        Column(csv="operator", value=lambda a: a.operator.code if a.operator else ""),
        Column(csv="value", value=lambda a: a.value),
        Column(csv="threshold", value=lambda a: a.threshold),
        Column(csv="title", value=lambda a: a.title),
        Column(csv="log_index", value=lambda a: a.log_index),
    ),
)


def _filtered(request):
    qs = Alert.objects.restrict(request.user).select_related("facility", "operator", "rule")
    chosen = {}
    for name, choices in FILTERS.items():
        value = request.GET.get(name, "")
        if value in choices.values:
            qs = qs.filter(**{name: value})
            chosen[name] = value
    return qs, chosen


@console_view
def alert_list(request):
    qs, chosen = _filtered(request)
    if wants_csv(request):
        return ALERTS.csv(keyset_iter(qs))
    rows, next_cursor = keyset_page(qs, cursor_param(request, "before"), size=50, descending=True)
    context = {
        "alerts": rows,
        "table": ALERTS,
        "next_cursor": next_cursor,
        "chosen": chosen,
        "filters": [(name, choices.choices) for name, choices in FILTERS.items()],
    }
    return render(request, "console/alert_list.html", context)


def _alert(request, pk):
    return Alert.objects.restrict(request.user).select_related("facility", "operator", "rule").filter(pk=pk).first()


def _with_seal(evidence):
    """The evidence rows, each with `sealed` (its checkpoint covers its sources, with their proofs)."""
    rows = list(evidence)
    for ev in rows:
        ev.sealed = alert_evidence.is_sealed(ev)
        ev.entry_count = len(alert_evidence.named_indices(ev.sources))
    return rows


def alert_context(request, alert, form):
    """The alert page's own context (its answers and requests: console.views.disputes)."""
    allowed = [(action, label) for action, label in ACTIONS.items() if alert.state in TRANSITIONS[action][0]]
    return {
        "alert": alert,
        "evidence": _with_seal(alert.evidence.defer("chips").order_by("-id")),
        "transitions": list(alert.transitions.select_related("by").order_by("id")),
        "actions": allowed if handles_alerts(request.user) else [],
        "form": form,
    }


def _page(request, alert, form, status=200, **extra):
    from compliance.disputes import Subject
    from console.views.disputes import dispute_context

    context = {**alert_context(request, alert, form), **dispute_context(request, Subject(alert=alert)), **extra}
    return render(request, "console/alert.html", context, status=status)


@console_view
def alert_detail(request, pk):
    alert = _alert(request, pk)
    if alert is None:
        return not_found(request, "No such alert in your view.")
    return _page(request, alert, ReasonForm())


@console_view
@require_POST
def alert_transition(request, pk, action):
    if action not in ACTIONS:
        return not_found(request)
    alert = _alert(request, pk)
    if alert is None:
        return not_found(request, "No such alert in your view.")
    if not handles_alerts(request.user):
        return forbidden(request, "Treaty bodies and inspectorates handle alerts.")
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            services.transition(request.user, alert, action, form.cleaned_data["reason"])
        except DomainError as exc:
            form.add_error(None, str(exc.detail))
        else:
            messages.success(request, f"Alert {alert.pk} {TRANSITIONS[action][1]}.")
            return redirect("console:alert", pk=alert.pk)
    return _page(request, alert, form, status=400, failed_action=action)


@console_view
def alert_bundle(request, pk):
    """The evidence bundle (LOG.md section 5) of the first freeze, or ?evidence=<id>: JSON to verify offline."""
    alert = _alert(request, pk)
    if alert is None:
        return not_found(request, "No such alert in your view.")
    try:
        evidence = alert_evidence.pick(alert, request.GET.get("evidence", ""))
    except NotFound:
        return not_found(request, "This alert has no such evidence.")
    body = json.dumps(alert_evidence.bundle(evidence, request.user), indent=1, ensure_ascii=False) + "\n"
    response = HttpResponse(body.encode(), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="alert-{alert.pk}-evidence-{evidence.pk}.json"'
    return response


@console_view
def alert_chips(request, pk):
    """The chips counted when the alert was raised (one id per line); ?evidence=<id> for a later freeze."""
    alert = _alert(request, pk)
    if alert is None:
        return not_found(request, "No such alert in your view.")
    wanted = request.GET.get("evidence", "")
    try:  # another alert's freeze, or none: a 404, as for the bundle, not an empty list of chips
        evidence = alert_evidence.pick(alert, wanted) if wanted else alert.evidence.order_by("id").first()
    except NotFound:
        return not_found(request, "This alert has no such evidence.")
    if wants_csv(request):
        lines = (evidence.chips if evidence else "").splitlines()
        return CHIPS.csv(((line,) for line in lines), f"alert-{alert.pk}-chips.csv")
    response = HttpResponse(evidence.chips if evidence else "", content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="alert-{alert.pk}-chips.txt"'
    return response
