"""Chips off the books in the console (issue #19): requests awaiting witness, with the witness's accept and
refuse forms, and the watch list. Each form calls registry.disposals, the service the API calls, under the
same rules; what a party sees is each model's restrict(), as in the API."""

from django.contrib import messages
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from console.access import can_write, console_view, forbidden, not_found
from console.forms import OptionalReasonForm
from core.attachments import download_name
from core.errors import DomainError
from registry import disposals
from registry.api.disposal_views import watch_list
from registry.choices import DisposalState
from registry.models import DisposalAttachment, DisposalChip, DisposalRequest

SHOWN = 200
ACTIONS = {"accept": "accepted: the chips left the books", "refuse": "refused"}


def _in_view(user):
    return DisposalRequest.objects.restrict(user).select_related(
        "organisation", "requested_by", "decided_by", "decided_by_organisation"
    )


@console_view
def disposal_list(request):
    """Requests awaiting witness first (oldest first), then the latest decided ones."""
    return _page(request)


def _page(request, form=None, failed=None, status=200):
    rows = _in_view(request.user).prefetch_related("attachments")
    pending = list(rows.filter(state=DisposalState.PENDING).order_by("id")[:SHOWN])
    decided = list(rows.exclude(state=DisposalState.PENDING).order_by("-decided_at", "-id")[:50])
    witness = {r.pk for r in pending if can_write(request.user) and disposals.may_witness(request.user, r)}
    # What the witness is told the chips leave: their statuses when asked (a lost one leaves the watch list).
    statuses = {}
    counted = DisposalChip.objects.filter(request__in=[r.pk for r in pending]).values("request_id", "status")
    for row in counted.annotate(n=Count("id")).order_by("request_id", "status"):
        statuses.setdefault(row["request_id"], []).append(f"{row['n']} {row['status']}")
    for r in pending:
        r.statuses_when_asked = ", ".join(statuses.get(r.pk, []))
    return render(
        request,
        "console/disposals.html",
        {
            "pending": pending,
            "decided": decided,
            "witness": witness,
            "shown": SHOWN,
            "form": form or OptionalReasonForm(),
            "failed": failed,
        },
        status=status,
    )


@console_view
@require_POST
def disposal_decision(request, pk, action):
    if action not in ACTIONS:
        return not_found(request)
    row = _in_view(request.user).filter(pk=pk).first()
    if row is None:
        return not_found(request, "No such disposal request in your view.")
    if not disposals.may_witness(request.user, row):
        return forbidden(request, "Only an inspector of the chips' country or the treaty body witnesses a disposal.")
    form = OptionalReasonForm(request.POST)
    if form.is_valid():
        try:
            disposals.decide(request.user, row, accept=action == "accept", reason=form.cleaned_data["reason"])
        except DomainError as exc:
            form.add_error(None, str(exc.detail))
        else:
            messages.success(request, f"Disposal request {row.pk}: {ACTIONS[action]}.")
            return redirect("console:disposals")
    return _page(request, form=form, failed=row.pk, status=400)


@console_view
def disposal_attachment(request, pk, position):
    row = _in_view(request.user).filter(pk=pk).first()
    found = DisposalAttachment.objects.filter(request=row, position=position).first() if row else None
    if found is None:
        return not_found(request, "No such attachment in your view.")
    response = HttpResponse(bytes(found.content), content_type="application/octet-stream")
    name = download_name(f"disposal-{row.pk}-{found.position}", found.name)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    return response


@console_view
def watchlist(request):
    """Chips reported lost or stolen, in the user's view (the chip's holder, its last country's inspectorate,
    the treaty body): most recently reported first."""
    rows = list(watch_list(request.user).order_by("-since", "-id")[:SHOWN])
    return render(request, "console/watchlist.html", {"rows": rows, "shown": SHOWN})
