"""One chip: identity, figures, history, placements, the statements naming it
(with their log receipts verified here), findings. And the search box."""

from django.shortcuts import redirect, render

from attestations.models import Attestation, ChipEvidence
from console.access import console_view, not_found, sightings_for, usage_for
from console.receipts import verify_receipts
from console.tables import wants_csv
from console.tablespec import Column, Table
from inventory.models import Finding, Placement
from protocol.serials import normalize_chip_id, normalize_serial
from registry.choices import OrgKind
from registry.models import Chip, ChipEvent, HardwareIdentity, Organisation

SHOWN = 100
STATEMENTS_SHOWN = 20

_STAMP = "{{ %s|stamp }}"
_WHEN = "{{ %s|when }}"


def _iso(value):
    return value.isoformat() if value else ""


def _receipt(name, default=""):
    return lambda s: getattr(s["receipt"], name) if s["receipt"] else default


# The statements naming the chip: dicts of attestation, when, what, receipt (and usage for usage records).
STATEMENTS = Table(
    "attestations",
    "attestations.csv",
    (
        Column("#", "{{ row.attestation.pk }}", "attestation", lambda s: s["attestation"].pk),
        Column(
            "Kind",
            "{{ row.attestation.kind }}{% if row.attestation.flagged %} "
            '<span class="sev sev-high">revoked key</span>{% endif %}',
            "kind",
            lambda s: s["attestation"].kind,
        ),
        Column(
            "When", _STAMP % "row.when", "when", lambda s: s["when"].isoformat(), css="stamp", title=_WHEN % "row.when"
        ),
        Column(
            "What",
            "{{ row.what }}{% if row.usage %} · {{ row.usage.flop_fp16|num }} FLOP, "
            "{{ row.usage.utilization|pct }} util.{% endif %}",
            "what",
            lambda s: s["what"],
            css="small",
        ),
        Column(
            "Log index",
            '{{ row.receipt.log_index|default_if_none:"—" }}',
            "log_index",
            _receipt("log_index"),
            css="num",
        ),
        Column(
            "Tree size",
            '{{ row.receipt.tree_size|default_if_none:"—" }}',
            "tree_size",
            _receipt("tree_size"),
            css="num",
        ),
        Column(
            "Receipt",
            '{% if row.receipt.verified %}<span class="verified">verified</span>{% else %}'
            '<span class="failed">FAILED</span> <span class="small">{{ row.receipt.problem }}</span>{% endif %}',
            "verified",
            lambda s: bool(s["receipt"] and s["receipt"].verified),
        ),
        Column(csv="problem", value=_receipt("problem")),
        Column(csv="flop_fp16", value=lambda s: s["usage"].flop_fp16 if s.get("usage") else ""),
    ),
    css="compact",
)

PLACEMENTS = Table(
    "placements",
    "placements.csv",
    (
        Column(
            "Facility",
            "<a href=\"{% url 'console:facility' row.facility.code %}\">{{ row.facility.code }}</a>",
            "facility",
            lambda p: p.facility.code,
        ),
        Column(
            "Cluster", '{{ row.cluster.code|default:"—" }}', "cluster", lambda p: p.cluster.code if p.cluster else ""
        ),
        Column(
            "From",
            _STAMP % "row.valid_from",
            "valid_from",
            lambda p: p.valid_from.isoformat(),
            css="stamp",
            title=_WHEN % "row.valid_from",
        ),
        Column(
            "To",
            "{% if row.valid_to %}{{ row.valid_to|when }}{% else %}<strong>now</strong>{% endif %}",
            "valid_to",
            lambda p: _iso(p.valid_to),
            css="small",
        ),
        Column("Source", "{{ row.get_source_display }}", "source", lambda p: p.source, css="small"),
        Column(csv="source_id", value=lambda p: p.source_id),
        Column(csv="log_index", value=lambda p: p.log_index),
    ),
    css="compact",
)

_STATE = (
    '{% for k, v in row.STATE.items %}{{ k }} {{ v|default:"—" }}{% if not forloop.last %}, {% endif %}{% endfor %}'
)

HISTORY = Table(
    "events",
    "history.csv",
    (
        Column("When", _STAMP % "row.at", "at", lambda e: e.at.isoformat(), css="stamp", title=_WHEN % "row.at"),
        Column(
            "Change",
            "{{ row.get_kind_display }}: "
            + _STATE.replace("STATE", "before")
            + " → "
            + _STATE.replace("STATE", "after"),
            css="small",
        ),
        Column(csv="kind", value=lambda e: e.kind),
        Column(
            "By",
            '{{ row.actor.username|default:"—" }}'
            "{% if row.actor_organisation %} ({{ row.actor_organisation.code }}){% endif %}",
            "actor",
            lambda e: e.actor.username if e.actor else "",
            css="small",
        ),
        Column(csv="organisation", value=lambda e: e.actor_organisation.code if e.actor_organisation else ""),
        Column(csv="before", value=lambda e: e.before),
        Column(csv="after", value=lambda e: e.after),
        Column("Reason", '{{ row.reason|default:"" }}', "reason", lambda e: e.reason, css="small"),
        Column(csv="log_index", value=lambda e: e.log_index),
    ),
    css="compact",
)

FINDINGS = Table(
    "findings",
    "findings.csv",
    (
        Column(csv="id", value=lambda f: f.pk),
        Column("Detected", _STAMP % "row.detected_at", css="stamp", title=_WHEN % "row.detected_at"),
        Column(
            "Kind",
            "<a href=\"{% url 'console:finding' row.pk %}\"><code>{{ row.kind }}</code></a>",
            "kind",
            lambda f: f.kind,
        ),
        Column(
            "Facility",
            "{% if row.facility %}"
            "<a href=\"{% url 'console:facility' row.facility.code %}\">{{ row.facility.code }}</a>"
            "{% else %}—{% endif %}",
            "facility",
            lambda f: f.facility.code if f.facility else "",
        ),
        Column(csv="source", value=lambda f: f.source),
        Column(csv="source_id", value=lambda f: f.source_id),
        Column(csv="detected_at", value=lambda f: f.detected_at.isoformat()),
        Column("Detail", "{{ row.detail }}", css="small"),
        Column(
            "Resolved",
            _STAMP % "row.resolved_at",
            "resolved_at",
            lambda f: _iso(f.resolved_at),
            css="stamp",
            title=_WHEN % "row.resolved_at",
        ),
        Column(csv="detail", value=lambda f: f.detail),
    ),
    css="compact",
)


def _chip(user, public_id):
    return (
        Chip.objects.restrict(user)
        .by_public_id(public_id)
        .select_related(
            "manufacturer",
            "model",
            "model__manufacturer",
            "custodian",
            "registered_by",
            "hardware_identity__enrolled_by",
        )
        .first()
    )


@console_view
def chip_detail(request, public_id):
    user = request.user
    chip = _chip(user, public_id)
    if chip is None:
        return not_found(request, f"No chip {public_id[:100]!r} in your view.")
    events = ChipEvent.objects.restrict(user).filter(chip=chip).select_related("actor", "actor_organisation")
    placements = Placement.objects.restrict(user).filter(chip=chip).select_related("facility", "cluster")
    findings = Finding.objects.restrict(user).filter(chip=chip).select_related("facility")
    sightings = list(
        sightings_for(user)
        .filter(chip=chip)
        .select_related("facility")
        .order_by("-observed_at", "-id")[:STATEMENTS_SHOWN]
    )
    usage = list(
        usage_for(user).filter(chip=chip).select_related("facility").order_by("-period_start", "-id")[:STATEMENTS_SHOWN]
    )
    ids = {s.attestation_id for s in sightings} | {u.attestation_id for u in usage}
    attestations = {
        a.pk: a
        for a in Attestation.objects.restrict(user)
        .filter(pk__in=ids)
        .select_related("operator", "facility", "landmark")
        .defer("envelope")
    }
    table = request.GET.get("table") if wants_csv(request) else None
    if table == "events":
        return HISTORY.csv(events.order_by("id"), f"history-{chip.serial}.csv")
    if table == "placements":
        return PLACEMENTS.csv(placements.order_by("valid_from", "id"), f"placements-{chip.serial}.csv")
    if table == "findings":
        return FINDINGS.csv(findings.order_by("id"), f"findings-{chip.serial}.csv")
    receipts = verify_receipts(attestations.values())
    statements = []
    for s in sightings:
        a = attestations.get(s.attestation_id)
        if a is not None:
            statements.append(
                {
                    "attestation": a,
                    "when": s.observed_at,
                    "what": f"seen in {s.facility.code}" + (f" / {s.cluster_code}" if s.cluster_code else ""),
                    "receipt": receipts.get(a.pk),
                }
            )
    for u in usage:
        a = attestations.get(u.attestation_id)
        if a is not None:
            statements.append(
                {
                    "attestation": a,
                    "when": u.period_start,
                    "usage": u,
                    "receipt": receipts.get(a.pk),
                    "what": f"usage in {u.facility.code}",
                }
            )
    statements.sort(key=lambda s: (s["when"], s["attestation"].pk), reverse=True)
    if table == "attestations":
        return STATEMENTS.csv(statements, f"attestations-{chip.serial}.csv")
    checkpoint_text = next((r.checkpoint for r in receipts.values() if r.checkpoint), "")
    context = {
        "chip": chip,
        "model": chip.model,
        "h100e": chip.model.h100e,
        "events": events.order_by("-id")[:SHOWN],
        "placements": placements.order_by("-valid_from", "-id")[:SHOWN],
        "statements": statements,
        "statements_table": STATEMENTS,
        "placements_table": PLACEMENTS,
        "history_table": HISTORY,
        "findings_table": FINDINGS,
        "checkpoint_text": checkpoint_text,
        "all_verified": bool(receipts) and all(r.verified for r in receipts.values()),
        "findings": findings.order_by("-id")[:SHOWN],
        "identity": getattr(chip, "hardware_identity", None) if _has_identity(chip) else None,
        "evidence": ChipEvidence.objects.restrict(user)
        .filter(chip=chip)
        .select_related("attestation")
        .order_by("-id")[:SHOWN],
    }
    return render(request, "console/chip.html", context)


def _has_identity(chip):
    try:
        chip.hardware_identity  # noqa: B018
    except HardwareIdentity.DoesNotExist:
        return False
    return True


@console_view
def search(request):
    """An exact chip id or serial: straight to the chip's page, or 'not found in your view'."""
    query = (request.GET.get("q") or "").strip()[:120]
    if not query:
        return render(request, "console/search.html", {"query": query, "matches": []})
    user = request.user
    matches = []
    if ":" in query:
        try:
            normalize_chip_id(query)
        except ValueError:
            pass
        else:
            matches = list(Chip.objects.restrict(user).by_public_id(query).select_related("manufacturer", "model")[:2])
    else:
        try:
            serial = normalize_serial(query)
        except ValueError:
            serial = None
        if serial is not None:
            # The chip index is (manufacturer, serial): name the manufacturers so the lookup uses it.
            makers = list(Organisation.objects.filter(kind=OrgKind.MANUFACTURER).values_list("pk", flat=True))
            matches = list(
                Chip.objects.restrict(user)
                .filter(manufacturer_id__in=makers, serial=serial)
                .select_related("manufacturer", "model")[:20]
            )
    if len(matches) == 1:
        return redirect("console:chip", public_id=matches[0].public_id)
    status = 404 if not matches else 200
    return render(request, "console/search.html", {"query": query, "matches": matches}, status=status)
