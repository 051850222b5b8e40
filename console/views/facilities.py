"""Facilities: the list in the user's view, one facility's page, its reconciliation."""

from datetime import UTC, datetime, time, timedelta

from django.db.models import Q, Sum
from django.db.models.functions import TruncDate
from django.shortcuts import render
from django.utils import timezone

from attestations.models import Attestation
from compliance.choices import AlertState, Metric, Scope
from compliance.evaluation import metric_value
from compliance.models import Aggregate, Alert, ThresholdRule
from console import svg
from console.access import console_view, usage_for, visible_facility
from console.tables import csv_response, cursor_param, keyset_iter, keyset_page, wants_csv
from console.views.dashboard import alert_states, totals_of
from inventory.models import Cluster, Facility, Finding, Inspection, Placement, Transfer
from inventory.services.reconciliation import reconcile

INVENTORY_PAGE = 50
USAGE_DAYS = 30
RECON_SHOWN = 200


@console_view
def facility_list(request):
    user = request.user
    qs = Facility.objects.restrict(user).select_related("operator", "campus")
    if wants_csv(request):
        return csv_response(
            "facilities.csv",
            ["facility", "name", "operator", "country", "latitude", "longitude", "status", "campus"],
            (
                (
                    f.code,
                    f.name,
                    f.operator.code,
                    f.country,
                    f.latitude,
                    f.longitude,
                    f.status,
                    f.campus.code if f.campus else "",
                )
                for f in keyset_iter(qs)
            ),
        )
    rows, next_cursor = keyset_page(qs, cursor_param(request), size=100)
    aggregates = {
        a.subject_key: a
        for a in Aggregate.objects.filter(scope=Scope.FACILITY, subject_key__in=[str(f.pk) for f in rows])
    }
    states = alert_states(user, [f.pk for f in rows])
    facilities = [
        {"facility": f, "aggregate": aggregates.get(str(f.pk)), "state": states.get(f.pk, "none")} for f in rows
    ]
    return render(request, "console/facility_list.html", {"facilities": facilities, "next_cursor": next_cursor})


class RuleValues:
    """Each rule's value for a subject, computing a usage window once per (basis, days)."""

    def __init__(self, now):
        self.now = now
        self._windows = {}

    def value(self, rule, totals, scope, key):
        if rule.metric == Metric.COMPUTE:
            cache_key = (scope, key, rule.basis, rule.window_days)
            if cache_key not in self._windows:
                self._windows[cache_key] = metric_value(rule, totals, scope, key, self.now)
            return self._windows[cache_key]
        return metric_value(rule, totals, scope, key, self.now)

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
    start = (now - timedelta(days=USAGE_DAYS - 1)).date()
    since = datetime.combine(start, time.min, tzinfo=UTC)
    daily = dict(
        usage_for(user)
        .filter(facility=facility, period_start__gte=since, period_start__lte=now)
        .annotate(day=TruncDate("period_start"))
        .values("day")
        .annotate(flop=Sum("flop_fp16"))
        .order_by("day")
        .values_list("day", "flop")
    )
    return [(start + timedelta(days=i), float(daily.get(start + timedelta(days=i)) or 0.0)) for i in range(USAGE_DAYS)]


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
    findings = Finding.objects.restrict(user).filter(facility=facility)
    inspections = Inspection.objects.restrict(user).filter(facility=facility).select_related("inspectorate")
    transfers = (
        Transfer.objects.restrict(user)
        .filter(Q(origin_facility=facility) | Q(destination_facility=facility) | Q(received_facility=facility))
        .select_related("shipper", "receiver", "origin_facility", "destination_facility", "received_facility")
    )
    values = RuleValues(now)
    in_force = list(ThresholdRule.objects.in_force(now).filter(scope__in=[Scope.FACILITY, Scope.CLUSTER]))
    facility_agg = Aggregate.objects.filter(scope=Scope.FACILITY, subject_key=str(facility.pk)).first()
    table = request.GET.get("table") if wants_csv(request) else None

    if table == "inventory":
        # Tuples, not model instances: a million rows stream in seconds. Stored serials are
        # already in the registry's one spelling, so the chip id is a plain join.
        rows = placements.values_list(
            "id",
            "chip__manufacturer__code",
            "chip__serial",
            "chip__model__name",
            "chip__status",
            "cluster__code",
            "valid_from",
            "source",
            "source_id",
            "log_index",
        )
        return csv_response(
            f"inventory-{facility.code}.csv",
            ["chip", "model", "status", "cluster", "valid_from", "source", "source_id", "log_index"],
            (
                (f"{maker}:{serial}", model, status, cluster or "", since.isoformat(), source, source_id, log_index)
                for _, maker, serial, model, status, cluster, since, source, source_id, log_index in keyset_iter(rows)
            ),
        )
    if table == "usage":
        return csv_response(
            f"attested-compute-{facility.code}.csv",
            ["day", "flop_fp16"],
            ((d.isoformat(), v) for d, v in _usage_series(user, facility, now)),
        )
    if table == "attestations":
        return csv_response(
            f"attestations-{facility.code}.csv",
            [
                "id",
                "kind",
                "operator",
                "scope",
                "issued_at",
                "observed_at",
                "period_start",
                "period_end",
                "chips",
                "log_index",
                "flagged",
                "statement_sha256",
            ],
            (
                (
                    a.pk,
                    a.kind,
                    a.operator.code if a.operator else "",
                    a.scope,
                    a.issued_at.isoformat(),
                    a.observed_at.isoformat() if a.observed_at else "",
                    a.period_start.isoformat() if a.period_start else "",
                    a.period_end.isoformat() if a.period_end else "",
                    a.chip_count,
                    a.log_index,
                    a.flagged,
                    a.statement_sha256,
                )
                for a in keyset_iter(attestations.defer("envelope", "header"))
            ),
        )
    if table == "findings":
        return csv_response(
            f"findings-{facility.code}.csv",
            ["id", "kind", "chip", "source", "source_id", "detected_at", "resolved_at", "detail"],
            (
                (
                    f.pk,
                    f.kind,
                    f.chip_ref,
                    f.source,
                    f.source_id,
                    f.detected_at.isoformat(),
                    f.resolved_at.isoformat() if f.resolved_at else "",
                    f.detail,
                )
                for f in keyset_iter(findings)
            ),
        )
    if table == "inspections":
        return csv_response(
            f"inspections-{facility.code}.csv",
            ["id", "performed_at", "inspectorate", "observed", "inspectors", "seals", "log_index"],
            (
                (
                    i.pk,
                    i.performed_at.isoformat(),
                    i.inspectorate.code,
                    i.observed_count,
                    ";".join(i.inspectors),
                    ";".join(i.seals_checked),
                    i.log_index,
                )
                for i in keyset_iter(inspections)
            ),
        )
    if table == "transfers":
        return csv_response(
            f"transfers-{facility.code}.csv",
            ["id", "status", "shipper", "receiver", "origin", "destination", "shipped_at", "received_at"],
            (
                (
                    t.pk,
                    t.status,
                    t.shipper.code,
                    t.receiver.code,
                    t.origin_facility.code if t.origin_facility else t.origin_country,
                    t.destination_facility.code if t.destination_facility else t.destination_country,
                    t.shipped_at.isoformat(),
                    t.received_at.isoformat() if t.received_at else "",
                )
                for t in transfers.order_by("shipped_at", "id")
            ),
        )

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
        return csv_response(
            f"clusters-{facility.code}.csv",
            [
                "cluster",
                "purpose",
                "interconnect_gbps",
                "chips",
                "h100e",
                "tpp",
                "rule",
                "metric",
                "value",
                "threshold",
                "crossed",
            ],
            _cluster_csv_rows(cluster_rows),
        )
    facility_rules = values.rows(
        [r for r in in_force if r.scope == Scope.FACILITY], totals_of(facility_agg), Scope.FACILITY, str(facility.pk)
    )
    if table == "thresholds":
        return csv_response(
            f"thresholds-{facility.code}.csv",
            ["rule", "name", "metric", "comparison", "threshold", "value", "ratio", "crossed", "severity"],
            (
                (
                    f"{r['rule'].key} v{r['rule'].version}",
                    r["rule"].name,
                    r["rule"].metric,
                    r["rule"].comparison,
                    r["rule"].value,
                    r["value"],
                    round(r["ratio"], 6),
                    r["crossed"],
                    r["rule"].severity,
                )
                for r in facility_rules
            ),
        )

    inventory, next_cursor = keyset_page(placements, cursor_param(request), size=INVENTORY_PAGE)
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
        "inventory": inventory,
        "next_cursor": next_cursor,
        "after": cursor_param(request),
        "usage_chart": svg.column_chart([(d.strftime("%m-%d"), v) for d, v in usage], unit="FLOP (FP16-eq.)"),
        "usage_total": sum(v for _, v in usage),
        "attestation_rows": attestation_rows,
        "findings": findings.order_by("-id")[:20],
        "inspections": inspections.order_by("-performed_at", "-id")[:20],
        "transfers": transfers.order_by("-shipped_at")[:20],
        "alerts": Alert.objects.restrict(user)
        .filter(facility=facility, state__in=[AlertState.OPEN, AlertState.ACKNOWLEDGED])
        .order_by("-id")[:20],
        "usage_days": USAGE_DAYS,
    }
    return render(request, "console/facility.html", context)


def _cluster_csv_rows(cluster_rows):
    for row in cluster_rows:
        c, a = row["cluster"], row["aggregate"]
        base = [
            c.code,
            c.purpose,
            c.interconnect_gbps,
            a.chip_count if a else 0,
            a.h100e if a else 0,
            a.tpp if a else 0,
        ]
        if not row["rules"]:
            yield [*base, "", "", "", "", ""]
        for r in row["rules"]:
            rule = r["rule"]
            yield [*base, f"{rule.key} v{rule.version}", rule.metric, r["value"], rule.value, r["crossed"]]


@console_view
def facility_reconciliation(request, code):
    """The material balance now: book against the last declaration, attestation and inspection.

    Served as its own page (and as a fragment the facility page loads after
    it is shown), since a large facility's balance takes longer than a page.
    """
    facility = visible_facility(request.user, code)
    result = reconcile(facility, timezone.now())
    if wants_csv(request):
        return csv_response(
            f"reconciliation-{facility.code}-{result.at.date().isoformat()}.csv",
            ["kind", "chip", "source", "source_id", "book_cluster", "listed_cluster"],
            (
                (d.kind, d.chip_ref, d.source, d.source_id, d.book_cluster or "", d.listed_cluster or "")
                for d in result.discrepancies
            ),
        )
    sources = []
    for name in ("declaration", "attestation", "inspection"):
        info = result.sources.get(name)
        sources.append({"name": name, "info": info})
    context = {
        "facility": facility,
        "result": result,
        "sources": sources,
        "never_received": (result.sources.get("transfers") or {}).get("never_received", 0),
        "discrepancies": result.discrepancies[:RECON_SHOWN],
        "more": max(0, len(result.discrepancies) - RECON_SHOWN),
        "fragment": request.GET.get("fragment") == "1",
    }
    template = "console/_reconciliation.html" if context["fragment"] else "console/reconciliation.html"
    return render(request, template, context)
