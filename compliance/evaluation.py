"""Evaluating rules against subjects, and raising, reopening and clearing alerts.

Incremental: an outbox event names what changed; only the subjects it
touched are recomputed and evaluated. Full: every subject of every rule in
force (on a rule change and periodically). Both are the same set-based code,
the incremental one with a subject filter: a handful of queries per scope
whatever the number of subjects, and writes only where something changed.
Concurrent evaluations of one subject meet at the (group, scope, subject)
unique constraint, so there is one alert however many workers race.
"""

import hashlib
import logging
from datetime import timedelta
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import Exists, Max, Min, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from attestations import windows
from attestations.bases import record_field
from compliance import aggregates, covered, late_windows, run_metrics, storage
from compliance.choices import (
    DEFAULT_UNATTRIBUTED_WORKLOADS,
    RUN_SCOPES,
    SEVERITY_RANK,
    WINDOW_METRICS,
    AlertKind,
    AlertState,
    Effect,
    Metric,
    Scope,
    Severity,
    Workload,
)
from compliance.evidence import seal as evidence_seal
from compliance.models import Aggregate, Alert, AlertEvidence, AlertTransition, ThresholdRule
from transparency.events import append_event, append_events

log = logging.getLogger(__name__)


# --- which subjects an event touches ----------------------------------------


def subjects_for_facilities(facility_ids, operator_country=True):
    """The facility, its clusters, its campus, the covered clusters its sites are in, and (unless not asked)
    the operator-country of its operator, with that operator's holdings outside accepted facilities.

    Chips moving within a country change those holdings only when an accepted facility is among the ones
    touched (a chip placed in no facility, or in one not accepted, is outside either way); the holdings of
    another custodian's chips in the facility are left to the periodic full evaluation.
    """
    from inventory.choices import FacilityReview
    from inventory.models import Cluster, Facility

    facilities = list(
        Facility.objects.filter(pk__in=facility_ids).values_list("pk", "campus_id", "operator_id", "country", "review")
    )
    pairs = {f"{op}:{cc}" for _, _, op, cc, _ in facilities}
    accepted = any(review == FacilityReview.ACCEPTED for *_, review in facilities)
    ids = [pk for pk, *_ in facilities]
    return {
        Scope.FACILITY: {str(pk) for pk in ids},
        Scope.CLUSTER: {
            str(pk) for pk in Cluster.objects.filter(facility_id__in=facility_ids).values_list("pk", flat=True)
        },
        Scope.CAMPUS: {str(c) for _, c, *_ in facilities if c},
        Scope.OPERATOR_COUNTRY: pairs if operator_country else set(),
        Scope.UNACCEPTED_HOLDINGS: pairs if operator_country or accepted else set(),
        **_with_usage_keys(covered.keys_around(ids), ids),
    }


def _with_usage_keys(keys, facility_ids):
    """A covered chip cluster's usage windows join the sites tied at any time in them (covered.by_component):
    the facilities' keys as those ties join them too, while a window rule of that scope is in force."""
    longest = (
        ThresholdRule.objects.in_force(timezone.now())
        .filter(scope=Scope.COVERED_CLUSTER, metric__in=WINDOW_METRICS)
        .aggregate(days=Max("window_days"))["days"]
    )
    if longest is None:
        return keys
    since = timezone.now() - timedelta(days=longest)
    return {**keys, Scope.COVERED_CLUSTER: keys[Scope.COVERED_CLUSTER] | covered.usage_keys_around(facility_ids, since)}


def subjects_for_review(facility_ids):
    """A facility accepted or refused (or moved, so no longer accepted): the holdings outside accepted
    facilities of every custodian with chips in it, and of its operator."""
    from inventory.models import Facility, Placement

    placed = Placement.objects.filter(facility_id__in=facility_ids, valid_to__isnull=True).exclude(chip__country="")
    pairs = {f"{op}:{cc}" for op, cc in placed.values_list("chip__custodian_id", "chip__country").distinct()}
    operators = Facility.objects.filter(pk__in=facility_ids).values_list("operator", "country")
    pairs |= {f"{op}:{cc}" for op, cc in operators}
    return {Scope.UNACCEPTED_HOLDINGS: pairs}


# The ties between sites moved (a link, a workload group, a cluster's interconnect, a campus): the components
# are recomputed whole, since the registry keeps no record of which components a facility was in before.
EVERY_COMPONENT = {scope: None for scope in covered.COMPONENT_SCOPES}


def subjects_for_organisations(org_ids):
    from registry.models import Chip

    pairs = Chip.objects.filter(custodian_id__in=org_ids).exclude(country="").values_list("custodian_id", "country")
    keys = {f"{op}:{cc}" for op, cc in pairs.distinct()}
    keys |= set(
        Aggregate.objects.filter(scope=Scope.OPERATOR_COUNTRY, operator_id__in=org_ids).values_list(
            "subject_key", flat=True
        )
    )
    return {Scope.OPERATOR_COUNTRY: keys, Scope.UNACCEPTED_HOLDINGS: keys}


def subjects_for_chips(chip_ids):
    from inventory.models import Placement

    facilities = set(
        Placement.objects.filter(chip_id__in=chip_ids, valid_to__isnull=True).values_list("facility_id", flat=True)
    )
    return subjects_for_facilities(facilities)


def subjects_for_event(payload):
    """The subjects an outbox event's payload names (placements, chips, usage).

    A placement change names the operator-country subjects whose chips changed country
    (`operator_countries`); an event that does not say (usage, or one queued before
    placements said it) counts the facilities' operators in their countries.
    """
    subjects = {}
    if payload.get("facilities"):
        named = "operator_countries" in payload
        subjects = merge(subjects, subjects_for_facilities(payload["facilities"], operator_country=not named))
    if payload.get("operator_countries"):
        pairs = set(payload["operator_countries"])
        subjects = merge(subjects, {Scope.OPERATOR_COUNTRY: pairs, Scope.UNACCEPTED_HOLDINGS: pairs})
    if payload.get("campuses"):  # regrouped campuses, those that lost facilities too (inventory.campuses)
        subjects = merge(subjects, {Scope.CAMPUS: {str(c) for c in payload["campuses"]}}, EVERY_COMPONENT)
    if payload.get("organisations"):
        subjects = merge(subjects, subjects_for_organisations(payload["organisations"]))
    if payload.get("chips"):
        subjects = merge(subjects, subjects_for_chips(payload["chips"]))
    if payload.get("runs"):  # usage attributed to runs: the runs' attested compute moved, and their models'
        subjects = merge(subjects, run_metrics.subjects_for_runs(payload["runs"]))
    return subjects


def merge(*subject_sets):
    """The union of {scope: keys} sets; keys None (every subject of the scope) absorbs any set."""
    out = {}
    for subjects in subject_sets:
        for scope, keys in subjects.items():
            if keys is None or (scope in out and out[scope] is None):
                out[scope] = None
            else:
                out.setdefault(scope, set()).update(keys)
    return out


# --- values ------------------------------------------------------------------


def metric_value(rule, totals, scope, key, now):
    """A rule's value for one subject (the console's; evaluation computes every subject's at once)."""
    if scope in RUN_SCOPES:
        return run_metrics.value(rule, run_metrics.computed(scope, [key]).get(key))
    if rule.metric in WINDOW_METRICS:
        return compute_in_window(rule, scope, key, now)
    return stored_metric_value(rule, totals)


def unattributed_workloads(rule):
    """The workload labels an unattributed_compute rule counts, as usage records store them ("" for a
    statement that named none); None for every other metric (it counts every record)."""
    if rule.metric != Metric.UNATTRIBUTED:
        return None
    return sorted({"" if w == Workload.UNLABELLED else w for w in (rule.workloads or DEFAULT_UNATTRIBUTED_WORKLOADS)})


def stored_metric_value(rule, totals):
    """A rule's value from a subject's totals (aggregates.compute), for every metric but compute windows."""
    if not totals:
        return 0.0
    if rule.metric == Metric.PEAK_OPS:
        return totals["ops"].get(rule.precision or "fastest", 0.0) * 1e12  # stored in tera
    return float(totals[rule.metric])


def compute_in_window(rule, scope, key, now):
    """Upper-bound FLOP reported by usage statements whose period ends in the window, or which, filed late,
    arrived in it (attestations.windows); or, with a statement filed late, of the fullest window around its
    period end, if larger (compliance.late_windows).

    Usage is attributed to the facility named in the statement (a covered chip
    cluster's is that of its facilities); a cluster's usage is that of the chips
    placed in it while the work was done (or now, or last before the period
    ended, at the record's facility);
    operator-country usage that of the facilities the operator runs in that
    country and of the chips placed in them while the work was done. Through
    placements, only at facilities of the statement's speaker (storage._USAGE).
    """
    from inventory.models import Placement

    field = record_field(rule.basis)
    window = timedelta(days=rule.window_days or 1)
    records = _records(scope)
    workloads = unattributed_workloads(rule)
    if workloads is not None:
        records = records.filter(run__isnull=True, workload__in=workloads)
    if scope == Scope.FACILITY:
        records = records.filter(facility_id=int(key))
    elif scope == Scope.CAMPUS:
        records = records.filter(facility__campus_id=int(key))
    elif scope == Scope.CLUSTER:  # its chips' while the work was done, or now at its facility (storage._USAGE)
        # At the speaker's own facilities only: a later holder's word about the chips' past elsewhere is not here.
        here = Placement.objects.filter(
            chip_id=OuterRef("chip_id"), cluster_id=int(key), facility__operator_id=OuterRef("facility__operator_id")
        )
        # Or its last placement at the record's facility begun before the period ended (a move dated back).
        last_here = Placement.objects.filter(
            chip_id=OuterRef("chip_id"), facility_id=OuterRef("facility_id"), valid_from__lt=OuterRef("period_end")
        ).order_by("-valid_from", "-id")
        records = records.annotate(last_here=Subquery(last_here.values("cluster_id")[:1])).filter(
            Exists(here.filter(_placed_during() | Q(valid_to__isnull=True, facility_id=OuterRef("facility_id"))))
            | Q(last_here=int(key))
        )
    elif scope == Scope.COVERED_CLUSTER:  # its facilities' usage, when it joins several (covered.by_component)
        facilities = covered.facility_ids(scope, [key], now - window)
        records = records.filter(facility_id__in=sorted(facilities) if len(facilities) > 1 else [])
    else:
        op, cc = key.split(":")
        placed = Placement.objects.filter(
            chip_id=OuterRef("chip_id"), facility__operator_id=int(op), facility__country=cc
        )
        # Through placements, the operator's own statements only (named at any of its facilities).
        records = records.filter(
            Q(facility__operator_id=int(op), facility__country=cc)
            | Q(Exists(placed.filter(_placed_during())), facility__operator_id=int(op))
        )
    present = float(records.filter(windows.counted(now - window, window)).aggregate(t=Sum(field))["t"] or 0.0)
    return max(present, late_window_value(records, now - window, window, field))


def _placed_during():
    """Placements in force at some time in the period of the usage record of the outer query."""
    from inventory.models.placements import in_force_during

    return in_force_during(OuterRef("period_start"), OuterRef("period_end"))


def late_window_value(records, since, window, field):
    """The fullest window around the period ends of the usage statements received late (more than the filing
    grace after their period) in the window of length `window` opening at `since`, summed over `records` (a
    subject's usage records, by `field`); 0 when none was (compliance.late_windows; the ORM's reading, per
    subject)."""
    ends = set(records.filter(windows.filed_late(since)).values_list("period_end", flat=True))
    if not ends:
        return 0.0
    around = records.filter(period_end__gt=min(ends) - window, period_end__lte=max(ends) + window)
    rows = around.order_by().values("period_end").annotate(total=Sum(field)).values_list("period_end", "total")
    return late_windows.fullest(list(rows), ends, window).value


def _records(scope):
    """The usage records a scope counts: a facility's, a campus's, a covered chip cluster's or an
    operator-country's every record at its facilities, bound to a chip or kept by reference (AnyUsageRecord); a
    cluster's the records of its chips."""
    from attestations.models import AnyUsageRecord, UsageRecord

    by_facility = scope != Scope.CLUSTER
    return (AnyUsageRecord if by_facility else UsageRecord).objects.all()


def usage_subjects(scope, now, days):
    """Subjects with usage reported in the window (they may hold no chips now)."""
    from inventory.models import Placement

    # Any record that arrived in the window too (a grace of nothing): each window's rules count a subset.
    records = _records(scope).filter(windows.counted(now - timedelta(days=days), timedelta(0)))
    if scope == Scope.FACILITY:
        return {str(k) for k in records.values_list("facility_id", flat=True).distinct()}
    if scope == Scope.CAMPUS:
        return {
            str(k)
            for k in records.exclude(facility__campus=None).values_list("facility__campus_id", flat=True).distinct()
        }
    placements = Placement.objects.filter(chip_id__in=records.exclude(chip_id=None).values("chip_id"))
    if scope == Scope.OPERATOR_COUNTRY:  # where the work was reported, and where its chips were (a superset)
        pairs = set(records.values_list("facility__operator_id", "facility__country").distinct())
        pairs |= set(placements.values_list("facility__operator_id", "facility__country").distinct())
        return {f"{op}:{cc}" for op, cc in pairs}
    if scope == Scope.CLUSTER:  # the clusters its chips were ever placed in (a superset)
        return {str(k) for k in placements.exclude(cluster=None).values_list("cluster_id", flat=True).distinct()}
    if scope == Scope.COVERED_CLUSTER:
        return covered.keys_for_facilities(scope, records.values_list("facility_id", flat=True).distinct())
    return set()


# --- evaluation --------------------------------------------------------------
#
# Set-based, for a full evaluation and an incremental one alike (the latter is
# the former limited to the touched subjects): per scope, a few GROUP BYs give
# every subject's totals and usage windows, one query reads the rules' alerts,
# and only the subjects whose alert changes state are written to.


class Subject(NamedTuple):
    """What an alert copies from its subject: its label, and its country and operator (for access)."""

    label: str
    country: str
    operator_id: int | None


class ExistingAlert(NamedTuple):
    """The part of an alert that decides what an evaluation does to it."""

    pk: int
    state: str
    cleared_at: object


RAISE, REOPEN, CLEAR = "raise", "reopen", "clear"
# Alerts raised per transaction, and chips their evidence lists: bounds what
# one transaction holds (and the evidence in memory) while sharing its
# queries, log append and checkpoint. A subject over the chip budget goes alone.
RAISE_CHUNK = 500
RAISE_CHUNK_CHIPS = 1_000_000


def evaluate(subjects, now=None, rules=None, chips_moved=True):
    """Refresh the subjects' aggregates and evaluate every rule in force of their scope.

    `subjects`: {scope: subject keys, or None for every subject of the scope}. `chips_moved` False (the
    events were usage statements alone): the subjects' capacity totals are read as stored, not recomputed.
    Returns the alerts raised or reopened.
    """
    now = now or timezone.now()
    rules = list(rules if rules is not None else ThresholdRule.objects.in_force(now))
    # Rules whose effect is review or prohibit judge declarations (compliance.run_review), not subjects.
    rules = [r for r in rules if r.effect == Effect.ALERT]
    changed = []
    memo = {}  # what several scopes read alike, read once per evaluation (compliance.covered's site totals)
    for scope, keys in sorted(subjects.items(), key=_runs_first):
        if keys is not None and not keys:
            continue
        with storage.evaluation_turn(scope):  # read, store and decide before another evaluation of it reads
            changed += _evaluate_one(scope, keys, [r for r in rules if r.scope == scope], memo, chips_moved, now)
    return changed


def _evaluate_one(scope, keys, scope_rules, memo, chips_moved, now):
    if scope in RUN_SCOPES:
        return _evaluate_runs(scope, scope_rules, keys, now) if scope_rules else []
    if chips_moved or keys is None:
        refreshed = aggregates.refresh(scope, keys, memo)
    else:  # usage alone: the capacity totals are as stored
        refreshed = aggregates.stored_or_refreshed(scope, keys, memo)
    return _evaluate_scope(scope, scope_rules, refreshed, keys is None, now) if scope_rules else []


def _runs_first(item):
    """Runs and models are judged before the capacity scopes. Their attested compute is read from usage
    records alone (no capacity total feeds it), and each scope commits its own alerts: a usage statement
    naming a run reaches the run's alert (a prohibited run's is critical) without waiting for the
    facility, country and cluster recomputations of the same batch."""
    return item[0] not in RUN_SCOPES


def evaluate_all(now=None):
    return evaluate({scope: None for scope in Scope.values}, now=now)


def _evaluate_scope(scope, rules, refreshed, full, now):
    keys = set(refreshed.rows)
    windowed = [r for r in rules if r.metric in WINDOW_METRICS]
    if full and windowed:
        # A full evaluation also covers the subjects that reported usage (they may hold no chips now).
        keys |= usage_subjects(scope, now, max(r.window_days or 1 for r in windowed))
    only = None if full else keys
    values = _RuleValues(scope, refreshed.totals, now, only)
    alerts = _stored_alerts(scope, rules, only)
    if full:
        keys |= {key for _, key in alerts}  # an alert whose subject has nothing left is cleared
    return _decide_all(scope, rules, keys, values, alerts, _labelled(scope, refreshed.rows), refreshed.totals, now)


def _evaluate_runs(scope, rules, keys, now):
    """Runs and models: their attested compute (compliance.run_metrics), the same decisions and writes."""
    computed = run_metrics.computed(scope, keys)
    alerts = _stored_alerts(scope, rules, None if keys is None else keys)
    subjects = set(computed) | (set(keys) if keys is not None else {key for _, key in alerts})
    values = _Values(lambda rule, key: run_metrics.value(rule, computed.get(key)))
    labels = {key: Subject(c.label, c.country, c.operator_id) for key, c in computed.items()}
    missing = Subject("", "", None)
    return _decide_all(
        scope,
        rules,
        subjects,
        values,
        alerts,
        lambda keys: {k: labels.get(k, missing._replace(label=k)) for k in keys},
        {},
        now,
    )


class _Values(NamedTuple):
    of: object


def _labelled(scope, rows):
    return lambda keys: _subjects(scope, rows, keys)


def _decide_all(scope, rules, keys, values, alerts, label, totals, now):
    """Decide what each (rule, subject) value does to its alert, and do it (set-based)."""
    actions = {RAISE: [], REOPEN: [], CLEAR: []}
    for key in sorted(keys):
        for rule in rules:
            if not covered.applies(rule, scope, key):
                continue  # a component of another bandwidth than the rule's
            value = values.of(rule, key)
            alert = alerts.get((rule.pk, key))
            action = decide(rule, value, alert)
            if action is not None:
                actions[action].append((rule, key, value, alert))
    subjects = label({key for _, key, _, _ in actions[RAISE]})
    subjects.update(_window_subjects(scope, actions[RAISE], now))
    return _act(scope, actions, subjects, totals, now)


def _window_since(rule, scope, now):
    """The opening of the window a component's value counted, for a rule of a compute window (None otherwise):
    the window joins the sites tied, or standing in one campus, at any time in it (compliance.covered), so what
    the alert is about, and who sees it, is that set, not the component as the ties stand now. Labelled as it
    stands now, work of two countries joined by a link since retired went to one country's inspectorate."""
    if rule is None or rule.metric not in WINDOW_METRICS or not covered.is_component_scope(scope):
        return None
    return now - timedelta(days=rule.window_days or 1)


def _by_window(scope, raises, now, read):
    """{(rule pk, key): read(scope, keys, since)[key]} for the raises, one read per window opening
    (_window_since; None for the raises of rules that count no window)."""
    since_of = {(rule.pk, key): _window_since(rule, scope, now) for rule, key, _, _ in raises}
    keys_by_since = {}
    for (_, key), since in since_of.items():
        keys_by_since.setdefault(since, set()).add(key)
    found = {since: read(scope, keys, since) for since, keys in keys_by_since.items()}
    return {pair: found[since][pair[1]] for pair, since in since_of.items()}


def _window_subjects(scope, raises, now):
    """{(rule pk, key): Subject} of the raises of window rules in a component scope (_window_since)."""
    windowed = [r for r in raises if _window_since(r[0], scope, now) is not None]
    return {pair: Subject(*found) for pair, found in _by_window(scope, windowed, now, covered.labels).items()}


def decide(rule, value, alert):
    """What this value does to the (rule, subject) alert: None, RAISE, REOPEN or CLEAR.

    Below the line, an alert not yet cleared is marked cleared. Above it, a missing alert is raised, and a
    cleared one reopens, whatever its state: resolved or dismissed (open again), or still open or acknowledged
    (its state kept): the subject fell under the line and crossed it again, perhaps another set of chips at
    another figure, so the alert's value, label and evidence are the new crossing's, logged, not the first one's
    kept without a word.
    """
    if not rule.crosses(value):
        return CLEAR if alert is not None and alert.cleared_at is None else None
    if alert is None:
        return RAISE
    return None if alert.cleared_at is None else REOPEN


class _RuleValues:
    """Each rule's value for each subject of a scope, from the refreshed totals and one usage GROUP BY per window."""

    def __init__(self, scope, totals, now, only):
        self.scope, self.totals, self.now, self.only = scope, totals, now, only
        self._windows = {}

    def of(self, rule, key):
        if rule.metric not in WINDOW_METRICS:
            return stored_metric_value(rule, self.totals.get(key))
        days = rule.window_days or 1
        workloads = unattributed_workloads(rule)
        window = (days, record_field(rule.basis), tuple(workloads) if workloads is not None else None)
        if window not in self._windows:
            length = timedelta(days=days)
            args = (self.scope, self.now - length, length, rule.basis, self.only, workloads)
            present, late = aggregates.usage(*args), aggregates.late_usage(*args)
            # The larger of the present window and the fullest one around a statement filed late (never both).
            self._windows[window] = {
                key: max(present.get(key, 0.0), late[key].value if late.get(key) else 0.0)
                for key in present.keys() | late.keys()
            }
        return self._windows[window].get(key, 0.0)


def _stored_alerts(scope, rules, keys=None):
    """{(rule pk, subject key): ExistingAlert} of the rules' alerts in this scope (of these subjects), one query."""
    groups = {f"rule:{r.pk}": r.pk for r in rules}
    alerts = Alert.objects.filter(group__any=list(groups), scope=scope)
    if keys is not None:
        alerts = alerts.filter(subject_key__any=list(keys))
    rows = alerts.values_list("group", "subject_key", "pk", "state", "cleared_at")
    return {(groups[group], key): ExistingAlert(*rest) for group, key, *rest in rows}


def _subjects(scope, rows, keys):
    """{key: Subject} for these subjects: from their aggregate row, else (usage only) looked up."""
    missing = [k for k in keys if k not in rows]
    found = aggregates.labels(scope, missing) if missing else {}
    return {k: Subject(*(found[k] if k in found else rows[k][:3])) for k in keys}


def _act(scope, actions, subjects, totals, now):
    """Carry out the evaluation's decisions; return the alerts raised or reopened."""
    clear = [alert.pk for _, _, _, alert in actions[CLEAR]]
    if clear:
        Alert.objects.filter(pk__any=clear).update(cleared_at=timezone.now())
    raises = [
        (rule, key, value, subjects.get((rule.pk, key)) or subjects[key]) for rule, key, value, _ in actions[RAISE]
    ]
    changed = []
    chips = {key: values["chip_count"] for key, values in totals.items()}
    for batch in _batches(raises, chips):
        changed += _raise_many(scope, batch, now)
    for rule, key, value, alert in actions[REOPEN]:
        reopened = _reopen(alert.pk, rule, scope, key, value, now)
        if reopened is not None:
            changed.append(reopened)
    return changed


def _batches(raises, chips):
    """The raises in order, cut into batches of at most RAISE_CHUNK alerts and RAISE_CHUNK_CHIPS chips."""
    batch, keys, count = [], set(), 0
    for item in raises:
        key = item[1]
        extra = 0 if key in keys else chips.get(key, 0)
        if batch and (len(batch) >= RAISE_CHUNK or count + extra > RAISE_CHUNK_CHIPS):
            yield batch
            batch, keys, count, extra = [], set(), 0, chips.get(key, 0)
        batch.append(item)
        keys.add(key)
        count += extra
    if batch:
        yield batch


def _comparison_text(rule):
    return ">" if rule.comparison == "gt" else "≥"


def _clock_starts(scope, raises):
    """{(rule key, subject key): when the subject first crossed the rule with a clock running}, for the raises of
    rules with a clock whose earlier versions alerted the subject: a new version of the rule (a corrected name, a
    new figure, a preset loaded again) is the same rule, and its clock runs from that first crossing, as a
    reopening's does (a version that restarted it would buy the subject a new clock). A clock the earlier
    versions did not have starts with the version that declares it."""
    clocked = [(rule, key) for rule, key, _, _ in raises if rule.clock_days]
    if not clocked:
        return {}
    rows = (
        Alert.objects.filter(
            scope=scope,
            rule__key__in={rule.key for rule, _ in clocked},
            subject_key__in={key for _, key in clocked},
            due_at__isnull=False,
        )
        .values_list("rule__key", "subject_key")
        .annotate(first=Min("raised_at"))
        .order_by()
    )
    return {(rule_key, key): first for rule_key, key, first in rows}


def _title(rule, label, value):
    return f"{rule.name}: {label} at {value:,.4g} {_comparison_text(rule)} {rule.value:,.4g}"


def _new_alert(rule, scope, key, value, subject, now, facility_id=None, clock_from=None):
    return Alert(
        kind=AlertKind.THRESHOLD,
        rule=rule,
        group=f"rule:{rule.pk}",
        scope=scope,
        subject_key=key,
        subject_label=subject.label,
        facility_id=int(key) if scope == Scope.FACILITY else facility_id,
        operator_id=subject.operator_id,
        country=subject.country,
        severity=rule.severity,
        state=AlertState.OPEN,
        title=_title(rule, subject.label, value),
        value=value,
        threshold=rule.value,
        raised_at=now,
        updated_at=now,
        reopened=0,
        due_at=(clock_from or now) + timedelta(days=rule.clock_days) if rule.clock_days else None,
    )


def _raise_many(scope, raises, now):
    """Raise these alerts in one transaction, each with its frozen evidence, log event and transition.

    An alert another evaluation raised first is skipped (one alert per rule
    version and subject): the insert waits for that evaluation's transaction
    and then leaves its alert alone.
    """
    with transaction.atomic():
        at = timezone.now()
        # A covered cluster that lies in one facility is that facility's alert too (its page lists it).
        within = {}
        if covered.is_component_scope(scope):
            within = _by_window(scope, raises, now, covered.facilities)
        starts = _clock_starts(scope, raises)
        alerts = _insert_new(
            [
                _new_alert(rule, scope, key, value, subj, at, within.get((rule.pk, key)), starts.get((rule.key, key)))
                for rule, key, value, subj in raises
            ]
        )
        if not alerts:
            return []
        counted = _counted_many(scope, [(alert.rule, alert.subject_key) for alert in alerts], now)
        countries = run_metrics.countries(scope, {a.subject_key for a in alerts}) if scope in RUN_SCOPES else {}
        # One checkpoint covering every source of the batch, and one read of their proofs.
        sealed = evidence_seal([c.sources for c in counted.values()])
        evidence = AlertEvidence.objects.bulk_create(
            [
                _evidence(alert, alert.rule, alert.value, counted[alert.rule.pk, alert.subject_key], sealed)
                for alert in alerts
            ]
        )
        _attach_operators(alerts)
        first = append_events(
            [
                ("alert.raised", f"alert:{alert.pk}", _alert_data(alert, ev), *_readers(alert, countries))
                for alert, ev in zip(alerts, evidence, strict=True)
            ]
        )
        _set_log_indices(alerts, first)
        AlertTransition.objects.bulk_create(
            AlertTransition(alert=a, to_state=AlertState.OPEN, reason="threshold crossed", log_index=a.log_index)
            for a in alerts
        )
        _notify_many([alert.pk for alert in alerts], "alert.raised")
        return alerts


def _insert_new(new):
    """INSERT these alerts, skipping any that exists already; return those inserted, with their pks."""
    alerts = {(a.group, a.subject_key): a for a in new}
    out = []
    for pk, group, key in sorted(storage.insert_alerts(list(alerts.values()))):
        alert = alerts[group, key]
        alert.pk = pk
        alert._state.adding, alert._state.db = False, connection.alias
        out.append(alert)
    return out


def _set_log_indices(alerts, first):
    """Alert i gets the log index first + i (its event's), in one UPDATE."""
    for offset, alert in enumerate(alerts):
        alert.log_index = first + offset
    storage.set_alert_log_indices([alert.pk for alert in alerts], first)


def _attach_operators(alerts):
    """Give each alert its operator (its code goes in the log event) with one query for all."""
    from registry.models import Organisation

    ids = list({a.operator_id for a in alerts if a.operator_id})
    operators = {o.pk: o for o in Organisation.objects.filter(pk__any=ids).only("pk", "code")} if ids else {}
    for alert in alerts:
        if alert.operator_id:
            alert.operator = operators[alert.operator_id]


def _readers(alert, countries=None):
    """(parties, countries) who may read the alert's log event besides treaty bodies: its operator and its
    country, or for a run or a model every country of its runs (`countries`: {subject key: [countries]})."""
    parties = [alert.operator.code] if alert.operator_id else []
    found = (countries or {}).get(alert.subject_key)
    return parties, sorted(found) if found else ([alert.country] if alert.country else [])


def readers(alert):
    """_readers of one alert as its subject is now: every event of a run's or a model's alert (raised, reopened,
    escalated, acknowledged...) is read in every country of its runs, as the alert itself is
    (compliance.models.AlertQuerySet), not by the row's one country alone."""
    scope, key = alert.scope, alert.subject_key
    return _readers(alert, run_metrics.countries(scope, [key]) if scope in RUN_SCOPES else None)


def _reopen(alert_pk, rule, scope, key, value, now=None):
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert_pk)
        if alert.cleared_at is None:  # crossed again meanwhile: another evaluation reopened it
            return None
        previous = alert.state
        # A closed alert opens again; an open or acknowledged one keeps its state (the treaty body's
        # acknowledgement stands: a subject flapping about the line does not undo it at every crossing).
        if previous in (AlertState.RESOLVED, AlertState.DISMISSED):
            alert.state = AlertState.OPEN
        alert.cleared_at = None
        alert.reopened += 1
        alert.value = value
        # Who may see it is the subject's as it is now, not as it was raised: a campus another operator has
        # joined since is no longer one operator's, and the evidence frozen below counts that operator's chips.
        since = _window_since(rule, scope, now or timezone.now())
        label, country, operator_id = _current_labels(scope, key, since)
        alert.subject_label, alert.country, alert.operator_id = label, country, operator_id
        alert.title = _title(rule, label, value)  # the crossing it now stands for, as its value and label
        if covered.is_component_scope(scope):
            alert.facility_id = covered.facilities(scope, [key], since)[key]
        alert.save()
        evidence = freeze(alert, rule, scope, key, value, now)
        parties, countries = readers(alert)
        index = append_event(
            "alert.reopened", f"alert:{alert.pk}", _alert_data(alert, evidence), parties=parties, countries=countries
        )
        AlertTransition.objects.create(
            alert=alert, from_state=previous, to_state=alert.state, reason="crossed again", log_index=index
        )
        _notify(alert, "alert.reopened")
        return alert


def _current_labels(scope, key, since=None):
    """(label, country, operator id) of a subject as it is now (`since`: a component as a window opening then
    joins it, _window_since)."""
    if scope in RUN_SCOPES:
        found = run_metrics.computed(scope, [key]).get(key)
        return (found.label, found.country, found.operator_id) if found else (key, "", None)
    if since is not None:
        return covered.labels(scope, [key], since)[key]
    return aggregates.labels(scope, [key])[key]


def freeze(alert, rule, scope, key, value, now=None):
    """Store the evidence of an alert now: what was counted, sealed (compliance.evidence)."""
    counted = _counted_many(scope, [(rule, key)], now or timezone.now())[rule.pk if rule else None, key]
    evidence = _evidence(alert, rule, value, counted, evidence_seal([counted.sources]))
    evidence.save()
    return evidence


def _counted_many(scope, pairs, now):
    """{(rule pk, subject key): _Counted}: what each alert counted, by what its rule measures.

    Capacity: the chips counted for the subject, with the placements that put them there (once per
    subject, however many of its rules it crossed). Unattributed compute: the usage records of the
    rule's window and workloads attributed to no run, by the statements (and their log indices) that
    reported them. Runs and models: the runs' declarations and the statements attributed to them."""
    out = {}
    if scope in RUN_SCOPES:
        keys = {key for _, key in pairs}
        computed = run_metrics.computed(scope, keys)
        rows = run_metrics.sources(computed)
        return {(rule.pk if rule else None, key): _Counted.of(rows.get(key, [])) for rule, key in pairs}
    capacity = {key for rule, key in pairs if rule is None or rule.metric != Metric.UNATTRIBUTED}
    rows = aggregates.chips_in_many(scope, capacity) if capacity else {}
    ties = aggregates.ties_in_many(scope, capacity) if capacity else {}
    by_rule = {}
    for rule, key in pairs:
        if rule is not None and rule.metric == Metric.UNATTRIBUTED:
            by_rule.setdefault(rule.pk, (rule, set()))[1].add(key)
        else:
            out[rule.pk if rule else None, key] = _Counted.of(rows.get(key, []), ties.get(key, []))
    for rule, keys in by_rule.values():
        length = timedelta(days=rule.window_days or 1)
        found = aggregates.unattributed_sources(
            scope, now - length, length, unattributed_workloads(rule), keys, basis=rule.basis
        )
        joined = aggregates.ties_in_many(scope, keys, now - length)  # a covered cluster's: what made its sites one
        out.update({(rule.pk, key): _Counted.of(found.get(key, []), joined.get(key, [])) for key in keys})
    return out


class _Counted(NamedTuple):
    """The chips counted for a subject, as its alerts' evidence records them."""

    count: int
    text: str
    sha256: str
    sources: list

    @classmethod
    def of(cls, rows, ties=()):
        """From the subject's chips_in rows: public ids sorted, one per line; the first 1,000 sources, after
        `ties` (what joined a covered cluster, or the facilities holding chips outside accepted ones)."""
        chips = sorted({r[0] for r in rows if r[0]})  # run and statement rows name no chip
        text = "".join(f"{c}\n" for c in chips)
        sources = sorted({(r[1], r[2], r[3]) for r in rows if r[1]}, key=lambda s: (s[0], str(s[1])))[:1000]
        return cls(
            len(chips),
            text,
            hashlib.sha256(text.encode()).hexdigest(),
            [*ties, *({"source": s, "id": i, "log_index": li} for s, i, li in sources)],
        )


def _evidence(alert, rule, value, counted, sealed):
    """The (unsaved) evidence of an alert: its chips, and a checkpoint that covers what put them there
    with the proofs that it does (`sealed`: a compliance.evidence.Seal covering its sources)."""
    return AlertEvidence(
        alert=alert,
        value=value,
        threshold=rule.value if rule else None,
        comparison=rule.comparison if rule else "",
        chip_count=counted.count,
        chips_sha256=counted.sha256,
        chips=counted.text,
        sources=counted.sources,
        **sealed.fields(counted.sources),
    )


def _alert_data(alert, evidence):
    return {
        "alert": alert.pk,
        "kind": alert.kind,
        "rule": f"{alert.rule.key} v{alert.rule.version}" if alert.rule_id else None,
        "scope": alert.scope,
        "subject": alert.subject_label,
        "severity": alert.severity,
        "value": alert.value,
        "threshold": alert.threshold,
        "chip_count": evidence.chip_count,
        "chips_sha256": evidence.chips_sha256,
        "checkpoint_size": evidence.checkpoint_size,
        "operator": alert.operator.code if alert.operator_id else None,
        "country": alert.country,
    }


def _notify(alert, event):
    """Hand the alert's event to delivery: an outbox event of this transaction (compliance.delivery.tasks.
    notify_events), so a worker that dies between the commit and the notification loses nothing (its redelivered
    task finds the alert raised and raises nothing again). The sequence is the alert's reopenings now."""
    _notify_many([alert.pk], event, alert.reopened)


def _notify_many(alert_pks, event, sequence=0):
    """Hand these alerts' event to delivery, through the outbox (one event; the subscriptions read once)."""
    from outbox import emit

    emit("alerts.notify", alerts=[[pk, sequence] for pk in alert_pks], event=event)


# --- clocks ------------------------------------------------------------------------------------------------


def _overdue_severity(alert):
    """The severity an overdue alert escalates to: its rule's `overdue_severity`, else one step up; never down."""
    ranks = Severity.values
    wanted = alert.rule.overdue_severity if alert.rule_id and alert.rule.overdue_severity else None
    if wanted is None:
        wanted = ranks[min(SEVERITY_RANK[alert.severity] + 1, len(ranks) - 1)]
    return max(alert.severity, wanted, key=SEVERITY_RANK.__getitem__)


def escalate_overdue(now=None):
    """Escalate the alerts past their clock (due_at) that are not cleared yet, once each, logged.

    A subject back under the line by its due date clears the alert (an evaluation sets cleared_at) and is
    never escalated; one still over it after the date is (draft agreement, Article V.3: consolidation within
    120 days). Runs with the periodic full evaluation. Returns the alerts escalated.

    Only the alerts of the rule versions in force: one of a version superseded since, or of a rule retired, is
    evaluated no more, so it would never be cleared (the subject back under the line, or no line at all); the
    version in force has its own alert on the subject, with the same clock (_clock_starts).
    """
    now = now or timezone.now()
    due = Alert.objects.filter(
        rule__in=ThresholdRule.objects.in_force(now),
        due_at__lte=now,
        escalated_at__isnull=True,
        cleared_at__isnull=True,
        state__in=[AlertState.OPEN, AlertState.ACKNOWLEDGED],
    )
    escalated = []
    for pk in due.order_by("id").values_list("pk", flat=True):
        alert = _escalate(pk, now)
        if alert is not None:
            escalated.append(alert)
    return escalated


def lapse_alerts(now=None):
    """Resolve, once each and logged, the open or acknowledged alerts of rule versions no longer in force (a later
    version took effect, or the rule was retired): nothing evaluates them any more, so they stood open for ever,
    neither cleared nor escalated, beside the alert the version in force keeps on the same subject (with the same
    clock, _clock_starts). The transition is the registry's (no user), its reason says which version governs now
    or that the rule ended. Runs with the periodic full evaluation. Returns the alerts resolved."""
    now = now or timezone.now()
    stale = Alert.objects.filter(rule__isnull=False, state__in=[AlertState.OPEN, AlertState.ACKNOWLEDGED]).exclude(
        rule__in=ThresholdRule.objects.in_force(now)
    )
    return [a for a in (_lapse(pk, now) for pk in stale.order_by("id").values_list("pk", flat=True)) if a]


def _lapse(alert_pk, now):
    with transaction.atomic():
        alert = Alert.objects.select_for_update(of=("self",)).select_related("rule", "operator").get(pk=alert_pk)
        in_force = ThresholdRule.objects.in_force(now)
        if alert.state not in (AlertState.OPEN, AlertState.ACKNOWLEDGED) or in_force.filter(pk=alert.rule_id).exists():
            return None  # moved by someone meanwhile, or (a retirement undone by nothing) still in force
        rule = alert.rule
        successor = in_force.filter(key=rule.key).values_list("version", flat=True).first()
        reason = f"{rule.key} v{rule.version} is no longer in force: " + (
            f"version {successor} governs now" if successor is not None else "the rule ended"
        )
        from compliance.services import move

        return move(alert, AlertState.RESOLVED, reason)


def _escalate(alert_pk, now):
    with transaction.atomic():
        alert = Alert.objects.select_for_update(of=("self",)).select_related("rule", "operator").get(pk=alert_pk)
        if alert.escalated_at is not None or alert.cleared_at is not None or alert.due_at is None:
            return None  # another worker did it, or the subject came back under the line meanwhile
        if alert.due_at > now or alert.state not in (AlertState.OPEN, AlertState.ACKNOWLEDGED):
            return None
        if not ThresholdRule.objects.in_force(now).filter(pk=alert.rule_id).exists():
            return None  # superseded or retired meanwhile
        before = alert.severity
        alert.severity = _overdue_severity(alert)
        alert.escalated_at = now
        alert.save(update_fields=["severity", "escalated_at", "updated_at"])
        parties, countries = readers(alert)
        index = append_event(
            "alert.escalated",
            f"alert:{alert.pk}",
            {
                "alert": alert.pk,
                "rule": f"{alert.rule.key} v{alert.rule.version}" if alert.rule_id else None,
                "subject": alert.subject_label,
                "due_at": alert.due_at.isoformat(),
                "from": before,
                "to": alert.severity,
                "operator": alert.operator.code if alert.operator_id else None,
                "country": alert.country,
            },
            parties=parties,
            countries=countries,
        )
        # Recorded beside the state changes, keeping the state: an escalation is its own kind of move.
        AlertTransition.objects.create(
            alert=alert,
            from_state=alert.state,
            to_state=alert.state,
            reason=f"overdue since {alert.due_at.isoformat()}: severity {before} to {alert.severity}",
            log_index=index,
        )
        _notify(alert, "alert.escalated")
        return alert
