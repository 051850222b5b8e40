"""Evaluating rules against subjects, and raising, reopening and clearing alerts.

Incremental: an outbox event names what changed; only the subjects it
touched are recomputed and evaluated. Full: every subject of every rule in
force (on a rule change and periodically). Concurrent evaluations of one
subject meet at the (group, scope, subject) unique constraint, so there is
one alert however many workers race.
"""

import hashlib
import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from compliance import aggregates
from compliance.choices import AlertKind, AlertState, Metric, Scope
from compliance.models import Aggregate, Alert, AlertEvidence, AlertTransition, ThresholdRule
from transparency.checkpoints import latest_checkpoint, sign_if_due
from transparency.events import append_event

log = logging.getLogger(__name__)


# --- which subjects an event touches ----------------------------------------


def subjects_for_facilities(facility_ids):
    """The facility, its clusters, its campus, and the operator-country of its operator."""
    from inventory.models import Cluster, Facility

    facilities = list(
        Facility.objects.filter(pk__in=facility_ids).values_list("pk", "campus_id", "operator_id", "country")
    )
    return {
        Scope.FACILITY: {str(pk) for pk, *_ in facilities},
        Scope.CLUSTER: {
            str(pk) for pk in Cluster.objects.filter(facility_id__in=facility_ids).values_list("pk", flat=True)
        },
        Scope.CAMPUS: {str(c) for _, c, _, _ in facilities if c},
        Scope.OPERATOR_COUNTRY: {f"{op}:{cc}" for _, _, op, cc in facilities},
    }


def subjects_for_organisations(org_ids):
    from registry.models import Chip

    pairs = Chip.objects.filter(custodian_id__in=org_ids).exclude(country="").values_list("custodian_id", "country")
    keys = {f"{op}:{cc}" for op, cc in pairs.distinct()}
    keys |= set(
        Aggregate.objects.filter(scope=Scope.OPERATOR_COUNTRY, operator_id__in=org_ids).values_list(
            "subject_key", flat=True
        )
    )
    return {Scope.OPERATOR_COUNTRY: keys}


def subjects_for_chips(chip_ids):
    from inventory.models import Placement

    facilities = set(
        Placement.objects.filter(chip_id__in=chip_ids, valid_to__isnull=True).values_list("facility_id", flat=True)
    )
    return subjects_for_facilities(facilities)


def merge(*subject_sets):
    out = {}
    for subjects in subject_sets:
        for scope, keys in subjects.items():
            out.setdefault(scope, set()).update(keys)
    return out


# --- values ------------------------------------------------------------------


def metric_value(rule, totals, scope, key, now):
    if rule.metric == Metric.COMPUTE:
        return compute_in_window(rule, scope, key, now)
    if not totals:
        return 0.0
    if rule.metric == Metric.PEAK_OPS:
        return totals["ops"].get(rule.precision or "fastest", 0.0) * 1e12  # stored in tera
    return float(totals[rule.metric])


def compute_in_window(rule, scope, key, now):
    """Upper-bound FLOP reported by usage statements whose period ends in the window.

    Usage is attributed to the facility named in the statement; a cluster's
    usage is that of the chips now placed in it; operator-country usage that
    of the chips the operator holds in that country.
    """
    from attestations.models import UsageRecord
    from inventory.models import Placement

    field = "flop_peak" if rule.basis == "peak" else "flop_fp16"
    records = UsageRecord.objects.filter(period_end__gt=now - timedelta(days=rule.window_days or 1))
    if scope == Scope.FACILITY:
        records = records.filter(facility_id=int(key))
    elif scope == Scope.CAMPUS:
        records = records.filter(facility__campus_id=int(key))
    elif scope == Scope.CLUSTER:
        chips = Placement.objects.filter(cluster_id=int(key), valid_to__isnull=True).values("chip_id")
        records = records.filter(chip_id__in=chips)
    else:
        op, cc = key.split(":")
        records = records.filter(chip__custodian_id=int(op), chip__country=cc)
    return float(records.aggregate(total=Sum(field))["total"] or 0.0)


def usage_subjects(scope, now, days):
    """Subjects with usage reported in the window (they may hold no chips now)."""
    from attestations.models import UsageRecord

    records = UsageRecord.objects.filter(period_end__gt=now - timedelta(days=days))
    if scope == Scope.FACILITY:
        return {str(k) for k in records.values_list("facility_id", flat=True).distinct()}
    if scope == Scope.CAMPUS:
        return {
            str(k)
            for k in records.exclude(facility__campus=None).values_list("facility__campus_id", flat=True).distinct()
        }
    if scope == Scope.OPERATOR_COUNTRY:
        pairs = records.exclude(chip=None).values_list("chip__custodian_id", "chip__country").distinct()
        return {f"{op}:{cc}" for op, cc in pairs}
    return set()


# --- evaluation --------------------------------------------------------------


def evaluate(subjects, now=None, rules=None):
    """Refresh the subjects' aggregates and evaluate every rule in force of their scope.

    Returns the alerts raised or reopened.
    """
    now = now or timezone.now()
    rules = list(rules if rules is not None else ThresholdRule.objects.in_force(now))
    changed = []
    for scope, keys in subjects.items():
        if keys is not None and not keys:
            continue
        totals = aggregates.refresh(scope, keys)
        scope_rules = [r for r in rules if r.scope == scope]
        if not scope_rules:
            continue
        if keys is None:
            # Full evaluation: every subject that holds chips, was ever aggregated, or reported usage.
            keys = set(totals) | set(Aggregate.objects.filter(scope=scope).values_list("subject_key", flat=True))
            if any(r.metric == Metric.COMPUTE for r in scope_rules):
                keys |= usage_subjects(scope, now, max(r.window_days or 1 for r in scope_rules))
        stored = {a.subject_key: a for a in Aggregate.objects.filter(scope=scope, subject_key__in=keys)}
        for key in keys:
            for rule in scope_rules:
                value = metric_value(rule, totals.get(str(key)), scope, str(key), now)
                alert = apply(rule, scope, str(key), stored.get(str(key)), value)
                if alert is not None:
                    changed.append(alert)
    return changed


def evaluate_all(now=None):
    return evaluate({scope: None for scope in Scope.values}, now=now)


def apply(rule, scope, key, aggregate, value):
    """Raise, reopen or clear the alert of (rule, subject) for this value."""
    group = f"rule:{rule.pk}"
    crossing = rule.crosses(value)
    existing = Alert.objects.filter(group=group, scope=scope, subject_key=key).first()
    if not crossing:
        if existing is not None and existing.cleared_at is None:
            Alert.objects.filter(pk=existing.pk).update(cleared_at=timezone.now())
        return None
    if existing is None:
        return _raise(rule, scope, key, aggregate, value)
    if existing.state in (AlertState.RESOLVED, AlertState.DISMISSED) and existing.cleared_at is not None:
        return _reopen(existing, rule, scope, key, value)
    if existing.cleared_at is not None:
        Alert.objects.filter(pk=existing.pk).update(cleared_at=None)
    return None


def _comparison_text(rule):
    return ">" if rule.comparison == "gt" else "≥"


def _raise(rule, scope, key, aggregate, value):
    label = aggregate.label if aggregate else key
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                kind=AlertKind.THRESHOLD,
                rule=rule,
                group=f"rule:{rule.pk}",
                scope=scope,
                subject_key=key,
                subject_label=label,
                facility_id=int(key) if scope == Scope.FACILITY else None,
                operator_id=aggregate.operator_id if aggregate else None,
                country=aggregate.country if aggregate else "",
                severity=rule.severity,
                title=f"{rule.name}: {label} at {value:,.4g} {_comparison_text(rule)} {rule.value:,.4g}",
                value=value,
                threshold=rule.value,
            )
            evidence = freeze(alert, rule, scope, key, value)
            alert.log_index = append_event(
                "alert.raised",
                f"alert:{alert.pk}",
                _alert_data(alert, evidence),
                parties=[alert.operator.code] if alert.operator_id else [],
                countries=[alert.country] if alert.country else [],
            )
            alert.save(update_fields=["log_index"])
            AlertTransition.objects.create(
                alert=alert, to_state=AlertState.OPEN, reason="threshold crossed", log_index=alert.log_index
            )
            _notify(alert, "alert.raised")
            return alert
    except IntegrityError:
        # Another evaluation raised it first: one alert per (rule version, subject).
        return None


def _reopen(alert, rule, scope, key, value):
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        if alert.state not in (AlertState.RESOLVED, AlertState.DISMISSED) or alert.cleared_at is None:
            return None
        previous = alert.state
        alert.state = AlertState.OPEN
        alert.cleared_at = None
        alert.reopened += 1
        alert.value = value
        alert.save()
        evidence = freeze(alert, rule, scope, key, value)
        index = append_event(
            "alert.reopened",
            f"alert:{alert.pk}",
            _alert_data(alert, evidence),
            parties=[alert.operator.code] if alert.operator_id else [],
            countries=[alert.country] if alert.country else [],
        )
        AlertTransition.objects.create(
            alert=alert, from_state=previous, to_state=AlertState.OPEN, reason="crossed again", log_index=index
        )
        _notify(alert, "alert.reopened")
        return alert


def freeze(alert, rule, scope, key, value):
    rows = aggregates.chips_in(scope, key)
    chips = sorted({r[0] for r in rows})
    text = "".join(f"{c}\n" for c in chips)
    sources = sorted({(r[1], r[2], r[3]) for r in rows if r[1]}, key=lambda s: (s[0], str(s[1])))[:1000]
    # A checkpoint that covers what put the chips there (signed now if due).
    checkpoint = sign_if_due(wait=False) or latest_checkpoint()
    return AlertEvidence.objects.create(
        alert=alert,
        value=value,
        threshold=rule.value if rule else None,
        comparison=rule.comparison if rule else "",
        chip_count=len(chips),
        chips_sha256=hashlib.sha256(text.encode()).hexdigest(),
        chips=text,
        sources=[{"source": s, "id": i, "log_index": li} for s, i, li in sources],
        checkpoint_size=checkpoint.size if checkpoint else None,
        checkpoint=checkpoint.note if checkpoint else "",
    )


def _alert_data(alert, evidence):
    return {
        "alert": alert.pk,
        "kind": alert.kind,
        "rule": f"{alert.rule.key} v{alert.rule.version}" if alert.rule_id else None,
        "scope": alert.scope,
        "subject": alert.subject_label,
        "severity": alert.severity,
        "value": alert.value,
        "threshold": alert.threshold,
        "chip_count": evidence.chip_count,
        "chips_sha256": evidence.chips_sha256,
        "checkpoint_size": evidence.checkpoint_size,
        "operator": alert.operator.code if alert.operator_id else None,
        "country": alert.country,
    }


def _notify(alert, event):
    """Hand the alert to delivery once this transaction commits."""
    from compliance.delivery import notify

    transaction.on_commit(lambda: notify(alert.pk, event), robust=True)
