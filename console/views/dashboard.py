"""The dashboard (per role: what the user's organisation may see) and the map."""

from django.db.models import Count, Sum
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from attestations.models import Attestation, Rejection
from compliance.choices import AlertState, Metric, Scope, Severity
from compliance.evaluation import metric_value
from compliance.models import Alert, ThresholdRule
from console import svg
from console.access import aggregates_for, console_view
from console.tables import keyset_iter, wants_csv
from console.views import dashboard_tables as tables
from inventory.models import Facility

TOP = 25
# Rules whose value is a stored aggregate (compute windows are sums over usage: see the facility page).
STORED_METRICS = {Metric.TPP: "tpp", Metric.CHIP_COUNT: "chip_count", Metric.H100E: "h100e", Metric.MEMORY: "memory_gb"}
SEVERITIES = list(reversed(Severity.values))  # critical first


def totals_of(aggregate):
    """An Aggregate row as the totals dict compliance.evaluation reads."""
    if aggregate is None:
        return None
    return {
        "chip_count": aggregate.chip_count,
        "tpp": aggregate.tpp,
        "h100e": aggregate.h100e,
        "memory_gb": aggregate.memory_gb,
        "ops": aggregate.ops or {},
    }


def stored_rules(scope, now=None):
    """In-force rules of `scope` whose value is read from stored aggregates."""
    rules = ThresholdRule.objects.in_force(now or timezone.now()).filter(scope=scope)
    return [r for r in rules if r.metric in STORED_METRICS or r.metric == Metric.PEAK_OPS]


def nearest_thresholds(user, limit=10):
    """Facilities closest to (or over) a stored-metric facility rule, highest ratio first.

    Reads at most TOP stored facility aggregates per metric ordered by that
    metric, so the cost does not grow with the number of facilities.
    """
    now = timezone.now()
    rules = stored_rules(Scope.FACILITY, now)
    if not rules:
        return []
    facility_aggs = aggregates_for(user).filter(scope=Scope.FACILITY, chip_count__gt=0)
    candidates = {}
    for field in sorted({STORED_METRICS.get(r.metric, "tpp") for r in rules}):
        for agg in facility_aggs.order_by(f"-{field}", "id")[:TOP]:
            candidates[agg.pk] = agg
    rows = []
    for agg in candidates.values():
        best = None
        for rule in rules:
            value = metric_value(rule, totals_of(agg), Scope.FACILITY, agg.subject_key, now)
            ratio = value / rule.value if rule.value else 0.0
            if best is None or ratio > best["ratio"]:
                best = {"ratio": ratio, "rule": rule, "value": value}
        rows.append({"aggregate": agg, **best})
    rows.sort(key=lambda r: (-r["ratio"], r["aggregate"].label))
    for row in rows:
        row["bar"] = svg.ratio_bar(
            row["ratio"],
            title=f"{row['ratio']:.0%} of {row['rule'].name} ({row['rule'].get_comparison_display()} "
            f"{row['rule'].value:,.6g} {row['rule'].metric})",
        )
    return rows[:limit]


@console_view
def dashboard(request):
    user = request.user
    operator_country = aggregates_for(user).filter(scope=Scope.OPERATOR_COUNTRY, chip_count__gt=0)
    alerts = Alert.objects.restrict(user)
    if wants_csv(request):
        return _dashboard_csv(request, operator_country, alerts)
    by_country = list(_by_country(operator_country).order_by("-h100e", "country")[:TOP])
    top = max((r["h100e"] or 0 for r in by_country), default=0) or 1
    for row in by_country:
        row["bar"] = svg.ratio_bar((row["h100e"] or 0) / top, css="plain", title=f"{row['h100e']:,.1f} H100e")
    by_operator = list(operator_country.select_related("operator").order_by("-h100e", "id")[:TOP])
    top = max((a.h100e for a in by_operator), default=0) or 1
    operator_rows = [
        {"aggregate": a, "bar": svg.ratio_bar(a.h100e / top, css="plain", title=f"{a.h100e:,.1f} H100e")}
        for a in by_operator
    ]
    severity_rows = _severity_rows(alerts)
    context = {
        "by_country": by_country,
        "operator_rows": operator_rows,
        "severity_rows": severity_rows,
        "open_total": sum(r["n"] for r in severity_rows),
        "nearest": nearest_thresholds(user),
        "attestations": _recent_attestations(user).order_by("-id")[:10],
        "rejections": _recent_rejections(user).order_by("-id")[:10],
        "tables": tables,
        "recent_alerts": alerts.filter(state=AlertState.OPEN).select_related("facility").order_by("-id")[:8],
    }
    return render(request, "console/dashboard.html", context)


def _severity_rows(alerts):
    counts = dict(alerts.filter(state=AlertState.OPEN).values_list("severity").annotate(n=Count("id")).order_by())
    return [{"severity": s, "label": Severity(s).label, "n": counts.get(s, 0)} for s in SEVERITIES]


def _recent_attestations(user):
    return Attestation.objects.restrict(user).select_related("operator", "facility").defer("envelope", "header")


def _recent_rejections(user):
    return Rejection.objects.restrict(user).select_related("organisation", "user")


def _by_country(operator_country):
    return operator_country.values("country").annotate(
        chips=Sum("chip_count"), h100e=Sum("h100e"), tpp=Sum("tpp"), operators=Count("id")
    )


def _dashboard_csv(request, operator_country, alerts):
    table = request.GET.get("table", "operators")
    user = request.user
    if table == "countries":
        return tables.COUNTRIES.csv(_by_country(operator_country).order_by("country"))
    if table == "alerts":
        return tables.BY_SEVERITY.csv(_severity_rows(alerts))
    if table == "nearest":
        return tables.NEAREST.csv(nearest_thresholds(user, limit=TOP))
    if table == "attestations":
        return tables.ATTESTATIONS.csv(_recent_attestations(user).order_by("-id")[:10])
    if table == "rejections":
        return tables.REJECTIONS.csv(_recent_rejections(user).order_by("-id")[:10])
    return tables.OPERATORS.csv({"aggregate": a} for a in keyset_iter(operator_country.select_related("operator")))


def alert_states(user, facility_ids=None):
    """{facility pk: "high" | "other"} from the open alerts the user may see."""
    qs = Alert.objects.restrict(user).filter(state=AlertState.OPEN, facility__isnull=False)
    if facility_ids is not None:
        qs = qs.filter(facility_id__in=facility_ids)
    states = {}
    for facility_id, severity in qs.values_list("facility_id", "severity").distinct():
        if severity in (Severity.HIGH, Severity.CRITICAL):
            states[facility_id] = "high"
        else:
            states.setdefault(facility_id, "other")
    return states


MAP_LIMIT = 20_000


@console_view
def facility_map(request):
    user = request.user
    facilities = list(
        Facility.objects.restrict(user)
        .order_by("id")
        .values("id", "code", "name", "latitude", "longitude", "country", "operator__code")[:MAP_LIMIT]
    )
    states = alert_states(user)
    points = [
        {
            "lat": f["latitude"],
            "lon": f["longitude"],
            "code": f["code"],
            "name": f["name"],
            "state": states.get(f["id"], "none"),
            "href": reverse("console:facility", args=[f["code"]]),
            "country": f["country"],
            "operator": f["operator__code"],
        }
        for f in facilities
    ]
    if wants_csv(request):
        return tables.MAP.csv(points)
    fit = request.GET.get("view") == "fit"
    context = {
        "map": svg.world_map(points, fit=fit),
        "fit": fit,
        "points": points,
        "table": tables.MAP,
        "truncated": len(facilities) >= MAP_LIMIT,
        "legend": [
            ("high", svg.STATE_TEXT["high"]),
            ("other", svg.STATE_TEXT["other"]),
            ("none", svg.STATE_TEXT["none"]),
        ],
        "counts": {s: sum(1 for p in points if p["state"] == s) for s in ("high", "other", "none")},
    }
    return render(request, "console/map.html", context)
