"""Rules (declared, versioned, retired) and alert transitions, each logged."""

from django.db import transaction

from compliance import versioning
from compliance.choices import AlertState
from compliance.models import Alert, AlertTransition, ThresholdRule
from core.errors import Conflict, Forbidden, Invalid
from inventory.access import require_own_country
from transparency.events import append_event

RULE_FIELDS = (
    "name",
    "legal_reference",
    "metric",
    "precision",
    "window_days",
    "basis",
    "scope",
    "comparison",
    "value",
    "severity",
    "effect",
    "review_days",
    "workloads",
    "run_kinds",
    "link_gbps",
    "clock_days",
    "overdue_severity",
    "effective_from",
    "effective_to",
    "preset",
)

TRANSITIONS = {
    "acknowledge": ({AlertState.OPEN}, AlertState.ACKNOWLEDGED),
    "resolve": ({AlertState.OPEN, AlertState.ACKNOWLEDGED}, AlertState.RESOLVED),
    "dismiss": ({AlertState.OPEN, AlertState.ACKNOWLEDGED}, AlertState.DISMISSED),
}


def _after_rule_change():
    # Through the outbox, like every change: a new rule is evaluated even if
    # the broker is down at the moment it is declared.
    from outbox import emit

    emit("rules.changed")


@transaction.atomic
def declare(user, key, **fields):
    """Version 1 of a new rule, or the next version of an existing one (the old one is superseded)."""
    rule = versioning.declare(ThresholdRule, RULE_FIELDS, user, key, fields, "threshold.declared")
    _after_rule_change()
    return rule


@transaction.atomic
def retire(user, rule):
    return versioning.retire(ThresholdRule, RULE_FIELDS, user, rule, "threshold.retired")


@transaction.atomic
def transition(user, alert, action, reason):
    from compliance.challenge_alerts import reports_on

    allowed, target = TRANSITIONS[action]
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    # An alert is its country's (a run declared in several countries is seen by each one's inspectorate, and
    # raised in one): another inspectorate reads it, and does not close it.
    require_own_country(user, alert.country)
    if action != "acknowledge" and reports_on(user, alert):
        raise Forbidden(
            "This alert reports on a challenge inspection another party requested in your country (its "
            "operator's silence or refusal, or a step of yours): it is escalated to the treaty body, which closes it; "
            "you may acknowledge it.",
            code="party_concerned",
        )
    if alert.state not in allowed:
        raise Conflict(f"An alert that is {alert.state} cannot be {target}.", code="invalid_transition")
    if not reason or not reason.strip():
        raise Invalid("Say why.", code="reason_required")
    return move(alert, target, reason, user)


def move(alert, target, reason, user=None):
    """Move an alert the caller holds locked to `target` and record it: its transition, its log event and its
    webhooks. `user`: who moved it; None for the registry itself (an alert of a
    rule version no longer in force: compliance.evaluation.lapse_alerts)."""
    from compliance.evaluation import _notify, readers

    previous = alert.state
    alert.state = target
    alert.save(update_fields=["state", "updated_at"])
    # Read by whoever reads the alert's own events (a run's or a model's: every country of its runs), and the
    # organisation that moved it.
    parties, countries = readers(alert)
    org = user.organisation.code if user is not None and user.organisation_id else None
    index = append_event(
        f"alert.{target}",
        f"alert:{alert.pk}",
        {
            "alert": alert.pk,
            "from": previous,
            "to": target,
            "by": user.username if user is not None else None,
            "organisation": org,
            "reason": reason,
            "operator": alert.operator.code if alert.operator_id else None,
            "country": alert.country,
        },
        parties=sorted({*parties, *([org] if org else [])}),
        countries=countries,
    )
    AlertTransition.objects.create(
        alert=alert, from_state=previous, to_state=target, by=user, reason=reason, log_index=index
    )
    # Every transition is one message per subscription, as the README lists them (an acknowledgement was logged
    # and never delivered).
    _notify(alert, f"alert.{target}")
    return alert
