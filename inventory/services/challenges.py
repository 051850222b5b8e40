"""Challenge inspections: the request, the clocks, the answers and the record; each step a log event.

Modelled on the Chemical Weapons Convention's challenge inspection (Verification Annex, Part X): the
inspected party is notified at least 12 hours before the team arrives at the point of entry (paragraph 6),
and access within the requested perimeter is given no later than 108 hours after that arrival (paragraph 39).
Here the request is the notification; the party concerned acknowledges it within
CHIPREG_CHALLENGE_ACKNOWLEDGE_HOURS (12), the team is taken to arrive when that window ends, and access is
granted or refused within CHIPREG_CHALLENGE_ACCESS_HOURS (108) of it. Both deadlines are fixed when the
request is made. A step not taken by its deadline escalates (compliance.challenge_alerts, Celery beat); a
refusal is an alert to the treaty body at once.

Who: the treaty body requests anywhere; an inspectorate only where the treaty body's current ChallengeRule
allows it (a declared, versioned rule, each version a log event). The party concerned answers: the
facility's operator (its writers), or for coordinates that are no registered facility, the inspectorate of
the country the coordinates lie in (inventory.geo). The requester (or the treaty body) records what the team
saw. Every event is read by the requester, the party concerned, the site country's inspectorate and the
treaty body; serials seen at an unregistered site become findings against their custodians of record, which
the requester sees only as far as its own view of findings goes (never in the challenge's answer or events).
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, Forbidden, Invalid, NotFound
from inventory.chiprefs import as_logged, resolve_chips
from inventory.choices import ChallengeState, FindingKind, FindingSource
from inventory.geo import check_country
from inventory.models import ChallengeInspection, ChallengeRule, ChallengeSighting, Facility
from inventory.services import CLOCK_SKEW, not_in_future, sealing, watch
from inventory.services.findings import holders_finding, new_finding, store_findings
from inventory.services.listings import listing_digest, store_inspection
from outbox import emit
from registry.choices import OrgKind, Role
from transparency.events import EVERY_PARTY, append_event
from transparency.log import current_size

WRITERS = (Role.ADMIN, Role.MEMBER)


def _org(user):
    return getattr(user, "organisation", None)


def _writer(user):
    if getattr(user, "role", None) not in WRITERS:
        raise Forbidden("Your role in your organisation does not allow this.")


# --- the rule ------------------------------------------------------------------------------------


def declare_rule(user, allowed, reason=""):
    """A new version of the rule of who (besides treaty bodies) may request challenge inspections, and where."""
    org = _org(user)
    if org is None or org.kind != OrgKind.TREATY_BODY:
        raise Forbidden("Only treaty bodies declare who may request challenge inspections.")
    _writer(user)
    entries = _check_allowed(allowed)
    with transaction.atomic():
        latest = ChallengeRule.objects.select_for_update().order_by("-version").first()
        rule = ChallengeRule.objects.create(
            version=(latest.version + 1) if latest else 1,
            allowed=entries,
            reason=reason,
            declared_by=user,
            organisation=org,
            declared_at=timezone.now(),
        )
        rule.log_index = append_event(
            "challenge_rule.declared",
            f"challenge_rule:{rule.version}",
            {
                "version": rule.version,
                "allowed": entries,
                "reason": reason,
                "by": user.username,
                "by_organisation": org.code,
                "at": rule.declared_at.isoformat(),
            },
            parties=[EVERY_PARTY],  # every party reads the rule (GET challenge-rules/), so its record too
            countries=[],
        )
        rule.save(update_fields=["log_index"])
    return rule


def _check_allowed(allowed):
    from registry.models import Organisation

    if not isinstance(allowed, list):
        raise Invalid("allowed is a list of {inspectorate, countries}.", code="invalid_rule")
    entries, codes = [], set()
    for row, entry in enumerate(allowed, start=1):
        if not isinstance(entry, dict) or entry.keys() - {"inspectorate", "countries"}:
            raise Invalid(f"allowed {row}: an object with inspectorate and countries.", code="invalid_rule")
        code, countries = entry.get("inspectorate"), entry.get("countries") or []
        if not isinstance(code, str) or code in codes:
            raise Invalid(f"allowed {row}: an inspectorate's code, once.", code="invalid_rule")
        if not isinstance(countries, list) or not all(isinstance(c, str) and len(c) == 2 for c in countries):
            raise Invalid(f"allowed {row}: countries are ISO 3166-1 alpha-2 codes.", code="invalid_rule")
        codes.add(code)
        entries.append({"inspectorate": code, "countries": sorted({c.upper() for c in countries})})
    known = set(Organisation.objects.filter(code__in=codes, kind=OrgKind.INSPECTORATE).values_list("code", flat=True))
    if codes - known:
        raise Invalid(f"No inspectorate {sorted(codes - known)[0]!r}.", code="invalid_rule")
    return entries


def may_request(user):
    """Whether the kind of party may request at all (treaty bodies; inspectorates, as the rule then says)."""
    org = _org(user)
    return org is not None and org.kind in (OrgKind.TREATY_BODY, OrgKind.INSPECTORATE)


def _rule_for(org, country):
    """The rule version that allows `org` to request in `country` (None for a treaty body); else Forbidden."""
    if org.kind == OrgKind.TREATY_BODY:
        return None
    rule = ChallengeRule.objects.current()
    if rule is None or not rule.allows(org, country):
        raise Forbidden(
            "The treaty body's rule does not allow your inspectorate to request a challenge inspection there.",
            code="not_allowed_by_rule",
        )
    return rule


def _listed(org):
    rule = ChallengeRule.objects.current()
    return rule is not None and any(entry.get("inspectorate") == org.code for entry in rule.allowed or [])


# --- the request ---------------------------------------------------------------------------------


def request(user, *, reason, case_ref="", facility_code=None, latitude=None, longitude=None):
    """Request a challenge inspection of a registered facility (`facility_code`) or of coordinates."""
    org = _org(user)
    if not may_request(user):
        raise Forbidden("Only the treaty body, or an inspectorate its rule allows, requests challenge inspections.")
    _writer(user)
    if org.kind != OrgKind.TREATY_BODY and not _listed(org):
        # An inspectorate the rule names nowhere is refused before its target is looked at.
        raise Forbidden(
            "The treaty body's rule does not allow your inspectorate to request challenge inspections.",
            code="not_allowed_by_rule",
        )
    if (facility_code is None) == (latitude is None or longitude is None):
        raise Invalid("Name a facility, or a latitude and a longitude.", code="invalid_target")
    if facility_code is not None:
        facility = Facility.objects.select_related("operator").filter(code=facility_code).first()
        try:
            rule = _rule_for(org, facility.country) if facility else None
        except Forbidden:
            facility = None  # a facility the requester may not challenge is one it is not told exists
        if facility is None:
            raise NotFound(f"No facility {str(facility_code)[:64]!r} you may challenge.")
        site = (facility.latitude, facility.longitude, facility.country, facility.operator)
    else:
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise Invalid("Coordinates out of range.", code="invalid_target")
        country = check_country(latitude, longitude, "").countries[0]
        if org.kind == OrgKind.INSPECTORATE and country in (org.jurisdictions or []):
            # At a site that is no registered facility the host inspectorate is the party concerned: it would
            # acknowledge, open and record its own challenge. It inspects its territory as it will; a challenge
            # is another party's demand for access.
            raise Forbidden(
                "A site in your jurisdictions that is no registered facility is yours to answer for, not to challenge.",
                code="party_concerned",
            )
        rule = _rule_for(org, country)
        facility, site = None, (latitude, longitude, country, None)
    hours_ack = settings.CHIPREG_CHALLENGE_ACKNOWLEDGE_HOURS
    hours_access = settings.CHIPREG_CHALLENGE_ACCESS_HOURS
    now = timezone.now()
    with transaction.atomic():
        row = ChallengeInspection.objects.create(
            facility=facility,
            latitude=site[0],
            longitude=site[1],
            country=site[2],
            operator=site[3],
            requester=org,
            requested_by=user,
            rule_version=rule.version if rule else None,
            reason=reason,
            case_ref=case_ref or "",
            requested_at=now,
            acknowledge_by=now + timedelta(hours=hours_ack),
            access_by=now + timedelta(hours=hours_ack + hours_access),
        )
        row.log_index = _log(
            row,
            "challenge.requested",
            {
                "reason": reason,
                "rule_version": row.rule_version,
                "by": user.username,
                "at": now.isoformat(),
            },
        )
        row.save(update_fields=["log_index"])
        # The party concerned is told through an alert too (compliance.challenge_alerts), which reaches its
        # and its inspectorate's subscriptions; the outbox carries it even when the workers are down.
        emit("challenge.changed", challenge=row.pk, step="requested")
    return row


def _log(row, event, data):
    """A log event about the challenge, read by the requester, the party concerned, the site country's
    inspectorate and the treaty body (never naming anyone else)."""
    parties = sorted({row.requester.code, *([row.operator.code] if row.operator_id else [])})
    return append_event(
        event,
        f"challenge:{row.pk}",
        {
            "challenge": row.pk,
            "requester": row.requester.code,
            "facility": row.facility.code if row.facility_id else None,
            "latitude": row.latitude,
            "longitude": row.longitude,
            "country": row.country,
            "operator": row.operator.code if row.operator_id else None,
            "state": row.state,
            "acknowledge_by": row.acknowledge_by.isoformat(),
            "access_by": row.access_by.isoformat(),
            **data,
        },
        parties=parties,
        countries=[row.country],
    )


# --- the answers ---------------------------------------------------------------------------------


def host_concerned(org, source, source_id):
    """Whether `org` is the party concerned by what a finding of `source` `source_id` says: an inspectorate of
    the country where another party's challenge inspection took place, a registered facility or not. A challenge
    is the verification that does not rest on the host's word (its operator may refuse the inspectors; at a
    site that is no registered facility the inspectorate itself answers): the host does not close the findings
    of another party's challenge in its country (nor their alerts: compliance.challenge_alerts); the treaty
    body does. Its own challenge's are its own to close.

    A challenge of a site files its findings under the challenge (source `challenge`); one of a registered
    facility records an inspection (listings.store_inspection), whose findings are the inspection's (source
    `inspection`): those of the inspection a challenge recorded are the challenge's too."""
    source = str(source)
    if (
        org is None
        or org.kind != OrgKind.INSPECTORATE
        or source not in (FindingSource.CHALLENGE, FindingSource.INSPECTION)
    ):
        return False
    try:
        pk = int(source_id)
    except (TypeError, ValueError):
        return False
    if source == FindingSource.INSPECTION:
        pk = ChallengeInspection.objects.filter(inspection_id=pk).values_list("pk", flat=True).first()
        if pk is None:  # a routine inspection: its findings are its country's inspectorate's to close
            return False
    return hosts_challenge(org, pk)


def hosts_challenge(org, pk):
    """Whether `org` is an inspectorate of the country of challenge `pk`, which another party requested."""
    if org is None or org.kind != OrgKind.INSPECTORATE:
        return False
    row = ChallengeInspection.objects.filter(pk=pk).values("requester_id", "country").first()
    return row is not None and row["requester_id"] != org.pk and row["country"] in (org.jurisdictions or [])


def answers_for(user, row):
    """Whether `user` answers `row` for the party concerned (the operator; the host inspectorate of a site)."""
    org = _org(user)
    if org is None:
        return False
    if row.facility_id:
        return org.pk == row.operator_id
    return org.kind == OrgKind.INSPECTORATE and row.country in (org.jurisdictions or [])


def _answering(user, pk):
    """The challenge, locked, if `user` answers it; 404 if it may not see it, 403 if it sees but not answers."""
    row = (
        ChallengeInspection.objects.restrict(user)
        .select_for_update(of=("self",))
        .select_related("facility", "operator", "requester")
        .filter(pk=pk)
        .first()
    )
    if row is None:
        raise NotFound(f"No challenge inspection {pk} in your view.")
    if not answers_for(user, row):
        raise Forbidden("Only the party the challenge inspection concerns answers it.", code="not_party")
    _writer(user)
    return row


def acknowledge(user, pk, note=""):
    with transaction.atomic():
        row = _answering(user, pk)
        if row.state != ChallengeState.REQUESTED:
            raise Conflict("This challenge inspection has been acknowledged already.", code="already_acknowledged")
        now = timezone.now()
        row.state, row.acknowledged_at, row.acknowledged_by = ChallengeState.ACKNOWLEDGED, now, user
        row.save(update_fields=["state", "acknowledged_at", "acknowledged_by"])
        _log(
            row,
            "challenge.acknowledged",
            {
                "by": user.username,
                "by_organisation": user.organisation.code,
                "note": note,
                "at": now.isoformat(),
                "late": now > row.acknowledge_by,
            },
        )
    return row


def decide_access(user, pk, granted, reason=""):
    """Grant or refuse access (acknowledging it at the same time if not yet done). A refusal is an alert."""
    if not granted and not reason.strip():
        raise Invalid("A refusal gives its reason.", code="reason_required")
    with transaction.atomic():
        row = _answering(user, pk)
        if row.state not in (ChallengeState.REQUESTED, ChallengeState.ACKNOWLEDGED):
            raise Conflict("Access to this challenge inspection has been decided already.", code="already_decided")
        now = timezone.now()
        acknowledged_now = row.state == ChallengeState.REQUESTED
        if acknowledged_now:
            row.acknowledged_at, row.acknowledged_by = now, user
        row.state = ChallengeState.ACCESS_GRANTED if granted else ChallengeState.ACCESS_REFUSED
        row.access_decided_at, row.access_decided_by, row.access_reason = now, user, reason
        row.save(
            update_fields=[
                "state",
                "acknowledged_at",
                "acknowledged_by",
                "access_decided_at",
                "access_decided_by",
                "access_reason",
            ]
        )
        _log(
            row,
            "challenge.access_granted" if granted else "challenge.access_refused",
            {
                "by": user.username,
                "by_organisation": user.organisation.code,
                "reason": reason,
                "acknowledged_now": acknowledged_now,
                "at": now.isoformat(),
                "late": now > row.access_by,
            },
        )
        if not granted:
            emit("challenge.changed", challenge=row.pk, step="refused")
    return row


# --- the record ----------------------------------------------------------------------------------


def sees_case(user, row):
    """Whether `user` reads the challenge's case reference: the requester and the treaty body. The party
    concerned does not: a case code says which of the treaty body's files the inspection serves, and (the
    codes being sequential) how many there are."""
    return records(user, row)


def records(user, row):
    """The requester's users and the treaty body record the team's observations."""
    org = _org(user)
    return org is not None and (org.pk == row.requester_id or org.kind == OrgKind.TREATY_BODY)


def record(user, pk, performed_at, rows, *, seals=(), inspectors=(), notes=""):
    """What the team saw: serials (`rows` from chiprefs.parse_listing) and seals. Returns (row, summary)."""
    row = ChallengeInspection.objects.restrict(user).select_related("facility__operator", "requester")
    row = row.filter(pk=pk).first()
    if row is None:
        raise NotFound(f"No challenge inspection {pk} in your view.")
    if not records(user, row):
        raise Forbidden("The requester or the treaty body records a challenge inspection.", code="not_requester")
    _writer(user)
    not_in_future(performed_at, "performed_at")
    if performed_at < row.requested_at - CLOCK_SKEW:  # a form's minutes, a clock a little behind
        raise Invalid("performed_at is before the request.", code="invalid_date")
    seal_rows = sealing.parse_seals(seals)
    if not row.facility_id:
        # A site's serials are looked up before the transaction, as an inspection's are (store_inspection): the
        # record's entry takes the log's lock to the commit, and a million serials read under it would hold
        # every other writer. Those whose custody or status changed meanwhile are read again under it.
        mark = current_size()
        resolved = resolve_chips([chip_id for _, chip_id, _ in rows])
    with transaction.atomic():
        locked = ChallengeInspection.objects.select_for_update().get(pk=row.pk)
        if locked.state != ChallengeState.ACCESS_GRANTED:
            raise Conflict(
                "Observations are recorded once, after access was granted.",
                code="already_recorded" if locked.state == ChallengeState.RECORDED else "access_not_granted",
            )
        row.performed_at, row.recorded_by, row.observed_count = performed_at, user, len(rows)
        row.state = ChallengeState.RECORDED
        if row.facility_id:
            row.inspection, summary = store_inspection(
                user,
                user.organisation,
                row.facility,
                performed_at,
                rows,
                inspectors=inspectors,
                seals=seal_rows,
                notes=notes,
                challenge=row,
            )
        row.save(update_fields=["performed_at", "recorded_by", "observed_count", "state", "inspection"])
        index = _log(
            row,
            "challenge.recorded",
            {
                "by": user.username,
                "by_organisation": user.organisation.code,
                "performed_at": performed_at.isoformat(),
                "inspectors": list(inspectors),
                "observed": len(rows),
                "chips_sha256": listing_digest(chip_id for _, chip_id, _ in rows),
                "seals": [sealing.label(s) for s in seal_rows],
                "inspection": row.inspection_id,
            },
        )
        if not row.facility_id:
            # At a site, the record's own entry is what its findings rest on (their evidence's log index, their
            # alerts' sources): logged first, then the findings cite it.
            as_logged(resolved, mark, index)
            summary = _record_site(row, performed_at, rows, seal_rows, index, resolved)
    return row, summary


def _record_site(row, performed_at, rows, seal_rows, log_index, resolved):
    """Serials seen at an unregistered site: each registered one is a finding against its custodian of record
    (seen by it, its country's inspectorate and the treaty body), each unregistered one a finding of the
    site's country. The requester's answer counts what it saw, not whose it is. `log_index`: the record's
    `challenge.recorded` entry, which the findings cite; `resolved`: the serials' chips as they are at it
    (resolve_chips, then chiprefs.as_logged)."""
    ChallengeSighting.objects.bulk_create(
        ChallengeSighting(challenge=row, chip_id=resolved[c][0] if c in resolved else None, chip_ref=c)
        for _, c, _ in rows
    )
    source_id = str(row.pk)
    evidence = {
        "challenge": row.pk,
        "performed_at": performed_at.isoformat(),
        "site_country": row.country,
        "log_index": log_index,
    }
    findings = []
    for _, chip_id, _ in rows:
        if chip_id in resolved:
            pk, custodian_id, _, country = resolved[chip_id]
            findings.append(
                holders_finding(
                    FindingKind.SEEN_UNREGISTERED_SITE,
                    (pk, chip_id, custodian_id, country),
                    source=FindingSource.CHALLENGE,
                    source_id=source_id,
                    detail=f"{chip_id}: seen by challenge inspection {row.pk} at a site that is no registered "
                    f"facility ({row.latitude:.4f},{row.longitude:.4f}).",
                    evidence=evidence,
                )
            )
        else:
            findings.append(
                new_finding(
                    kind=FindingKind.UNKNOWN_CHIP,
                    chip_ref=chip_id,
                    country=row.country,
                    source=FindingSource.CHALLENGE,
                    source_id=source_id,
                    detail=f"{chip_id}: seen by challenge inspection {row.pk} and not registered.",
                    evidence=evidence,
                )
            )
    store_findings(findings)
    # A lost or stolen chip among them is more: a critical sighting (inventory.services.watch), as anywhere.
    watch.raise_sightings(
        resolved,
        source=FindingSource.CHALLENGE,
        source_id=source_id,
        country=row.country,
        when=performed_at,
        log_index=log_index,
    )
    if findings:
        emit("findings.raised", source=str(FindingSource.CHALLENGE), source_id=source_id)
    row.performed_at = performed_at
    sealing.store_and_compare(
        seal_rows,
        challenge=row,
        previous=sealing.previous_at_site(row),
        facility=None,
        source=FindingSource.CHALLENGE,
        source_id=source_id,
        log_index=log_index,
        country=row.country,
    )
    return {"observed": len(rows)}


# --- the clocks ----------------------------------------------------------------------------------


def clock(row, now=None):
    """(step awaited, its deadline, seconds left (negative: overdue)) or None when no party step is awaited."""
    now = now or timezone.now()
    if row.state == ChallengeState.REQUESTED:
        step, deadline = "acknowledge", row.acknowledge_by
    elif row.state == ChallengeState.ACKNOWLEDGED:
        step, deadline = "access", row.access_by
    else:
        return None
    return step, deadline, (deadline - now).total_seconds()


def due(step, now):
    """Challenges whose `step` ("acknowledge" or "access") is overdue at `now` and not yet escalated."""
    if step == "acknowledge":
        return ChallengeInspection.objects.filter(
            state=ChallengeState.REQUESTED, acknowledge_by__lt=now, acknowledge_overdue_at__isnull=True
        )
    return ChallengeInspection.objects.filter(
        state__in=(ChallengeState.REQUESTED, ChallengeState.ACKNOWLEDGED),
        access_by__lt=now,
        access_overdue_at__isnull=True,
    )


def mark_overdue(pk, step, now, raise_alert):
    """Escalate one overdue step, once: `raise_alert(row)` (compliance's) returns the alert id, stored with the
    step's time and a log event, in one transaction. Returns the alert id, or None if nothing was due."""
    with transaction.atomic():
        row = (
            due(step, now)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("facility", "operator", "requester")
            .filter(pk=pk)
            .first()
        )
        if row is None:  # answered meanwhile, or another worker has it
            return None
        alert_id = raise_alert(row)
        setattr(row, f"{step}_overdue_at", now)
        setattr(row, f"{step}_alert_id", alert_id)
        row.save(update_fields=[f"{step}_overdue_at", f"{step}_alert_id"])
        _log(
            row,
            "challenge.overdue",
            {
                "step": step,
                "deadline": getattr(row, f"{step}_by").isoformat(),
                "alert": alert_id,
                "at": now.isoformat(),
            },
        )
    return alert_id
