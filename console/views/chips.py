"""One chip: identity, figures, history, placements, the statements naming it
(with their log receipts verified here), findings. And the search box."""

from django.shortcuts import redirect, render

from attestations.models import Attestation
from console.access import console_view, not_found, sightings_for, usage_for
from console.receipts import verify_receipts
from console.tables import csv_response, wants_csv
from inventory.models import Finding, Placement
from protocol.serials import normalize_chip_id, normalize_serial
from registry.choices import OrgKind
from registry.models import Chip, ChipEvent, Organisation

SHOWN = 100
STATEMENTS_SHOWN = 20


def _chip(user, public_id):
    return (
        Chip.objects.restrict(user)
        .by_public_id(public_id)
        .select_related("manufacturer", "model", "model__manufacturer", "custodian", "registered_by")
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
        return csv_response(
            f"history-{chip.serial}.csv",
            ["at", "kind", "actor", "organisation", "before", "after", "reason", "log_index"],
            (
                (
                    e.at.isoformat(),
                    e.kind,
                    e.actor.username if e.actor else "",
                    e.actor_organisation.code if e.actor_organisation else "",
                    e.before,
                    e.after,
                    e.reason,
                    e.log_index,
                )
                for e in events.order_by("id")
            ),
        )
    if table == "placements":
        return csv_response(
            f"placements-{chip.serial}.csv",
            ["facility", "cluster", "valid_from", "valid_to", "source", "source_id", "log_index"],
            (
                (
                    p.facility.code,
                    p.cluster.code if p.cluster else "",
                    p.valid_from.isoformat(),
                    p.valid_to.isoformat() if p.valid_to else "",
                    p.source,
                    p.source_id,
                    p.log_index,
                )
                for p in placements.order_by("valid_from", "id")
            ),
        )
    if table == "findings":
        return csv_response(
            f"findings-{chip.serial}.csv",
            ["id", "kind", "facility", "source", "source_id", "detected_at", "resolved_at", "detail"],
            (
                (
                    f.pk,
                    f.kind,
                    f.facility.code if f.facility else "",
                    f.source,
                    f.source_id,
                    f.detected_at.isoformat(),
                    f.resolved_at.isoformat() if f.resolved_at else "",
                    f.detail,
                )
                for f in findings.order_by("id")
            ),
        )
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
        return csv_response(
            f"attestations-{chip.serial}.csv",
            ["attestation", "kind", "when", "what", "log_index", "tree_size", "verified", "problem", "flop_fp16"],
            (
                (
                    s["attestation"].pk,
                    s["attestation"].kind,
                    s["when"].isoformat(),
                    s["what"],
                    s["receipt"].log_index if s["receipt"] else "",
                    s["receipt"].tree_size if s["receipt"] else "",
                    bool(s["receipt"] and s["receipt"].verified),
                    s["receipt"].problem if s["receipt"] else "",
                    s["usage"].flop_fp16 if s.get("usage") else "",
                )
                for s in statements
            ),
        )
    checkpoint_text = next((r.checkpoint for r in receipts.values() if r.checkpoint), "")
    context = {
        "chip": chip,
        "model": chip.model,
        "h100e": chip.model.h100e,
        "events": events.order_by("-id")[:SHOWN],
        "placements": placements.order_by("-valid_from", "-id")[:SHOWN],
        "statements": statements,
        "checkpoint_text": checkpoint_text,
        "all_verified": bool(receipts) and all(r.verified for r in receipts.values()),
        "findings": findings.order_by("-id")[:SHOWN],
    }
    return render(request, "console/chip.html", context)


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
            # The unique index is (manufacturer, serial): name the manufacturers so the lookup uses it.
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
