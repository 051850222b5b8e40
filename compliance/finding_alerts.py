"""Findings become alerts too: one alert per kind of finding, listing and facility.

A reconciliation that finds 2,000 unaccounted chips is one alert that lists
them, not 2,000 alerts. Severity comes from CHIPREG_FINDING_SEVERITY; a kind
mapped to None raises no alert.
"""

import hashlib

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count

from compliance.choices import AlertKind, AlertState, Scope
from compliance.evaluation import _notify
from compliance.evidence import seal
from compliance.models import Alert, AlertEvidence, AlertTransition
from inventory.models import AnyFinding
from transparency.events import append_event


def raise_for(source, source_id):
    """Alerts for the findings of one source (a listing, a statement, a transfer, the silence monitor)."""
    findings = AnyFinding.objects.filter(source=source, resolved_at__isnull=True)
    if source_id != "silence":
        findings = findings.filter(source_id=source_id)
    groups = list(findings.values("kind", "facility_id", "organisation_id", "country").annotate(n=Count("id")))
    # A statement's findings about a chip another party holds concern that party (attestations.store), at the
    # speaker's facility: its alert is its own, not folded into (nor shut out by) the facility operator's.
    from inventory.models import Facility

    operators = dict(
        Facility.objects.filter(pk__in={g["facility_id"] for g in groups if g["facility_id"]}).values_list(
            "pk", "operator_id"
        )
    )
    raised = []
    for g in groups:
        severity = settings.CHIPREG_FINDING_SEVERITY.get(g["kind"])
        if severity is None:
            continue
        subject = str(g["facility_id"] or f"{g['organisation_id']}:{g['country']}")
        scope = Scope.FACILITY if g["facility_id"] else Scope.OPERATOR_COUNTRY
        group = f"{g['kind']}:{source}:{source_id}"
        if g["facility_id"] and g["organisation_id"] not in (None, operators.get(g["facility_id"])):
            group += f":{g['organisation_id']}"
        members = findings.filter(kind=g["kind"], facility_id=g["facility_id"], organisation_id=g["organisation_id"])
        alert = _raise(group, scope, subject, g, severity, members)
        if alert is not None:
            raised.append(alert)
    return raised


def sweep(days=2):
    """Raise the alerts of recent open findings that have none (idempotent)."""
    from datetime import timedelta

    from django.utils import timezone

    recent = AnyFinding.objects.filter(resolved_at__isnull=True, detected_at__gte=timezone.now() - timedelta(days=days))
    raised = []
    for source, source_id in recent.values_list("source", "source_id").distinct():
        raised += raise_for(source, "silence" if source == "monitor" else source_id)
    return raised


def _party_label(g):
    """A subject of no facility by name: the party's code and the country ("op-a in US"), not its key (the
    organisation's row id)."""
    from registry.models import Organisation

    code = Organisation.objects.filter(pk=g["organisation_id"]).values_list("code", flat=True).first()
    return f"{code or 'no party'} in {g['country'] or 'no country'}"


def _raise(group, scope, subject, g, severity, members):
    from inventory.models import Facility

    facility = Facility.objects.filter(pk=g["facility_id"]).first() if g["facility_id"] else None
    label = facility.code if facility else _party_label(g)
    try:
        with transaction.atomic():
            if Alert.objects.filter(group=group, scope=scope, subject_key=subject).exists():
                return None
            kind_label = AnyFinding(kind=g["kind"]).get_kind_display()
            alert = Alert.objects.create(
                kind=AlertKind.FINDING,
                group=group,
                scope=scope,
                subject_key=subject,
                subject_label=label,
                facility=facility,
                operator_id=g["organisation_id"],
                country=g["country"] or "",
                severity=severity,
                title=f"{g['n']} finding(s) at {label}: {kind_label}",
                value=g["n"],
            )
            refs = sorted({r for r in members.values_list("chip_ref", flat=True) if r})
            text = "".join(f"{r}\n" for r in refs)
            ids = list(members.values_list("id", flat=True)[:10_000])
            sources = sorted({(f.source, f.source_id, f.evidence.get("log_index")) for f in members[:1000]})
            sources = [{"source": s, "id": i, "log_index": li} for s, i, li in sources]
            evidence = AlertEvidence.objects.create(
                alert=alert,
                value=g["n"],
                chip_count=len(refs),
                chips_sha256=hashlib.sha256(text.encode()).hexdigest(),
                chips=text,
                findings=ids,
                sources=sources,
                **seal([sources]).fields(sources),
            )
            alert.log_index = append_event(
                "alert.raised",
                f"alert:{alert.pk}",
                {
                    "alert": alert.pk,
                    "kind": alert.kind,
                    "group": group,
                    "subject": label,
                    "severity": severity,
                    "findings": g["n"],
                    "chips_sha256": evidence.chips_sha256,
                    "checkpoint_size": evidence.checkpoint_size,
                    "operator": alert.operator.code if alert.operator_id else None,
                    "country": alert.country,
                },
            )
            alert.save(update_fields=["log_index"])
            AlertTransition.objects.create(
                alert=alert, to_state=AlertState.OPEN, reason="findings", log_index=alert.log_index
            )
            _notify(alert, "alert.raised")
            return alert
    except IntegrityError:
        return None
