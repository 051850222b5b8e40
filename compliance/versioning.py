"""Declared rules in versions, the one mechanism of threshold rules (compliance.services) and destination rules
(compliance.exports): a stable `key`, a new version supersedes the current one (fields not given are carried
over), retiring ends the version in force, and each step is a log event every party reads (the rules bind
them all: transparency.events.EVERY_PARTY). Callers hold the transaction and check who declares."""

from django.db.models import Q
from django.utils import timezone

from compliance.storage import lock_rule_key
from core.errors import Conflict, Invalid
from transparency.events import EVERY_PARTY, append_event


def rule_data(rule, fields, user):
    """What a rule's log event says of it: its fields, key, version and who declared or retired it."""
    data = {f: getattr(rule, f) for f in fields}
    for f in ("effective_from", "effective_to"):
        data[f] = data[f].isoformat() if data[f] else None
    return {**data, "key": rule.key, "version": rule.version, "by": user.username if user else None}


def declare(model, fields, user, key, values, event):
    """Version 1 of a new rule of `model`, or the next version of `key` (the current one superseded).

    Fields a new version does not give are carried over, but for when it takes effect: now, or the current
    version's own start where that is still to come (a correction of a scheduled rule). Carrying a past start
    would have every party read from the log that the new terms governed since the old ones took effect. A new
    rule that names no start takes effect now."""
    lock_rule_key(model._meta.db_table, key)
    current = model.objects.select_for_update().filter(key=key, superseded_at__isnull=True).first()
    version = 1
    if current is None and values.get("effective_from") is None:
        values = {**values, "effective_from": timezone.now()}
    if current is not None:
        merged = {f: getattr(current, f) for f in fields}
        merged["effective_from"] = max(current.effective_from, timezone.now())
        merged.update(values)
        values = merged
        version = current.version + 1
    _check_period(values)
    if current is not None:
        current.superseded_at = timezone.now()
        current.save(update_fields=["superseded_at"])
    rule = model(key=key, version=version, created_by=user, **values)
    rule.full_clean(exclude=["created_by"])
    rule.save()
    rule.log_index = _log(event, rule, fields, user)
    rule.save(update_fields=["log_index"])
    return rule


def _check_period(values):
    """400 `invalid` for a version that would end before it begins, judged on the start it is stored with: the
    serializers judge `effective_to` against the start the request gives, or now, while a next version that names
    none takes the current version's start where that is still to come (or now, for a PATCH). Stored, it was
    logged to every party as a rule in force "from" its start "to" an earlier end, and counted in force over any
    window spanning both (in_force_during)."""
    start, end = values.get("effective_from"), values.get("effective_to")
    if start is not None and end is not None and end <= start:
        message = f"Must be after effective_from ({start.isoformat()}, this version's start)."
        raise Invalid(f"effective_to: {message}", errors={"effective_to": [message]})


def retire(model, fields, user, rule, event):
    """End the rule now (409 `already_retired` if it no longer is in force)."""
    rule = model.objects.select_for_update().get(pk=rule.pk)
    now = timezone.now()
    # A superseded version governs until a later one takes effect (in_force). Retired while that one is only
    # scheduled, the rule would lapse now and come back at the later start, its "retired" event telling every
    # party the rule ended: the version to retire is the scheduled one, which ends the rule now (in_force).
    scheduled = model.objects.filter(key=rule.key, version__gt=rule.version, effective_from__gt=now)
    scheduled = scheduled.filter(Q(effective_to__isnull=True) | Q(effective_to__gt=now)).order_by("-version")
    latest = scheduled.values_list("version", flat=True).first()
    if latest is not None and (rule.effective_to is None or rule.effective_to > now):
        raise Conflict(
            f"{rule} is to be superseded by version {latest}, scheduled: retire that version to end the rule.",
            code="superseded",
        )
    # Once a later version has taken effect, its "retired" event would tell every party the rule ended while
    # it is in force.
    taken_over = model.objects.filter(key=rule.key, version__gt=rule.version).filter(
        Q(effective_from__lte=now) | Q(effective_to__lte=now)
    )
    if rule.superseded_at is not None and taken_over.exists():
        # Taken over by a later version's start, or ended by its retirement (a scheduled successor retired ends
        # the rule: in_force): only a version in force now is the one to retire.
        successor = model.objects.in_force(now).filter(key=rule.key, version__gt=rule.version)
        successor = successor.values_list("version", flat=True).first()
        if successor is None:
            raise Conflict(f"{rule} is no longer in force: the rule was retired.", code="already_retired")
        raise Conflict(
            f"{rule} is superseded by a version in force: retire the rule's current version ({successor}).",
            code="superseded",
        )
    if rule.effective_to is not None and rule.effective_to <= now:
        raise Conflict(f"{rule} is no longer in force.", code="already_retired")
    rule.effective_to = now
    rule.save(update_fields=["effective_to"])
    _log(event, rule, fields, user)
    return rule


def _log(event, rule, fields, user):
    prefix = event.split(".", 1)[0]
    data = rule_data(rule, fields, user)
    return append_event(event, f"{prefix}:{rule.key}", data, parties=[EVERY_PARTY], countries=[])
