"""Facilities: the list in the user's view, one facility's page, its reconciliation."""

from datetime import UTC, datetime, timedelta

from django.db.models import Q, Sum
from django.shortcuts import render
from django.utils import timezone

from attestations import windows
from attestations.bases import record_field
from attestations.models import Attestation
from compliance import covered
from compliance.choices import AlertState, Metric, Scope
from compliance.evaluation import late_window_value, metric_value
from compliance.models import Aggregate, Alert, ThresholdRule
from console import svg
from console.access import aggregates_for, any_usage_for, console_view, usage_days_for, visible_facility
from console.models import ReconciliationItem
from console.reconciliation import snapshot_for
from console.tables import cursor_param, keyset_iter, keyset_page, wants_csv
from console.tablespec import Column, Table
from console.views.dashboard import alert_states, totals_of
from console.views.facility_tables import (
    ATTESTATIONS,
    CLUSTERS,
    DISCREPANCIES,
    FINDINGS,
    INSPECTIONS,
    INVENTORY,
    INVENTORY_FIELDS,
    RULES,
    TRANSFERS,
    USAGE,
    cluster_csv_rows,
    transfer_rows,
)
from inventory.models import AnyFinding, Cluster, Facility, Inspection, Placement, Transfer
from inventory.services.reconciliation import reconcile

INVENTORY_PAGE = 50
USAGE_DAYS = 30
RECON_SHOWN = 200

# Rows: {"facility", and on the page "aggregate" (its stored totals) and "state" (its open alerts)}.
FACILITIES = Table(
    "facilities",
    "facilities.csv",
    (
        Column(
            "Facility",
            "<a href=\"{% url 'console:facility' row.facility.code %}\">{{ row.facility.code }}</a>",
            "facility",
            lambda r: r["facility"].code,
        ),
        Column("Name", "{{ row.facility.name }}", "name", lambda r: r["facility"].name),
        Column("Operator", "{{ row.facility.operator.code }}", "operator", lambda r: r["facility"].operator.code),
        Column("Country", "{{ row.facility.country }}", "country", lambda r: r["facility"].country),
        Column(csv="latitude", value=lambda r: r["facility"].latitude),
        Column(csv="longitude", value=lambda r: r["facility"].longitude),
        Column("Status", "{{ row.facility.get_status_display }}", "status", lambda r: r["facility"].status),
        Column(csv="campus", value=lambda r: r["facility"].campus.code if r["facility"].campus else ""),
        Column("Chips", "{{ row.aggregate.chip_count|default:0|num }}", css="num"),
        Column("H100e", "{{ row.aggregate.h100e|default:0|num }}", css="num"),
        Column(
            "Open alerts",
            "<span class=\"state state-{{ row.state }}\">{% if row.state == 'high' %}high/critical"
            "{% elif row.state == 'other' %}open{% else %}none{% endif %}</span>",
        ),
    ),
)


@console_view
def facility_list(request):
    user = request.user
    qs = Facility.objects.restrict(user).select_related("operator", "campus")
    if wants_csv(request):
        return FACILITIES.csv({"facility": f} for f in keyset_iter(qs))
    rows, next_cursor = keyset_page(qs, cursor_param(request), size=100)
    aggregates = {
        a.subject_key: a
        for a in Aggregate.objects.filter(scope=Scope.FACILITY, subject_key__in=[str(f.pk) for f in rows])
    }
    states = alert_states(user, [f.pk for f in rows])
    facilities = [
        {"facility": f, "aggregate": aggregates.get(str(f.pk)), "state": states.get(f.pk, "none")} for f in rows
    ]
    return render(
        request,
        "console/facility_list.html",
        {"facilities": facilities, "table": FACILITIES, "next_cursor": next_cursor},
    )


class RuleValues:
    """Each rule's value for a subject, computing a usage window once per (basis, days).

    A facility's compute windows are read from the stored daily totals
    (attestations.daily), by the UTC day the usage periods end: the window of
    `window_days` days counts every record whose period ends on or after the
    UTC day of `now - window_days` (whole days, so up to a day more than the
    evaluation's instant cut), and the records of the statements filed late
    that arrived in it (attestations.windows; `late_usage`: the usage records
    the viewer may see). Other scopes' windows are summed by
    compliance.evaluation.
    """

    def __init__(self, now, usage_days=None, late_usage=None):
        self.now = now
        self.usage_days = usage_days
        self.late_usage = late_usage
        self._windows = {}

    def value(self, rule, totals, scope, key):
        if rule.metric in (Metric.COMPUTE, Metric.UNATTRIBUTED):
            # Unattributed compute counts by run and workload, which the daily totals do not keep: summed.
            cache_key = (scope, key, rule.metric, rule.basis, rule.window_days, tuple(rule.workloads or ()))
            if cache_key not in self._windows:
                if rule.metric == Metric.COMPUTE and scope == Scope.FACILITY and self.usage_days is not None:
                    self._windows[cache_key] = self._stored_window(rule, key)
                else:
                    self._windows[cache_key] = metric_value(rule, totals, scope, key, self.now)
            return self._windows[cache_key]
        return metric_value(rule, totals, scope, key, self.now)

    def _stored_window(self, rule, key):
        field = record_field(rule.basis)
        length = timedelta(days=rule.window_days or 1)
        first_day = (self.now - length).date()
        total = self.usage_days.filter(facility_id=int(key), day__gte=first_day).aggregate(t=Sum(f"ended_{field}"))["t"]
        if self.late_usage is not None:
            # The records of statements filed late that ended before the window's first day (the others are in
            # its daily totals already).
            before = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
            records = self.late_usage.filter(
                windows.counted(self.now - length, length), facility_id=int(key), period_end__lt=before
            )
            total = (total or 0.0) + (records.aggregate(t=Sum(field))["t"] or 0.0)
            # Or the fullest window around a statement filed late, if larger (compliance.late_windows).
            mine = self.late_usage.filter(facility_id=int(key))
            total = max(total, late_window_value(mine, self.now - length, length, field))
        return float(total or 0.0)

    def rows(self, rules, totals, scope, key):
        out = []
        for rule in rules:
            value = self.value(rule, totals, scope, key)
            ratio = value / rule.value if rule.value else 0.0
            out.append(
                {
                    "rule": rule,
                    "value": value,
                    "ratio": ratio,
                    "crossed": rule.crosses(value),
                    "bar": svg.ratio_bar(ratio, title=f"{ratio:.1%} of the threshold"),
                }
            )
        return out


def _usage_series(user, facility, now):
    """FLOP (FP16-eq.) per UTC day the usage periods start, last USAGE_DAYS days: stored daily totals."""
    start = (now - timedelta(days=USAGE_DAYS - 1)).date()
    daily = dict(
        usage_days_for(user)
        .filter(facility=facility, day__gte=start, day__lte=now.date())
        .values("day")
        .annotate(flop=Sum("flop_fp16"))
        .order_by("day")
        .values_list("day", "flop")
    )
    return [(start + timedelta(days=i), float(daily.get(start + timedelta(days=i)) or 0.0)) for i in range(USAGE_DAYS)]


def covered_cluster_rows(user, facility, values, in_force):
    """The covered clusters this facility's sites are in (compliance.covered), as far as the user may see
    their stored totals, each against the rules in force (`in_force`) that measure it."""
    rules = [r for r in in_force if r.scope in covered.COMPONENT_SCOPES]
    wanted = Q(pk__in=[])
    for scope, keys in covered.keys_around([facility.pk], rules).items():
        wanted |= Q(scope=scope, subject_key__in=sorted(keys))
    rows = []
    for agg in aggregates_for(user).filter(wanted, chip_count__gt=0).order_by("scope", "subject_key"):
        mine = [r for r in rules if r.scope == agg.scope and covered.applies(r, agg.scope, agg.subject_key)]
        rows.append(
            {
                "aggregate": agg,
                "scope": Scope(agg.scope).label,
                "gbps": covered.parse_key(agg.subject_key)[0],
                "rules": values.rows(mine, totals_of(agg), agg.scope, agg.subject_key),
            }
        )
    return rows


@console_view
def facility_detail(request, code):
    user = request.user
    facility = visible_facility(user, code)
    now = timezone.now()
    placements = (
        Placement.objects.restrict(user)
        .filter(facility=facility, valid_to__isnull=True)
        .select_related("chip__manufacturer", "chip__model", "cluster")
    )
    attestations = (
        Attestation.objects.restrict(user).filter(facility=facility).select_related("operator").defer("envelope")
    )
    findings = AnyFinding.objects.restrict(user).filter(facility=facility)
    inspections = Inspection.objects.restrict(user).filter(facility=facility).select_related("inspectorate")
    transfers = (
        Transfer.objects.restrict(user)
        .filter(Q(origin_facility=facility) | Q(destination_facility=facility) | Q(received_facility=facility))
        .select_related("shipper", "receiver", "origin_facility", "destination_facility", "received_facility")
    )
    values = RuleValues(now, usage_days_for(user), any_usage_for(user))
    in_force = list(
        ThresholdRule.objects.in_force(now).filter(scope__in=[Scope.FACILITY, Scope.CLUSTER, *covered.COMPONENT_SCOPES])
    )
    facility_agg = Aggregate.objects.filter(scope=Scope.FACILITY, subject_key=str(facility.pk)).first()
    table = request.GET.get("table") if wants_csv(request) else None

    if table == "inventory":
        # Tuples, not model instances: a million rows stream in seconds.
        rows = keyset_iter(placements.values_list(*INVENTORY_FIELDS))
        return INVENTORY.csv(rows, f"inventory-{facility.code}.csv")
    if table == "usage":
        return USAGE.csv(_usage_series(user, facility, now), f"attested-compute-{facility.code}.csv")
    if table == "attestations":
        rows = ({"attestation": a} for a in keyset_iter(attestations.defer("envelope", "header")))
        return ATTESTATIONS.csv(rows, f"attestations-{facility.code}.csv")
    if table == "findings":
        return FINDINGS.csv(keyset_iter(findings), f"findings-{facility.code}.csv")
    if table == "inspections":
        return INSPECTIONS.csv(keyset_iter(inspections), f"inspections-{facility.code}.csv")
    if table == "transfers":
        rows = transfer_rows(transfers.order_by("shipped_at", "id"), facility)
        return TRANSFERS.csv(rows, f"transfers-{facility.code}.csv")

    clusters = list(Cluster.objects.restrict(user).filter(facility=facility).order_by("code"))
    cluster_aggs = {
        a.subject_key: a
        for a in Aggregate.objects.filter(scope=Scope.CLUSTER, subject_key__in=[str(c.pk) for c in clusters])
    }
    cluster_rules = [r for r in in_force if r.scope == Scope.CLUSTER]
    cluster_rows = [
        {
            "cluster": c,
            "aggregate": cluster_aggs.get(str(c.pk)),
            "rules": values.rows(cluster_rules, totals_of(cluster_aggs.get(str(c.pk))), Scope.CLUSTER, str(c.pk)),
        }
        for c in clusters
    ]
    if table == "clusters":
        return CLUSTERS.csv(cluster_csv_rows(cluster_rows), f"clusters-{facility.code}.csv")
    facility_rules = values.rows(
        [r for r in in_force if r.scope == Scope.FACILITY], totals_of(facility_agg), Scope.FACILITY, str(facility.pk)
    )
    if table == "thresholds":
        return RULES.csv(facility_rules, f"thresholds-{facility.code}.csv")
    component_rows = covered_cluster_rows(user, facility, values, in_force)

    inventory, next_cursor = keyset_page(
        placements.values_list(*INVENTORY_FIELDS), cursor_param(request), size=INVENTORY_PAGE
    )
    latest = list(attestations.defer("envelope").order_by("-id")[:10])
    att_findings = {}
    for f in findings.filter(source="attestation", source_id__in=[str(a.pk) for a in latest]).order_by("id")[:500]:
        att_findings.setdefault(f.source_id, []).append(f)
    attestation_rows = [{"attestation": a, "findings": att_findings.get(str(a.pk), [])} for a in latest]
    usage = _usage_series(user, facility, now)
    context = {
        "facility": facility,
        "aggregate": facility_agg,
        "facility_rules": facility_rules,
        "cluster_rows": cluster_rows,
        "component_rows": component_rows,
        "inventory": inventory,
        "next_cursor": next_cursor,
        "after": cursor_param(request),
        "usage_chart": svg.column_chart([(d.strftime("%m-%d"), v) for d, v in usage], unit="FLOP (FP16-eq.)"),
        "usage_total": sum(v for _, v in usage),
        "attestation_rows": attestation_rows,
        "findings": findings.order_by("-id")[:20],
        "inspections": inspections.order_by("-performed_at", "-id")[:20],
        "transfers": list(transfer_rows(transfers.order_by("-shipped_at")[:20], facility)),
        "tables": {
            "inventory": INVENTORY,
            "rules": RULES,
            "attestations": ATTESTATIONS,
            "findings": FINDINGS,
            "inspections": INSPECTIONS,
            "transfers": TRANSFERS,
        },
        "alerts": Alert.objects.restrict(user)
        .filter(facility=facility, state__in=[AlertState.OPEN, AlertState.ACKNOWLEDGED])
        .order_by("-id")[:20],
        "usage_days": USAGE_DAYS,
    }
    return render(request, "console/facility.html", context)


@console_view
def facility_reconciliation(request, code):
    """The material balance: book against the last declaration, attestation and inspection.

    Read from the stored snapshot (console.reconciliation), a page of
    discrepancies at a time. `?format=csv` downloads every discrepancy of the
    snapshot shown; `?format=csv&live=1` computes the balance now (complete
    and current, but seconds for a facility of hundreds of thousands of chips).
    """
    facility = visible_facility(request.user, code)
    live = wants_csv(request) and request.GET.get("live") == "1"
    snapshot = None if live else snapshot_for(facility)
    if wants_csv(request) and (live or snapshot.at is None):
        # Computed now: asked for, or no balance stored yet (a download is never empty for want of one).
        result = reconcile(facility, timezone.now())
        live_rows = (
            (None, d.kind, d.chip_ref, d.source, d.source_id, d.book_cluster, d.listed_cluster, d.chip_pk)
            for d in result.discrepancies
        )
        return DISCREPANCIES.csv(live_rows, f"reconciliation-{facility.code}-{result.at.date().isoformat()}-live.csv")
    items = ReconciliationItem.objects.filter(snapshot=snapshot)
    if wants_csv(request):
        rows = keyset_iter(items.values_list(*DISCREPANCIES.fields))
        return DISCREPANCIES.csv(rows, f"reconciliation-{facility.code}-{snapshot.at.date().isoformat()}.csv")
    after = cursor_param(request)
    fragment = request.GET.get("fragment") == "1"
    shown, next_cursor = keyset_page(
        items.values_list(*DISCREPANCIES.fields), None if fragment else after, size=RECON_SHOWN
    )
    sources = []
    for name in ("declaration", "attestation", "inspection"):
        info = (snapshot.sources or {}).get(name)
        if info and info.get("date"):
            info = {**info, "date": datetime.fromisoformat(info["date"])}
        sources.append({"name": name, "info": info})
    context = {
        "facility": facility,
        "snapshot": snapshot,
        "result": snapshot,
        "sources": sources,
        "never_received": ((snapshot.sources or {}).get("transfers") or {}).get("never_received", 0),
        "discrepancies": shown,
        "table": DISCREPANCIES,
        "more": max(0, snapshot.discrepancy_count - len(shown)) if fragment or not after else 0,
        "next_cursor": None if fragment else next_cursor,
        "after": after,
        "fragment": fragment,
    }
    template = "console/_reconciliation.html" if fragment else "console/reconciliation.html"
    return render(request, template, context)
