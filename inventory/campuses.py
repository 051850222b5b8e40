"""Campuses: facilities of any operators within a distance of each other are one site.

Single linkage: facilities within CHIPREG_CAMPUS_DISTANCE_KM of each other are
linked, and a campus is a connected group of two or more, so a chain of
adjacent buildings is one campus however its operators name them (splitting a
site among shell operators must not hide a cluster).

A campus is what the positions say now: when a facility is registered or moves,
every campus it was or is linked to is recomputed, so a group that only held
together through a facility that has left falls apart again (a squatter cannot
merge another operator's sites and walk away).

What operators learn: a campus's code is opaque (never made of a facility code),
the API lists to each party only the facilities in its view, and the log keeps
the whole composition in `campus.proposed`/`campus.dissolved` (treaty bodies and
the inspectorates of its countries) and gives each operator a
`campus.membership` event naming only its own facilities.
"""

import secrets
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inventory import storage
from inventory.geo import bounding_box, haversine_km
from inventory.models import Campus, CampusMembership, Facility
from outbox import emit
from transparency.events import append_events

FIELDS = ("pk", "code", "latitude", "longitude", "campus_id", "operator__code", "country")


def new_campus_code():
    """Opaque: a code built from a facility code would tell every party to the campus that code."""
    return f"campus-{secrets.token_hex(6)}"


@transaction.atomic
def recompute_campuses(facilities, previous_campus_ids=()):
    """Regroup the campuses around `facilities` (just registered or moved); returns {facility pk: campus pk}.

    `previous_campus_ids`: the campuses the facilities were in before they moved.
    Campus rows are kept (log events name their codes); a group keeps the campus
    most of its facilities were in, so alerts and totals keyed by it carry on.
    """
    _serialise()
    km = settings.CHIPREG_CAMPUS_DISTANCE_KM
    seeds = {f.pk for f in facilities}
    seeds |= set(Facility.objects.filter(campus_id__in=list(previous_campus_ids)).values_list("pk", flat=True))
    rows, links = _reach(seeds, km)
    before = defaultdict(set)  # campus pk -> facility pks, as stored
    for pk, row in rows.items():
        if row["campus_id"]:
            before[row["campus_id"]].add(pk)
    after = _assign(_groups(rows, links), rows)
    changed = {pk: campus for pk, campus in after.items() if rows[pk]["campus_id"] != campus}
    by_campus = defaultdict(list)
    for pk, campus in changed.items():
        by_campus[campus].append(pk)
    for campus, pks in by_campus.items():
        Facility.objects.filter(pk__in=pks).update(campus_id=campus)
    _record_memberships(changed)
    touched = {c for c in before if before[c] != {pk for pk, a in after.items() if a == c}}
    touched |= {c for c in after.values() if c is not None and c not in before}
    if touched:
        _log(touched, before, after, rows, km)
        # A campus groups facilities: no chip changes custodian or country. `campuses` names those that
        # lost facilities too, whose totals (and alerts) must be recomputed although no facility names them.
        emit(
            "placements.changed",
            facilities=sorted(changed),
            operator_countries=[],
            campuses=sorted(touched),
        )
    return after


def _record_memberships(changed):
    """Close the memberships these facilities left and open those they joined: a usage window joins the
    facilities that stood in one campus at any time in it (compliance.covered), so a facility moved away before
    its work is filed does not part that work, as a link retired then does not."""
    if not changed:
        return
    at = timezone.now()
    CampusMembership.objects.filter(facility_id__in=sorted(changed), valid_to__isnull=True).update(valid_to=at)
    CampusMembership.objects.bulk_create(
        CampusMembership(facility_id=pk, campus_id=campus, valid_from=at)
        for pk, campus in sorted(changed.items())
        if campus is not None
    )


def _serialise():
    """One regrouping at a time: two facilities moving at once must not each see the other's old position."""
    storage.lock_campuses()


def _reach(seeds, km):
    """Every facility linked, directly or through others, to a seed; and the links between them."""
    rows, links, explored = {}, defaultdict(set), set()
    pending = set(seeds)
    while pending:
        missing = [pk for pk in pending if pk not in rows]
        for row in Facility.objects.filter(pk__in=missing).values(*FIELDS):
            rows[row["pk"]] = row
        for pk in sorted(pending & rows.keys()):
            explored.add(pk)
            for other in _near(rows[pk], km):
                links[pk].add(other["pk"])
                links[other["pk"]].add(pk)
                rows.setdefault(other["pk"], other)
        pending = rows.keys() - explored
        if not pending:
            # A member of a campus in play that no longer links to it is looked at too (it may stand alone now).
            campuses = {r["campus_id"] for r in rows.values() if r["campus_id"]}
            pending = set(
                Facility.objects.filter(campus_id__in=campuses).exclude(pk__in=list(rows)).values_list("pk", flat=True)
            )
    return rows, links


def _near(row, km):
    min_lat, max_lat, min_lon, max_lon = bounding_box(row["latitude"], row["longitude"], km)
    candidates = Facility.objects.filter(latitude__range=(min_lat, max_lat)).exclude(pk=row["pk"])
    if min_lon >= -180 and max_lon <= 180:
        candidates = candidates.filter(longitude__range=(min_lon, max_lon))
    return [
        other
        for other in candidates.values(*FIELDS)
        if haversine_km(row["latitude"], row["longitude"], other["latitude"], other["longitude"]) <= km
    ]


def _groups(rows, links):
    """The connected groups of the facilities reached, largest first."""
    seen, groups = set(), []
    for start in sorted(rows):
        if start in seen:
            continue
        group, stack = set(), [start]
        while stack:
            pk = stack.pop()
            if pk in group:
                continue
            group.add(pk)
            stack.extend(links.get(pk, ()))
        seen |= group
        groups.append(group)
    return sorted(groups, key=lambda g: (-len(g), min(g)))


def _assign(groups, rows):
    """{facility pk: campus pk or None}: a group of two or more keeps the campus most of it was in."""
    after, taken = {}, set()
    for group in groups:
        if len(group) < 2:
            after.update(dict.fromkeys(group))
            continue
        counts = defaultdict(int)
        for pk in group:
            campus = rows[pk]["campus_id"]
            if campus and campus not in taken:
                counts[campus] += 1
        if counts:
            campus = max(counts, key=lambda c: (counts[c], -c))
        else:
            campus = Campus.objects.create(code=new_campus_code(), name="Proposed by the registry").pk
        taken.add(campus)
        after.update(dict.fromkeys(group, campus))
    return after


def _log(touched, before, after, rows, km):
    """The whole composition for those who see every party (no operator is named a party of it), and to each
    operator whose facilities in the campus changed, its own facilities only."""
    codes = dict(Campus.objects.filter(pk__in=touched).values_list("pk", "code"))
    events = []
    for campus in sorted(touched):
        now = sorted(pk for pk, a in after.items() if a == campus)
        was = sorted(before.get(campus, ()))
        everyone = {rows[pk]["country"] for pk in (*now, *was)}
        events.append(
            (
                "campus.proposed" if now else "campus.dissolved",
                codes[campus],
                {
                    "campus": codes[campus],
                    "facilities": sorted(rows[pk]["code"] for pk in now),
                    "before": sorted(rows[pk]["code"] for pk in was),
                    "distance_km": km,
                },
                [],
                sorted(everyone),
            )
        )
        for operator in sorted({rows[pk]["operator__code"] for pk in (*now, *was)}):
            own_now = sorted(rows[pk]["code"] for pk in now if rows[pk]["operator__code"] == operator)
            own_was = sorted(rows[pk]["code"] for pk in was if rows[pk]["operator__code"] == operator)
            if own_now != own_was:
                events.append(
                    (
                        "campus.membership",
                        codes[campus],
                        {"campus": codes[campus], "operator": operator, "facilities": own_now, "before": own_was},
                        [operator],
                        [],
                    )
                )
    append_events(events)
