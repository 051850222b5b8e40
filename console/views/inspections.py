"""Inspections: the list, recording one (with a CSV of observed serials), one inspection and its balance."""

import heapq
from operator import itemgetter

from django.conf import settings
from django.contrib import messages
from django.db.models import Count
from django.shortcuts import redirect, render

from console.access import console_view, forbidden, not_found, records_inspections
from console.forms import InspectionForm
from console.tables import cursor_param, keyset_iter, keyset_page, wants_csv
from console.tablespec import Column, Table
from core.errors import DomainError
from inventory.chiprefs import parse_csv_listing
from inventory.models import AnyFinding, ChiplessInspectionItem, Facility, Inspection, InspectionItem
from inventory.services.listings import record_inspection

FINDINGS_SHOWN = 200
COUNTED = ("unaccounted", "unexpected", "unknown_chip", "wrong_cluster")

# One inspection's findings (its reconciliation at the time).
FINDINGS = Table(
    "findings",
    "inspection-findings.csv",
    (
        Column(csv="id", value=lambda f: f.pk),
        Column(
            "Kind",
            "<a href=\"{% url 'console:finding' row.pk %}\"><code>{{ row.kind }}</code></a>",
            "kind",
            lambda f: f.kind,
        ),
        Column(
            "Chip",
            '{% if row.chip_id %}<a href="{% chip_url row.chip_ref %}">{{ row.chip_ref }}</a>'
            "{% else %}{{ row.chip_ref }}{% endif %}",
            "chip",
            lambda f: f.chip_ref,
        ),
        Column(csv="detected_at", value=lambda f: f.detected_at.isoformat()),
        Column("Detail", "{{ row.detail }}", css="small"),
        Column(
            "Resolved",
            "{{ row.resolved_at|when }}",
            "resolved_at",
            lambda f: f.resolved_at.isoformat() if f.resolved_at else "",
            css="small",
        ),
        Column(csv="detail", value=lambda f: f.detail),
    ),
    css="compact",
)

# Download only: the observed serials as recorded, `chip,cluster` (the upload's own format), raw tuples.
OBSERVED = Table(
    "observed",
    "inspection.csv",
    (
        Column(csv="chip", value="chip_ref"),
        Column(csv="cluster", value=lambda c: c or "", key="cluster__code"),
    ),
    fields=("id", "chip_ref", "cluster__code"),
)

INSPECTIONS = Table(
    "inspections",
    "inspections.csv",
    (
        Column("#", "<a href=\"{% url 'console:inspection' row.pk %}\">{{ row.pk }}</a>", "id", lambda i: i.pk),
        Column(
            "Facility",
            "<a href=\"{% url 'console:facility' row.facility.code %}\">{{ row.facility.code }}</a>",
            "facility",
            lambda i: i.facility.code,
        ),
        Column(
            "Performed",
            '<span title="{{ row.performed_at|when }}">{{ row.performed_at|stamp }}</span>',
            "performed_at",
            lambda i: i.performed_at.isoformat(),
            css="stamp",
        ),
        Column("Inspectorate", "{{ row.inspectorate.code }}", "inspectorate", lambda i: i.inspectorate.code),
        Column("Observed", "{{ row.observed_count|num }}", "observed", lambda i: i.observed_count, css="num"),
        Column(
            "Inspectors",
            '<span class="small">{{ row.inspectors|join:", " }}</span>',
            "inspectors",
            lambda i: ";".join(i.inspectors),
        ),
        Column(csv="seals", value=lambda i: ";".join(i.seals_checked)),
        Column(csv="notes", value=lambda i: i.notes),
        Column("Log", '{{ row.log_index|default_if_none:"—" }}', "log_index", lambda i: i.log_index, css="num"),
    ),
)


@console_view
def inspection_list(request):
    qs = Inspection.objects.restrict(request.user).select_related("facility", "inspectorate", "recorded_by")
    facility = request.GET.get("facility", "")
    if facility:
        qs = qs.filter(facility__code=facility)
    if wants_csv(request):
        return INSPECTIONS.csv(keyset_iter(qs))
    rows, next_cursor = keyset_page(qs, cursor_param(request, "before"), size=50, descending=True)
    return render(
        request,
        "console/inspection_list.html",
        {
            "inspections": rows,
            "table": INSPECTIONS,
            "next_cursor": next_cursor,
            "can_record": records_inspections(request.user),
        },
    )


def _facilities(user):
    # restrict() gives an inspectorate exactly the facilities of its jurisdictions.
    return Facility.objects.restrict(user).order_by("code")


@console_view
def inspection_new(request):
    user = request.user
    if not records_inspections(user):
        return forbidden(request, "Only inspectorates record inspections.")
    facilities = _facilities(user)
    if request.method == "POST":
        form = InspectionForm(request.POST, request.FILES, facilities=facilities)
        if form.is_valid():
            data = form.cleaned_data
            try:
                rows = parse_csv_listing(data["observed"].read(), settings.CHIPREG_BULK_MAX_ROWS)
                inspection, summary = record_inspection(
                    user,
                    data["facility"],
                    data["performed_at"],
                    rows,
                    inspectors=data["inspectors"],
                    seals=data["seals"],
                    notes=data["notes"],
                )
            except DomainError as exc:
                form.add_error(None, str(exc.detail))
            else:
                found = sum(summary["findings"].values())
                messages.success(
                    request,
                    f"Inspection {inspection.pk} recorded: {summary['observed']} chips observed, "
                    f"{found} discrepanc{'y' if found == 1 else 'ies'}, log index {summary['log_index']}.",
                )
                return redirect("console:inspection", pk=inspection.pk)
        status = 400
    else:
        initial = {"facility": request.GET.get("facility")} if request.GET.get("facility") else {}
        form = InspectionForm(facilities=facilities, initial=initial)
        status = 200
    return render(request, "console/inspection_form.html", {"form": form}, status=status)


def _inspection(request, pk):
    return (
        Inspection.objects.restrict(request.user)
        .select_related("facility", "facility__operator", "inspectorate", "recorded_by")
        .filter(pk=pk)
        .first()
    )


@console_view
def inspection_detail(request, pk):
    inspection = _inspection(request, pk)
    if inspection is None:
        return not_found(request, "No such inspection in your view.")
    findings = AnyFinding.objects.restrict(request.user).filter(source="inspection", source_id=str(inspection.pk))
    if wants_csv(request):
        return FINDINGS.csv(keyset_iter(findings), f"inspection-{inspection.pk}-findings.csv")
    # Its reconciliation is what recording it found: the observed listing against the
    # books at that instant, stored as findings (grouped here, never recounted).
    counts = dict(findings.order_by().values_list("kind").annotate(n=Count("id")))
    context = {
        "inspection": inspection,
        "counts": {kind: counts.get(kind, 0) for kind in COUNTED},
        "total": sum(counts.values()),
        "findings": findings.order_by("id")[:FINDINGS_SHOWN],
        "table": FINDINGS,
    }
    return render(request, "console/inspection.html", context)


@console_view
def inspection_csv(request, pk):
    """The observed serials as recorded, `chip,cluster` (the upload's own format)."""
    inspection = _inspection(request, pk)
    if inspection is None:
        return not_found(request, "No such inspection in your view.")
    # The chips the registry knows and the references it does not are two tables with one id sequence:
    # merged by id, they read back in the order they were stored.
    known, unknown = (
        model.objects.filter(inspection=inspection).values_list(*OBSERVED.fields)
        for model in (InspectionItem, ChiplessInspectionItem)
    )
    rows = heapq.merge(keyset_iter(known), keyset_iter(unknown), key=itemgetter(0))
    return OBSERVED.csv(rows, f"inspection-{inspection.pk}.csv")
