"""Registering and changing facilities: the one place for their checks and their log events.

A facility's country decides which inspectorate sees it and the chips in it, so
the operator's word is checked against its coordinates (inventory.geo): clearly
in another country is refused; near a border, where the reference places cannot
tell, it is accepted with a finding both inspectorates see. A change of country
or coordinates is a `facility.updated` event that the old and the new country's
inspectorates both see, the facility's chips follow its country, and campuses
are regrouped around its old and new position.

Registering a facility declares it to the treaty body; the treaty body alone accepts or refuses it (draft
agreement, Article V.1 and V.3: covered chip clusters are consolidated into facilities declared to the ISIA).
A facility that moves, or changes its country, is another place than the one accepted: its review goes back
to `declared` (in its `facility.updated` event).
"""

from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, Forbidden, Invalid
from inventory import geo
from inventory.campuses import recompute_campuses
from inventory.choices import FacilityReview, FindingKind
from inventory.models import Facility, Placement
from inventory.services.findings import raise_facility_finding
from outbox import emit
from registry.chip_writes import set_country
from registry.choices import OrgKind
from transparency.events import append_event

# What an operator may set on its facility (the code is its name for ever; the operator is who registered it).
EDITABLE = ("name", "country", "latitude", "longitude", "address", "power_mw", "status")


def facility_data(facility):
    return {
        "code": facility.code,
        "name": facility.name,
        "operator": facility.operator.code,
        "country": facility.country,
        "latitude": facility.latitude,
        "longitude": facility.longitude,
        "address": facility.address,
        "power_mw": facility.power_mw,
        "status": facility.status,
        "review": facility.review,
    }


def check_location(country, latitude, longitude):
    """The reference places' verdict on a declared country; a clear disagreement is a 400 `country_mismatch`."""
    verdict = geo.check_country(latitude, longitude, country)
    if verdict.outcome == geo.MISMATCH:
        raise Invalid(
            f"The coordinates ({latitude}, {longitude}) lie in {', '.join(verdict.countries[:3])}, "
            f"not in {verdict.declared}: correct the country or the coordinates.",
            code="country_mismatch",
            countries=list(verdict.countries[:3]),
        )
    return verdict


def register_facility(user, values):
    """A new facility of the user's operator; `values` validated by the API (code, name, country, ...)."""
    org = user.organisation
    if org is None or org.kind != OrgKind.OPERATOR:
        raise Forbidden("Only operators register facilities.")
    verdict = check_location(values["country"], values["latitude"], values["longitude"])
    with transaction.atomic():
        facility = Facility.objects.create(operator=org, created_by=user, **values)
        index = append_event(
            "facility.registered",
            facility.code,
            facility_data(facility),
            parties=[org.code],
            countries=[facility.country],
        )
        _border_finding(facility, verdict, index)
        recompute_campuses([facility])
        facility.refresh_from_db(fields=["campus"])
    return facility


def update_facility(user, facility, changes):
    """Apply `changes` (a subset of EDITABLE) to the user's facility; returns the facility as stored."""
    unknown = set(changes) - set(EDITABLE) - {"code"}
    if unknown or changes.get("code", facility.code) != facility.code:
        raise Invalid(f"These fields cannot change: {', '.join(sorted(unknown) or ['code'])}.")
    changes = {k: v for k, v in changes.items() if k != "code"}
    with transaction.atomic():
        facility = Facility.objects.select_for_update().select_related("operator").get(pk=facility.pk)
        # Its operator speaks for it; the registry's administrators may correct it (logged, with who).
        if not user.is_superuser and facility.operator_id != user.organisation_id:
            raise Forbidden("Only its operator changes a facility.")
        before = facility_data(facility)
        previous_campus = facility.campus_id
        for field, value in changes.items():
            setattr(facility, field, value)
        moved = (facility.latitude, facility.longitude) != (before["latitude"], before["longitude"])
        recountried = facility.country != before["country"]
        verdict = None
        if moved or recountried:
            verdict = check_location(facility.country, facility.latitude, facility.longitude)
        reviewed_elsewhere = (moved or recountried) and facility.review != FacilityReview.DECLARED
        if reviewed_elsewhere:
            # The treaty body accepted (or refused) a facility at the old place, not this one.
            facility.review, facility.reviewed_at, facility.reviewed_by = FacilityReview.DECLARED, None, None
            facility.review_reason = "moved: to be reviewed again"
        after = facility_data(facility)
        if after == before:
            return facility
        fields = [f for f in changes if before.get(f) != after.get(f)]
        if reviewed_elsewhere:
            fields += ["review", "reviewed_at", "reviewed_by", "review_reason"]
        facility.save(update_fields=fields)
        index = append_event(
            "facility.updated",
            facility.code,
            {
                "before": before,
                "after": after,
                "operator": facility.operator.code,
                "country": facility.country,
                "by": user.username,
            },
            parties=[facility.operator.code],
            countries=sorted({before["country"], after["country"]}),
        )
        if recountried:
            _follow_country(facility, before["country"], index)
        if verdict is not None:
            _border_finding(facility, verdict, index)
        if moved:
            recompute_campuses([facility], [previous_campus] if previous_campus else [])
            facility.refresh_from_db(fields=["campus"])
        if reviewed_elsewhere:
            emit("facilities.reviewed", facilities=[facility.pk])
    return facility


DECISIONS = {"accept": FacilityReview.ACCEPTED, "refuse": FacilityReview.REFUSED}


def require_facility_reviewer(user):
    """The treaty body decides on facility declarations: not the operator, not an inspectorate, and not a
    registry administrator as such (who runs the registry and is no party to the agreement; one who is also
    a member of the treaty body decides as that member)."""
    org = getattr(user, "organisation", None)
    if org is None or org.kind != OrgKind.TREATY_BODY:
        raise Forbidden("Only the treaty body accepts or refuses facility declarations.", code="treaty_body_only")


def review_facility(user, facility, action, reason=""):
    """Accept or refuse a facility's declaration (`action`: accept or refuse), logged with who and why."""
    require_facility_reviewer(user)
    decision = DECISIONS[action]
    reason = (reason or "").strip()
    if decision == FacilityReview.REFUSED and not reason:
        raise Invalid("Say why the declaration is refused.", code="reason_required")
    with transaction.atomic():
        facility = Facility.objects.select_for_update(of=("self",)).select_related("operator").get(pk=facility.pk)
        if facility.review == decision:
            raise Conflict(f"{facility.code} is {decision} already.", code="already_decided")
        before = facility.review
        facility.review, facility.reviewed_at, facility.reviewed_by = decision, timezone.now(), user
        facility.review_reason = reason
        facility.review_log_index = append_event(
            f"facility.{decision}",
            facility.code,
            {
                "facility": facility.code,
                "operator": facility.operator.code,
                "country": facility.country,
                "before": before,
                "review": decision,
                "reason": reason,
                "by": user.username,
                "organisation": user.organisation.code,
            },
            # The operator and the facility's inspectorate read it; the treaty body reads every event.
            parties=[facility.operator.code],
            countries=[facility.country],
        )
        facility.save(update_fields=["review", "reviewed_at", "reviewed_by", "review_reason", "review_log_index"])
        # The chips in it now count as consolidated, or no longer do (compliance: unaccepted holdings).
        emit("facilities.reviewed", facilities=[facility.pk])
    return facility


def _border_finding(facility, verdict, log_index):
    if verdict.outcome != geo.UNCLEAR:
        return
    raise_facility_finding(
        facility,
        FindingKind.COUNTRY_UNCLEAR,
        log_index,
        f"{facility.code} declares {facility.country}; its coordinates lie near a border with "
        f"{', '.join(verdict.others)}: the registry cannot tell the country from them.",
        other_country=verdict.others[0],
        evidence={
            "latitude": facility.latitude,
            "longitude": facility.longitude,
            "declared": facility.country,
            "countries_near": list(verdict.countries),
            "radius_km": verdict.radius_km,
        },
    )


def _follow_country(facility, old_country, log_index):
    """The chips in the facility now lie in its new country; the old country's inspectorate keeps a finding."""
    chips = list(Placement.objects.filter(facility=facility, valid_to__isnull=True).values_list("chip_id", flat=True))
    keys = set_country(chips, facility.country) if chips else set()
    # The work reported at it moves with it too (an operator-country's usage is its facilities'), chips or none.
    keys |= {f"{facility.operator_id}:{old_country}", f"{facility.operator_id}:{facility.country}"}
    emit("placements.changed", facilities=[facility.pk], operator_countries=sorted(keys))
    raise_facility_finding(
        facility,
        FindingKind.COUNTRY_CHANGED,
        log_index,
        f"{facility.code} changed its country from {old_country} to {facility.country} "
        f"with {len(chips)} chip(s) in it (log entry {log_index}).",
        other_country=old_country,
        evidence={"before": old_country, "after": facility.country, "chips": len(chips)},
    )
