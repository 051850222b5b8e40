"""Campus proposals: facilities of any operators within a distance are one site.

Single linkage: a facility joins every campus that has a member within
CHIPREG_CAMPUS_DISTANCE_KM, merging them, so a chain of adjacent buildings is
one campus however its operators name them.
"""

from django.conf import settings
from django.db import transaction

from inventory.geo import bounding_box, haversine_km
from inventory.models import Campus, Facility
from outbox import emit
from transparency.events import append_event


def neighbours(facility, km=None):
    km = settings.CHIPREG_CAMPUS_DISTANCE_KM if km is None else km
    min_lat, max_lat, min_lon, max_lon = bounding_box(facility.latitude, facility.longitude, km)
    candidates = Facility.objects.filter(latitude__range=(min_lat, max_lat)).exclude(pk=facility.pk)
    if min_lon >= -180 and max_lon <= 180:
        candidates = candidates.filter(longitude__range=(min_lon, max_lon))
    return [
        f
        for f in candidates.select_related("campus")
        if haversine_km(facility.latitude, facility.longitude, f.latitude, f.longitude) <= km
    ]


@transaction.atomic
def propose_campus(facility):
    """Put `facility` in the campus of its neighbours (creating or merging); return the campus or None."""
    near = neighbours(facility)
    if not near:
        return facility.campus
    campuses = sorted(
        {f.campus for f in near if f.campus is not None} | ({facility.campus} - {None}), key=lambda c: c.id
    )
    if campuses:
        campus, others = campuses[0], campuses[1:]
        if others:
            Facility.objects.filter(campus__in=others).update(campus=campus)
            Campus.objects.filter(pk__in=[c.pk for c in others]).delete()
    else:
        campus = Campus.objects.create(code=f"campus-{facility.code}", name=f"Campus around {facility.code}")
    members = [facility, *near]
    Facility.objects.filter(pk__in=[f.pk for f in members]).update(campus=campus)
    facility.campus = campus
    # A campus groups facilities; no chip changes custodian or country.
    emit("placements.changed", facilities=sorted(f.pk for f in members), operator_countries=[])
    rows = list(Facility.objects.filter(campus=campus).values_list("code", "operator__code", "country"))
    append_event(
        "campus.proposed",
        campus.code,
        {
            "campus": campus.code,
            "facilities": sorted(code for code, _, _ in rows),
            "distance_km": settings.CHIPREG_CAMPUS_DISTANCE_KM,
        },
        parties=sorted({op for _, op, _ in rows}),
        countries=sorted({cc for _, _, cc in rows}),
    )
    return campus
