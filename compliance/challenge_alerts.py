"""Challenge inspections as alerts: the notice to the party concerned, an overdue step, a refusal of access.

The inventory keeps the challenge and its clocks (inventory.services.challenges); compliance, above it, raises
the alerts: on the outbox event `challenge.changed` (requested, refused) and from Celery beat
(`escalate_challenges`: every step past its deadline, and any notice or refusal whose event was missed).
Each alert is one per (challenge, step) (its group), so running again raises nothing twice.

An alert is seen like any: by the operator of the facility, the inspectorates of the site's country, the treaty
body (and reaches their subscriptions). A requesting inspectorate of another country follows its challenge on
the challenge itself and its log events.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone

from compliance.choices import AlertKind, AlertState, Scope, Severity
from compliance.models import Alert, AlertEvidence, AlertTransition
from inventory.choices import ChallengeState
from inventory.models import ChallengeInspection
from inventory.services import challenges
from transparency.events import append_event

STEPS = ("acknowledge", "access")


def _severity(name):
    value = getattr(settings, name)
    if value not in Severity.values:
        raise ImproperlyConfigured(f"{name} is {value!r}; it is one of {', '.join(Severity.values)}.")
    return value


def _where(row):
    if row.facility_id:
        return Scope.FACILITY, str(row.facility_id), row.facility.code, row.facility
    # An unregistered site has no subject of its own among the scopes: the challenge names it.
    return Scope.OPERATOR_COUNTRY, f"challenge:{row.pk}", f"{row.site_label} ({row.country})", None


def _raise(row, what, severity, title, value=None):
    """One alert of `row` for `what` (requested, refused, acknowledge, access); None if raised already."""
    from compliance.evaluation import _notify
    from compliance.evidence import seal

    scope, key, label, facility = _where(row)
    group = f"challenge:{row.pk}:{what}"
    if Alert.objects.filter(group=group, scope=scope, subject_key=key).exists():
        return None
    alert = Alert.objects.create(
        kind=AlertKind.CHALLENGE,
        group=group,
        scope=scope,
        subject_key=key,
        subject_label=label,
        facility=facility,
        operator=row.operator,
        country=row.country,
        severity=severity,
        title=title[:300],
        value=value,
    )
    # Sealed like every alert's evidence (LOG.md 5): a checkpoint covering the challenge's entry, and its proof.
    sources = [{"source": "challenge", "id": str(row.pk), "log_index": row.log_index}]
    AlertEvidence.objects.create(alert=alert, value=value, sources=sources, **seal([sources]).fields(sources))
    alert.log_index = append_event(
        "alert.raised",
        f"alert:{alert.pk}",
        {
            "alert": alert.pk,
            "kind": alert.kind,
            "group": group,
            "subject": label,
            "severity": severity,
            "challenge": row.pk,
            "step": what,
            "operator": row.operator.code if row.operator_id else None,
            "country": row.country,
        },
        parties=sorted({row.requester.code, *([row.operator.code] if row.operator_id else [])}),
        countries=[row.country],
    )
    alert.save(update_fields=["log_index"])
    AlertTransition.objects.create(
        alert=alert, to_state=AlertState.OPEN, reason=f"challenge {what}", log_index=alert.log_index
    )
    _notify(alert, "alert.raised")
    return alert


def reports_on(user, alert):
    """Whether `alert` reports on a challenge inspection in a country of the user's inspectorate that another
    party requested: its operator's silence or refusal at a facility, or the inspectorate's own at a site that
    is no registered facility. The host may acknowledge such an alert but not resolve or dismiss it
    (compliance.services): a challenge is the verification that does not rest on the host's word, and its
    escalation is to the treaty body, which closes it."""
    org = getattr(user, "organisation", None)
    if alert.kind == AlertKind.FINDING:
        # A finding alert's group is "<finding kind>:<source>:<source id>[:<organisation>]": the findings of
        # another party's challenge in the host's country are the treaty body's to close, as their alerts are.
        _, source, source_id, *_ = [*alert.group.split(":"), "", ""][:4]
        return challenges.host_concerned(org, source, source_id)
    if alert.kind != AlertKind.CHALLENGE:
        return False
    _, pk, *_ = [*alert.group.split(":"), "", ""][:3]  # "challenge:<pk>:<step>"
    return pk.isdigit() and challenges.hosts_challenge(org, int(pk))


def _party(row):
    return row.operator.code if row.operator_id else f"the inspectorate of {row.country}"


def notice(row):
    return _raise(
        row,
        "requested",
        _severity("CHIPREG_CHALLENGE_NOTICE_SEVERITY"),
        f"Challenge inspection {row.pk} of {row.site_label} requested by {row.requester.code}: "
        f"{_party(row)} acknowledges by {row.acknowledge_by:%Y-%m-%d %H:%M} UTC",
    )


def refusal(row):
    return _raise(
        row,
        "refused",
        _severity("CHIPREG_CHALLENGE_REFUSAL_SEVERITY"),
        f"Challenge inspection {row.pk}: {_party(row)} refused access to {row.site_label}",
    )


def sync(pk):
    """The alerts a challenge's state calls for and lacks (the notice, a refusal); idempotent."""
    try:
        with transaction.atomic():
            row = ChallengeInspection.objects.select_related("facility", "operator", "requester").get(pk=pk)
            raised = [notice(row)]
            if row.state == ChallengeState.ACCESS_REFUSED:
                raised.append(refusal(row))
            return [a for a in raised if a is not None]
    except IntegrityError:  # raised meanwhile by another worker
        return []


def _overdue(step, now):
    severity = _severity("CHIPREG_CHALLENGE_OVERDUE_SEVERITY")

    def raise_alert(row):
        deadline = getattr(row, f"{step}_by")
        hours = round((now - deadline).total_seconds() / 3600, 3)
        what = "acknowledged" if step == "acknowledge" else "granted or refused access"
        alert = _raise(
            row,
            step,
            severity,
            f"Challenge inspection {row.pk} overdue: {_party(row)} has not {what} at {row.site_label} "
            f"(deadline {deadline:%Y-%m-%d %H:%M} UTC)",
            value=hours,
        )
        return alert.pk if alert is not None else None

    return raise_alert


def escalate_challenges(now=None, batch=500):
    """Every challenge step past its deadline raises its alert, once (Celery beat). Returns the alert ids."""
    now = now or timezone.now()
    raised = []
    for step in STEPS:
        pks = list(challenges.due(step, now).order_by(f"{step}_by", "id").values_list("pk", flat=True)[:batch])
        raised += [a for pk in pks if (a := challenges.mark_overdue(pk, step, now, _overdue(step, now)))]
    # A notice or a refusal whose outbox event was lost to a failure is raised here (recent ones only).
    since = now - timedelta(days=30)
    for pk in ChallengeInspection.objects.filter(requested_at__gte=since).values_list("pk", flat=True)[:batch]:
        raised += [a.pk for a in sync(pk)]
    return raised
