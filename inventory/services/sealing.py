"""Seals: what one inspection found (or applied), compared with the next inspection of the same place.

A seal is a number and where it was applied ("rack 12 cage door"). The next inspection of the same facility
(routine or challenge) or of the same unregistered site (a challenge within CHIPREG_CHALLENGE_SITE_RADIUS_KM)
is compared with the last one that recorded seals: a seal found broken, a place sealed last time whose seal is
gone (missing), or a place holding another number than last time (changed), each is a finding. An inspection
that records no seal at all says nothing about seals (it did not check them) and is not compared.
"""

from django.conf import settings

from core.errors import Invalid
from inventory.choices import FindingKind
from inventory.geo import bounding_box, haversine_km
from inventory.models import ChallengeInspection, Inspection, SealRecord
from inventory.services.findings import new_finding, store_findings
from outbox import emit

MAX_SEALS = 1000


def parse_seals(seals):
    """[{"seal", "where", "intact"}] from strings ("NUMBER" or "NUMBER@WHERE") or objects; 400 on anything else."""
    if not isinstance(seals, (list, tuple)):
        raise Invalid("seals must be a list.", code="invalid_seal")
    if len(seals) > MAX_SEALS:
        raise Invalid(f"At most {MAX_SEALS} seals per inspection.", code="invalid_seal")
    out, seen = [], set()
    for row, entry in enumerate(seals, start=1):
        if isinstance(entry, str):
            number, _, where = entry.partition("@")
            entry = {"seal": number, "where": where}
        if not isinstance(entry, dict) or entry.keys() - {"seal", "where", "intact"}:
            raise Invalid(f"seal {row}: a string or an object with seal, where, intact.", code="invalid_seal")
        number, where, intact = entry.get("seal"), entry.get("where", "") or "", entry.get("intact", True)
        if not isinstance(number, str) or not number.strip() or len(number) > 100:
            raise Invalid(f"seal {row}: a seal number (1 to 100 characters) is required.", code="invalid_seal")
        if not isinstance(where, str) or len(where) > 200 or not isinstance(intact, bool):
            raise Invalid(f"seal {row}: where is text (200 at most), intact true or false.", code="invalid_seal")
        number, where = number.strip(), where.strip()
        if (number, where) in seen:
            raise Invalid(f"seal {row}: {number} at {where or 'no place'} listed twice.", code="invalid_seal")
        seen.add((number, where))
        out.append({"seal": number, "where": where, "intact": intact})
    return out


def label(seal):
    text = f"{seal['seal']}@{seal['where']}" if seal["where"] else seal["seal"]
    return text if seal["intact"] else f"{text} (broken)"


def previous_at_facility(inspection):
    """The seals of the last earlier inspection of the same facility that recorded any (None: no such one)."""
    earlier = (
        Inspection.objects.filter(facility_id=inspection.facility_id, performed_at__lt=inspection.performed_at)
        .exclude(pk=inspection.pk)
        .exclude(seals_checked=[])
        .order_by("-performed_at", "-id")
        .first()
    )
    if earlier is None:
        return None
    stored = list(SealRecord.objects.filter(inspection=earlier).values("seal", "where", "intact"))
    # Inspections recorded before seals had their own rows carry their numbers only.
    return stored or parse_seals([s.removesuffix(" (broken)") for s in earlier.seals_checked])


def previous_at_site(challenge):
    """The seals of the last earlier recorded challenge of the same unregistered site (within the radius)."""
    km = settings.CHIPREG_CHALLENGE_SITE_RADIUS_KM
    lat_min, lat_max, lon_min, lon_max = bounding_box(challenge.latitude, challenge.longitude, km)
    candidates = (
        ChallengeInspection.objects.filter(
            facility__isnull=True,
            performed_at__isnull=False,
            performed_at__lt=challenge.performed_at,
            latitude__range=(lat_min, lat_max),
            longitude__range=(lon_min, lon_max),
            seals__isnull=False,
        )
        .exclude(pk=challenge.pk)
        .distinct()
        .order_by("-performed_at", "-id")
    )
    for earlier in candidates[:50]:
        if haversine_km(challenge.latitude, challenge.longitude, earlier.latitude, earlier.longitude) <= km:
            return list(SealRecord.objects.filter(challenge=earlier).values("seal", "where", "intact"))
    return None


def differences(previous, current):
    """[(kind, seal number, detail)]: broken seals now, and what changed since `previous` (None: first time)."""
    out = [
        (FindingKind.SEAL_BROKEN, s["seal"], f"found broken at {s['where'] or 'its place'}")
        for s in current
        if not s["intact"]
    ]
    if not previous or not current:
        return out
    now_by_place = {}
    for s in current:
        now_by_place.setdefault(s["where"] or s["seal"], set()).add(s["seal"])
    numbers_now = {s["seal"] for s in current}
    for s in previous:
        place = s["where"] or s["seal"]
        if place not in now_by_place:
            if s["where"] or s["seal"] not in numbers_now:
                out.append((FindingKind.SEAL_MISSING, s["seal"], f"applied at {s['where'] or 'its place'}, not found"))
        elif s["seal"] not in now_by_place[place]:
            found = ", ".join(sorted(now_by_place[place]))
            out.append((FindingKind.SEAL_CHANGED, s["seal"], f"at {s['where']}: found {found} instead"))
    return out


def store_and_compare(
    seals,
    *,
    inspection=None,
    challenge=None,
    previous,
    facility,
    source,
    source_id,
    log_index,
    organisation=None,
    country="",
):
    """Store the seals found and raise a finding per difference with `previous`; returns the kinds raised."""
    SealRecord.objects.bulk_create(
        SealRecord(inspection=inspection, challenge=challenge, seal=s["seal"], where=s["where"], intact=s["intact"])
        for s in seals
    )
    found = differences(previous, seals)
    store_findings(
        [
            new_finding(
                kind=kind,
                chip_ref=f"seal:{number}"[:100],
                facility=facility,
                organisation=organisation if organisation is not None else getattr(facility, "operator", None),
                country=country or getattr(facility, "country", ""),
                source=source,
                source_id=source_id,
                detail=f"Seal {number}: {detail} ({source} {source_id}).",
                evidence={"log_index": log_index, "seal": number},
            )
            for kind, number, detail in found
        ]
    )
    if found:
        emit("findings.raised", source=str(source), source_id=source_id)
    return [kind for kind, _, _ in found]
