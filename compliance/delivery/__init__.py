"""Delivering alerts to subscribers: which subscriptions match, one Delivery each.

notify() runs after the alert's transaction commits (the alert's transaction emits an `alerts.notify`
outbox event: compliance.delivery.tasks.notify_events). It writes one Delivery
row per matching subscription and channel (unique, so running it twice sends
nothing twice) and enqueues the sending task; if the broker is down the rows
stay pending and the periodic sweep (deliver_due) sends them later.
"""

import logging
import uuid

from django.db import IntegrityError, transaction

log = logging.getLogger(__name__)


def active_subscriptions():
    from compliance.models import Subscription

    return list(Subscription.objects.filter(active=True).select_related("organisation"))


def alert_countries(alert):
    """The countries whose inspectorates read the alert's events (compliance.evaluation.readers): its own, or for
    a run's or a model's alert every country of its runs, as the alert itself is read (AlertQuerySet)."""
    from compliance.evaluation import readers

    return readers(alert)[1]


def hears_of(org, alert, countries=None):
    """Whether an organisation may be told of this alert now: the treaty body of every one, an inspectorate
    of those whose events it reads (asked again when a delivery is sent or replayed: jurisdictions change).
    `countries`: alert_countries(alert), when the caller has them. By the alert row's country alone, the US
    inspectorate was never sent the alert of a run at a German and a US site that the row files under DE."""
    from registry.choices import OrgKind

    if org.kind == OrgKind.INSPECTORATE:
        countries = alert_countries(alert) if countries is None else countries
        return bool(set(countries) & set(org.jurisdictions or []))
    return org.kind == OrgKind.TREATY_BODY


def matching_subscriptions(alert, subscriptions=None):
    """The subscriptions that hear of this alert (among `subscriptions`, default: every active one)."""
    from compliance.choices import SEVERITY_RANK

    out = []
    countries = None
    for sub in active_subscriptions() if subscriptions is None else subscriptions:
        if SEVERITY_RANK[alert.severity] < SEVERITY_RANK[sub.min_severity]:
            continue
        countries = alert_countries(alert) if countries is None else countries
        if not hears_of(sub.organisation, alert, countries):
            continue
        if sub.countries and not set(countries) & set(sub.countries):
            continue
        out.append(sub)
    return out


# The transition whose log entry each event is (alert.raised is the alert's own).
_EVENT_STATE = {
    "alert.reopened": "open",
    "alert.acknowledged": "acknowledged",
    "alert.resolved": "resolved",
    "alert.dismissed": "dismissed",
}


def event_log_index(alert, event):
    """The log index of the entry this event wrote: the raise, or the latest matching transition (an
    escalation is recorded as a transition that keeps the state: compliance.evaluation.escalate_overdue)."""
    from django.db.models import F

    state = _EVENT_STATE.get(event)
    if event == "alert.escalated":
        moves = alert.transitions.filter(from_state=F("to_state"))
    elif state is None:
        return alert.log_index
    else:
        moves = alert.transitions.filter(to_state=state).exclude(from_state=F("to_state"))
    index = moves.filter(log_index__isnull=False).order_by("-id").values_list("log_index", flat=True).first()
    return alert.log_index if index is None else index


def checkpoint_note(index):
    """A signed checkpoint that includes `index` (signing one if due), or the latest one.

    notify() runs after the alert's transaction commits, so waiting out the
    signing interval here holds no writer's lock. A log that cannot sign now
    (no key, a damaged store) does not stop the alert: the latest checkpoint goes.
    """
    from transparency.checkpoints import checkpoint_covering, latest_checkpoint, served_note

    checkpoint = None
    if index is not None:
        try:
            checkpoint = checkpoint_covering(index)
        except Exception as exc:  # see docstring
            log.warning("no checkpoint covering log index %s (%s); sending the latest", index, exc)
    checkpoint = checkpoint or latest_checkpoint()
    return served_note(checkpoint) if checkpoint else None


def payload_for(alert, event):
    from django.utils import timezone

    evidence = alert.evidence.order_by("-id").first()
    index = event_log_index(alert, event)
    return {
        "type": event,
        "timestamp": timezone.now().isoformat(),
        "alert": {
            "id": alert.pk,
            "kind": alert.kind,
            "state": alert.state,
            "severity": alert.severity,
            "title": alert.title,
            "scope": alert.scope,
            "subject": alert.subject_label,
            "country": alert.country,
            "value": alert.value,
            "threshold": alert.threshold,
            "rule": f"{alert.rule.key} v{alert.rule.version}" if alert.rule_id else None,
            "raised_at": alert.raised_at.isoformat(),
            "reopened": alert.reopened,
            "log_index": alert.log_index,
            "chips_sha256": evidence.chips_sha256 if evidence else None,
        },
        # This event's own log entry, and a checkpoint whose tree includes it.
        "log_index": index,
        "checkpoint": checkpoint_note(index),
    }


def notify_many(alerts, event):
    """notify() each alert (an id, or [id, sequence]), reading the subscriptions once: with none active, a
    batch costs one query.

    A failure for one alert is logged and the others go on, as separate
    on_commit(robust=True) callbacks would.
    """
    subscriptions = active_subscriptions()
    if not subscriptions:
        return []
    created = []
    for item in alerts:
        alert_id, sequence = item if isinstance(item, list | tuple) else (item, None)
        try:
            created += notify(alert_id, event, subscriptions, sequence=sequence)
        except Exception:
            log.exception("could not notify the subscribers of alert %s (%s)", alert_id, event)
    return created


def notify(alert_id, event, subscriptions=None, sequence=None):
    """Queue the deliveries of this alert's event (`subscriptions`: the active ones, when already read).

    `sequence`: the alert's reopenings when the event happened (default: as it is now), so an event handed
    over late (the outbox relay after a crash) is not taken for a later reopening's, nor sent twice."""
    from compliance.models import Alert, Delivery

    alert = Alert.objects.select_related("rule").get(pk=alert_id)
    sequence = alert.reopened if sequence is None else sequence
    created = []
    event_payload = None  # one event payload (and one checkpoint) for every subscriber of this event
    for sub in matching_subscriptions(alert, subscriptions):
        for channel, target in (("webhook", sub.webhook_url), ("email", sub.email)):
            if not target:
                continue
            if Delivery.objects.filter(
                subscription=sub, alert=alert, event=event, sequence=sequence, channel=channel
            ).exists():
                continue  # already queued for this subscriber: never twice
            event_payload = event_payload or payload_for(alert, event)
            # Named in the signed body: the registry-wide `v1a` signature alone would let one subscriber
            # forward a genuine message to another's receiver as if addressed to it.
            payload = {**event_payload, "subscription": sub.pk}
            try:
                with transaction.atomic():
                    created.append(
                        Delivery.objects.create(
                            subscription=sub,
                            alert=alert,
                            event=event,
                            sequence=sequence,
                            channel=channel,
                            webhook_id=f"msg_{uuid.uuid4().hex}",
                            payload=payload,
                        )
                    )
            except IntegrityError:
                continue  # already queued for this subscriber: never twice
    for delivery in created:
        enqueue(delivery.pk)
    return created


def enqueue(delivery_id, countdown=None):
    from compliance.delivery.tasks import deliver

    try:
        deliver.apply_async((delivery_id,), countdown=countdown)
    except Exception as exc:  # broker down: the sweep sends it later
        log.warning("could not enqueue delivery %s (%s); the sweep will send it", delivery_id, exc)
