"""Export approvals: the exporting inspectorate's queue of requested export authorisations for its
jurisdictions, with approve and refuse (through compliance.exports, as the API decides), and every export
authorisation in the reader's view (an operator's own, both countries' inspectorates', the treaty body's all)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from compliance import exports
from console.access import can_write, console_view, not_found
from console.forms import OptionalReasonForm
from console.tables import wants_csv
from console.views.export_tables import ALL, PENDING
from core.errors import DomainError
from inventory.choices import ExportStatus
from inventory.models import ExportAuthorisation
from registry.choices import OrgKind

ACTIONS = {"approve": "approved", "refuse": "refused"}


def _in_view(user):
    return (
        ExportAuthorisation.objects.restrict(user)
        .select_related("exporter", "receiver", "destination_facility", "decided_by_organisation")
        .defer("chips")
    )


def _pending(user):
    """Requested exports from this inspectorate's jurisdictions: what it alone decides."""
    org = user.organisation
    if org is None or org.kind != OrgKind.INSPECTORATE:
        return ExportAuthorisation.objects.none()
    return (
        _in_view(user)
        .filter(status=ExportStatus.REQUESTED, origin_country__in=org.jurisdictions or [])
        .order_by("requested_at", "id")
    )


@console_view
def export_approvals(request):
    pending = list(_pending(request.user)[:500])
    table = request.GET.get("table", "")
    everything = _in_view(request.user).order_by("-requested_at", "-id")
    if wants_csv(request):
        return PENDING.csv(pending) if table == "pending" else ALL.csv(list(everything[:10_000]))
    context = {
        "pending": pending,
        "pending_table": PENDING,
        "inspectorate": bool(request.user.organisation and request.user.organisation.kind == OrgKind.INSPECTORATE),
        "decides": can_write(request.user),
        "exports": list(everything[:200]),
        "exports_table": ALL,
    }
    return render(request, "console/export_approvals.html", context)


@console_view
@require_POST
def export_decision(request, pk, action):
    if action not in ACTIONS:
        return not_found(request)
    try:
        auth = _in_view(request.user).filter(pk=pk).first()
    except ValidationError:  # not a UUID: names nothing
        auth = None
    if auth is None:
        return not_found(request, "No such export authorisation in your view.")
    form = OptionalReasonForm(request.POST)
    if form.is_valid():
        try:
            exports.decide(request.user, auth, action == "approve", form.cleaned_data["reason"])
        except DomainError as exc:
            status = exc.status if exc.status in (400, 403, 409) else 400
            return render(
                request,
                "console/error.html",
                {"title": "Not decided", "message": str(exc.detail)},
                status=status,
            )
        messages.success(request, f"Export {auth.reference}: {ACTIONS[action]}.")
        return redirect("console:export-approvals")
    return render(request, "console/error.html", {"title": "Not decided", "message": "Check the reason."}, status=400)
