"""Totals per subject, computed by the database and stored.

Counted: chips whose open placement is in the subject (clusters, facilities,
campuses) or whose custodian and country are the subject (operator within a
country), and whose status is live (manufactured or installed): a chip in
transit, decommissioned, destroyed, lost or stolen adds no capacity. Each
recompute computes the subjects it was asked for afresh (one GROUP BY per
scope, however many subjects) and rewrites the stored rows that differ, so the
stored value is always a recomputation, never a running sum that can drift.
"""

from collections import defaultdict
from typing import NamedTuple

from django.utils import timezone

from attestations import windows
from compliance import covered, late_windows, storage
from compliance.choices import Scope
from compliance.models import Aggregate

LIVE_STATUSES = storage.LIVE_STATUSES
PRECISIONS = tuple(storage.PRECISION_FIELDS)


def compute(scope, subject_keys=None, memo=None):
    """{subject_key: totals dict} for the given subjects (all, when None), straight from SQL (the components
    of the covered-cluster scopes: compliance.covered, summing one GROUP BY per site; `memo`, a dict one
    evaluation shares between scopes, lets both component scopes read that GROUP BY once)."""
    if covered.is_component_scope(scope):
        return covered.compute(scope, subject_keys, memo)
    if subject_keys is not None:
        subject_keys = list(subject_keys)
        if not subject_keys:
            return {}
    out = {}
    for key, count, tpp, h100e, memory, *ops in storage.totals(scope, subject_keys):
        fastest = ops.pop()
        out[str(key)] = {
            "chip_count": count,
            "tpp": float(tpp or 0),
            "h100e": float(h100e or 0),
            "memory_gb": float(memory or 0),
            "ops": {
                **{p: float(v or 0) for p, v in zip(PRECISIONS, ops, strict=True)},
                "fastest": float(fastest or 0),
            },
        }
    return out


def usage(scope, since, window, basis, subject_keys=None, unattributed_workloads=None):
    """{subject_key: upper-bound FLOP} of the usage records counted in the window of length `window` opening at
    `since` (their period ends after it, or their statement, filed late, arrived after it: attestations.windows).

    The totals of evaluation.compute_in_window, for every subject (or these) in
    one GROUP BY (with `unattributed_workloads`, those of the records attributed
    to no run and of these workloads: evaluation.unattributed_workloads): whose
    work each subject counts is compliance.storage's _USAGE (and the README's
    "Whose work a window counts").
    """
    if subject_keys is not None:
        subject_keys = list(subject_keys)
        if not subject_keys:
            return {}
    late = windows.late_statements(since, window)
    if scope == Scope.COVERED_CLUSTER:
        # A covered chip cluster's usage is its facilities' (Article V.3: work split over linked sites is one).
        # Its sites as tied at any time in the window: a link retired before the statements came still joins them.
        facilities = covered.facility_ids(scope, subject_keys, since)
        rows = storage.usage_totals(Scope.FACILITY, since, late, basis, facilities, unattributed_workloads)
        summed = covered.by_component(scope, subject_keys, rows, since)
        return {key: sum(float(total or 0.0) for _, total in found) for key, found in summed.items()}
    rows = storage.usage_totals(scope, since, late, basis, subject_keys, unattributed_workloads)
    return {str(key): float(total or 0.0) for key, total in rows}


def late_usage(scope, since, window, basis, subject_keys=None, unattributed_workloads=None):
    """{subject_key: late_windows.Fullest} of the subjects (these, when given) with usage statements received
    late (attestations.windows.received_late) in the window of length `window` opening at `since`: the fullest
    window around their period ends, with every record held now (compliance.late_windows says why). Empty, after
    one query, when none was filed late."""
    late = windows.received_late(since)
    if not late:
        return {}
    if subject_keys is not None:
        subject_keys = list(subject_keys)
        if not subject_keys:
            return {}
    # A covered chip cluster's records are read by facility and summed by component.
    by_facility = scope == Scope.COVERED_CLUSTER
    read_scope = Scope.FACILITY if by_facility else scope

    def by_end(keys, **which):
        rows = storage.usage_by_end(
            read_scope, basis, sorted(keys) if keys is not None else None, unattributed_workloads, **which
        )
        return _by_component(scope, subject_keys, rows, since) if by_facility else rows

    facilities = covered.facility_ids(scope, subject_keys, since) if by_facility else None
    own = by_end(facilities if by_facility else subject_keys, statements=late)
    if not own:
        return {}
    # The records around their ends: of the same facilities, or of the subjects the late records belong to.
    keys = facilities if by_facility else {str(k) for k, *_ in own}
    return late_windows.by_subject(own, by_end(keys, between=late_windows.span(own, window)), window)


def _by_component(scope, subject_keys, rows, since):
    """Facility rows (facility, period end, total) as component rows (key, period end, total), summed."""
    summed = defaultdict(float)
    for key, found in covered.by_component(scope, subject_keys, rows, since).items():
        for _, end, total in found:
            summed[key, end] += float(total or 0.0)
    return [(key, end, total) for (key, end), total in summed.items()]


def unattributed_sources(scope, since, window, workloads, subject_keys, basis=None):
    """{subject_key: chips_in-shaped rows (chip reference, 'attestation', statement id, log index, key)} of
    the usage records an unattributed_compute rule counts for these subjects: its alerts' evidence. With
    `basis`, a subject with a statement filed late also names the records of the fullest window around it
    (late_usage)."""
    late = windows.late_statements(since, window)
    around = late_usage(scope, since, window, basis, subject_keys, workloads) if basis else {}
    out = {}
    # One read for the subjects without a late window; one each for those with one (rare).
    groups = [(sorted(set(map(str, subject_keys)) - set(around)), None)]
    groups += [([key], (found.after, found.until)) for key, found in around.items() if found is not None]
    for keys, also in groups:
        if not keys:
            continue
        if scope == Scope.COVERED_CLUSTER:
            facilities = covered.facility_ids(scope, keys, since)
            rows = storage.unattributed_sources(Scope.FACILITY, since, late, workloads, sorted(facilities), also)
            found = covered.by_component(scope, keys, [(int(r[4]), r) for r in rows], since)
            for key, pairs in found.items():
                out.setdefault(key, []).extend((*r[:4], key) for _, r in pairs)
            continue
        for row in storage.unattributed_sources(scope, since, late, workloads, keys, also):
            out.setdefault(row[4], []).append(row)
    return out


# --- stored rows -------------------------------------------------------------------


class Row(NamedTuple):
    """What an Aggregate row holds (or is to hold), comparable with ==."""

    label: str
    country: str
    operator_id: int | None
    chip_count: int
    tpp: float
    h100e: float
    memory_gb: float
    ops: dict


VALUE_FIELDS = ("chip_count", "tpp", "h100e", "memory_gb", "ops")
EMPTY = {"chip_count": 0, "tpp": 0.0, "h100e": 0.0, "memory_gb": 0.0, "ops": {}}


class Refreshed(NamedTuple):
    """A refresh's result: the computed totals (subjects holding chips) and every stored row it covers."""

    totals: dict
    rows: dict


def refresh(scope, subject_keys=None, memo=None):
    """Recompute and store the aggregates of these subjects (all, when None).

    Every subject asked for gets a row (an incremental refresh stores zeros for
    a subject that holds nothing now); a full refresh covers every subject that
    holds chips and empties the stored rows of those that no longer do. Labels,
    countries and operators are refreshed with the values. Only the rows whose
    content differs from what is stored are written, so a steady-state
    periodic evaluation writes nothing.
    """
    totals = compute(scope, subject_keys, memo)
    keys = set(totals) if subject_keys is None else {str(k) for k in subject_keys}
    stored = _stored(scope, None if subject_keys is None else keys)
    if subject_keys is None:
        keys |= set(stored)  # a full refresh also empties subjects that no longer hold anything
    labels = _labels(scope, keys)
    rows = {}
    for key in keys:
        label, country, operator_id = labels.get(key, (key, "", None))
        rows[key] = Row(label, country, operator_id, **totals.get(key, EMPTY))
    _write(scope, {k: row for k, row in rows.items() if stored.get(k) != row}, stored)
    return Refreshed(totals, rows)


def stored_or_refreshed(scope, subject_keys, memo=None):
    """The subjects' stored totals where every one has a stored row, else a refresh of those that lack one.

    For events that move no chip (a usage statement): its capacity totals are as stored, so evaluating
    its usage rules need not recompute them (the periodic full evaluation refreshes every row anyway)."""
    keys = {str(k) for k in subject_keys}
    stored = _stored(scope, keys)
    missing = keys - set(stored)
    rows = dict(stored)
    totals = {k: {f: getattr(row, f) for f in VALUE_FIELDS} for k, row in stored.items() if row.chip_count}
    if missing:
        fresh = refresh(scope, missing, memo)
        rows.update(fresh.rows)
        totals.update(fresh.totals)
    return Refreshed(totals, rows)


def _stored(scope, keys=None):
    """{subject_key: Row} of the stored aggregates of this scope (of these subjects, when given)."""
    rows = Aggregate.objects.filter(scope=scope)
    if keys is not None:
        rows = rows.filter(subject_key__any=list(keys))
    return {
        key: Row(*values)
        for key, *values in rows.values_list("subject_key", "label", "country", "operator_id", *VALUE_FIELDS)
    }


def _write(scope, rows, stored):
    """Store these rows (new, or differing from what is stored), in subject order: one upsert (a
    concurrent evaluation of the same subjects meets at the unique (scope, subject_key), and the later
    one wins, row by row in the same order, so two of them cannot deadlock)."""
    if rows:
        storage.upsert_aggregates(scope, timezone.now(), [(k, *rows[k]) for k in sorted(rows)])


def labels(scope, keys):
    """{subject_key: (label, country, operator id)}, the default (key, "", None) for unknown subjects."""
    found = _labels(scope, set(keys))
    return {k: found.get(k, (k, "", None)) for k in keys}


def _labels(scope, keys):
    """{subject_key: (label, country, operator id)} for display and access control."""
    from inventory.models import Campus, Cluster, Facility
    from registry.models import Organisation

    if covered.is_component_scope(scope):
        return covered.labels(scope, keys)
    ints = [int(k) for k in keys if k.isdigit()]
    if scope == Scope.FACILITY:
        return {
            str(pk): (code, cc, op)
            for pk, code, cc, op in Facility.objects.filter(pk__any=ints).values_list(
                "pk", "code", "country", "operator"
            )
        }
    if scope == Scope.CLUSTER:
        rows = Cluster.objects.filter(pk__any=ints).values_list(
            "pk", "facility__code", "code", "facility__country", "facility__operator"
        )
        return {str(pk): (f"{fac}/{code}", cc, op) for pk, fac, code, cc, op in rows}
    if scope == Scope.CAMPUS:
        out = {}
        for campus in Campus.objects.filter(pk__any=ints).prefetch_related("facilities"):
            facilities = list(campus.facilities.all())
            countries = {f.country for f in facilities}
            operators = {f.operator_id for f in facilities}
            out[str(campus.pk)] = (
                campus.code,
                countries.pop() if len(countries) == 1 else "",
                operators.pop() if len(operators) == 1 else None,
            )
        return out
    codes = dict(
        Organisation.objects.filter(pk__any=list({int(k.split(":")[0]) for k in keys})).values_list("pk", "code")
    )
    where = " outside accepted facilities" if scope == Scope.UNACCEPTED_HOLDINGS else ""
    return {
        k: (
            f"{codes.get(int(k.split(':')[0]), '?')} in {k.split(':')[1]}{where}",
            k.split(":")[1],
            int(k.split(":")[0]),
        )
        for k in keys
    }


def chips_in(scope, subject_key):
    """(public id, placement source, source id, log index, subject) of every chip counted for a subject."""
    return chips_in_many(scope, [subject_key]).get(str(subject_key), [])


def chips_in_many(scope, subject_keys):
    """{subject_key: chips_in rows}: for many subjects, one query.

    The subject comes last in each row, as text from the database, so the
    rows (a million for a first evaluation) are grouped as they arrive.
    """
    keys = list(subject_keys)
    if not keys:
        return {}
    if covered.is_component_scope(scope):
        return covered.chips_in_many(scope, keys)
    out = {}
    for row in storage.chips_in_many(scope, keys):
        out.setdefault(row[4], []).append(row)
    return out


def ties_in(scope, subject_key):
    """Evidence beyond the chips' own sources (see ties_in_many), for one subject."""
    return ties_in_many(scope, [subject_key]).get(str(subject_key), [])


def ties_in_many(scope, subject_keys, since=None):
    """{subject key: [{"source", "id", "log_index"}, ...]}: evidence beyond the chips' own sources, for many
    subjects in a few queries. For a covered cluster, the declared links and groups that joined it; for
    holdings outside accepted facilities, each facility holding them (with its review state and the log
    entry of the treaty body's last decision on it). Other scopes have none. `since`: a usage window's opening,
    whose covered clusters are joined by the ties in force at any time in it."""
    keys = [str(k) for k in subject_keys]
    if not keys:
        return {}
    if covered.is_component_scope(scope):
        return covered.sources_many(scope, keys, since)
    if scope != Scope.UNACCEPTED_HOLDINGS:
        return {}
    from inventory.models import Placement

    pairs = {tuple(k.split(":")) for k in keys}
    rows = (
        Placement.objects.filter(
            valid_to__isnull=True,
            chip__custodian_id__in=sorted({int(op) for op, _ in pairs}),
            chip__country__in=sorted({cc for _, cc in pairs}),
            chip__status__in=LIVE_STATUSES,
        )
        .exclude(facility__review="accepted")
        .values_list(
            "chip__custodian_id", "chip__country", "facility__code", "facility__review", "facility__review_log_index"
        )
        .distinct()
        .order_by("chip__custodian_id", "chip__country", "facility__code")
    )
    out = {}
    for op, cc, code, review, index in rows:
        if (str(op), cc) in pairs:
            out.setdefault(f"{op}:{cc}", []).append(
                {"source": "facility", "id": code, "review": review, "log_index": index}
            )
    # And each shipment holding some of them in transit (they count for their holder in the country they left).
    from inventory.models import TransferItem

    shipped = (
        TransferItem.objects.filter(
            shipped=True,
            transfer__status="in_transit",
            chip__status="in_transit",
            chip__custodian_id__in=sorted({int(op) for op, _ in pairs}),
            chip__country__in=sorted({cc for _, cc in pairs}),
        )
        .values_list("chip__custodian_id", "chip__country", "transfer_id", "transfer__ship_log_index")
        .distinct()
        .order_by("chip__custodian_id", "chip__country", "transfer_id")
    )
    for op, cc, transfer, index in shipped:
        if (str(op), cc) in pairs:
            out.setdefault(f"{op}:{cc}", []).append({"source": "transfer", "id": str(transfer), "log_index": index})
    return out
