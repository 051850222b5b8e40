"""The set-based full evaluation against evaluating the subjects one by one (the incremental path).

One generated world (two operators, three countries, facilities, clusters,
campuses, usage), rules of every scope and metric, and rounds of changes
that make subjects cross, stay above, drop below and cross again (with alerts
resolved in between, so they reopen). Each round is evaluated twice, inside
savepoints that are rolled back: once by evaluate_all(), once subject by
subject with evaluate({scope: {key}}); the stored aggregates, the alerts
(states, values, evidence, transitions) and their log events must agree.
"""

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance import evaluation, services
from compliance.choices import Scope
from compliance.models import Aggregate, Alert, ThresholdRule
from inventory.chiprefs import parse_listing
from inventory.models import Campus, Cluster, Facility
from inventory.services.listings import record_declaration
from registry.models import Chip
from registry.registration import register_chips
from tests.factories import chip_rows
from transparency.models import LogEventData

SINCE = datetime(2025, 1, 1, tzinfo=UTC)
H100_TPP = 15832
DAY = timedelta(days=1)

# (key, scope, metric, comparison, value, extra fields)
RULES = [
    ("f-count", "facility", "chip_count", "ge", 6, {}),
    ("f-tpp", "facility", "tpp", "gt", 5 * H100_TPP, {}),
    ("f-fp8", "facility", "peak_ops", "ge", 6 * 1979e12, {"precision": "fp8"}),
    ("f-mem", "facility", "memory_gb", "ge", 6 * 80, {}),
    ("f-train", "facility", "compute_window", "ge", 1e22, {"window_days": 30}),
    ("k-count", "cluster", "chip_count", "ge", 3, {}),
    ("k-train", "cluster", "compute_window", "ge", 5e21, {"window_days": 30}),
    ("c-tpp", "campus", "tpp", "gt", 7 * H100_TPP, {}),
    ("c-train", "campus", "compute_window", "ge", 1e22, {"window_days": 10, "basis": "peak"}),
    ("o-h100e", "operator_country", "h100e", "gt", 9, {}),
    ("o-train", "operator_country", "compute_window", "ge", 1e22, {"window_days": 30}),
    # SB-A1, SB-A2 (one campus) and SB-A3 (linked to SB-A1 at 100 Gbit/s): one covered cluster of 14 chips.
    ("cc-count", "covered_cluster", "chip_count", "ge", 10, {}),
    ("dc-count", "datacenter_cluster", "chip_count", "ge", 4, {}),  # each cluster its own set (no links inside)
    ("u-h100e", "unaccepted_holdings", "h100e", "gt", 9, {}),  # no facility accepted: as o-h100e
]

# Facilities: (code, operator, chips in cluster k1, chips in cluster k2, campus)
FACILITIES = [
    ("SB-A1", "a", 4, 3, "SB-C1"),  # 7 chips: over the facility lines
    ("SB-A2", "a", 2, 1, "SB-C1"),  # 3 chips: under; its campus (10) over
    ("SB-A3", "a", 2, 2, None),  # 4 chips, 3 more waiting (decommissioned) to come
    ("SB-B1", "b", 3, 3, "SB-C2"),  # 6 chips
    ("SB-B2", "b", 1, 0, "SB-C2"),
]
SPARE = 3  # extra chips of SB-A3, decommissioned at first


@pytest.fixture
def world(parties):
    treaty = parties.users["treaty"]
    for key, scope, metric, comparison, value, extra in RULES:
        services.declare(
            treaty,
            key,
            name=key,
            metric=metric,
            scope=scope,
            comparison=comparison,
            value=value,
            severity="high",
            effective_from=SINCE,
            **extra,
        )
    users = {"a": parties.users["op_a_admin"], "b": parties.users["op_b"]}
    campuses = {code: Campus.objects.create(code=code) for code in ("SB-C1", "SB-C2")}
    serials = {}
    for n, (code, op, k1, k2, campus) in enumerate(FACILITIES):
        user = users[op]
        fac = Facility.objects.create(
            code=code,
            name=code,
            operator=user.organisation,
            country=user.organisation.country,
            latitude=10 + n,
            longitude=10,
            campus=campuses.get(campus),
        )
        for cluster in ("k1", "k2"):
            Cluster.objects.create(facility=fac, code=cluster)
        count = k1 + k2 + (SPARE if code == "SB-A3" else 0)
        prefix = code.replace("-", "")
        register_chips(chip_rows(prefix, count), user)
        ids = [f"nvidia:{prefix}{i:06d}" for i in range(count)]
        serials[code] = [i.split(":")[1] for i in ids]
        listing = [{"chip": c, "cluster": "k1" if i < k1 else "k2"} for i, c in enumerate(ids)]
        record_declaration(user, fac, timezone.now() - DAY, parse_listing(listing, 1000))
    # A third operator-country subject: two of SB-B1's chips are recorded in FR.
    Chip.objects.filter(serial__in=serials["SB-B1"][:2]).update(country="FR")
    Chip.objects.filter(serial__in=serials["SB-A3"][-SPARE:]).update(status="decommissioned")
    from inventory.services.links import declare_link

    declare_link(
        users["a"],
        {
            "code": "sb-wan",
            "a_facility": Facility.objects.get(code="SB-A1"),
            "b_facility": Facility.objects.get(code="SB-A3"),
            "bandwidth_gbps": 100,
        },
    )
    _usage(users["a"], "SB-A1", serials["SB-A1"][:4], 3e21)  # 1.2e22 in SB-A1, its cluster k1 and op-a:US
    _usage(users["b"], "SB-B1", serials["SB-B1"][:3], 1e21)  # 3e21: under every line
    return {"serials": serials, "users": users, "treaty": treaty}


def _usage(user, code, serials, flop_each, ended_days_ago=2):
    from attestations.models import Attestation, UsageRecord

    fac = Facility.objects.get(code=code)
    att = Attestation.objects.create(
        kind="usage",
        statement_sha256=hashlib.sha256(f"{code} {flop_each} {ended_days_ago}".encode()).hexdigest(),
        envelope=b"{}",
        keyids=[],
        operator=user.organisation,
        facility=fac,
        issued_at=timezone.now(),
        nonce="0" * 32,
        header={},
        uploaded_by=user,
        uploaded_by_org=user.organisation,
    )
    now = timezone.now()
    for serial in serials:
        chip = Chip.objects.get(serial=serial)
        UsageRecord.objects.create(
            attestation=att,
            chip=chip,
            chip_ref=f"nvidia:{serial}",
            facility=fac,
            period_start=now - timedelta(days=ended_days_ago + 1),
            period_end=now - timedelta(days=ended_days_ago),
            active_s=1,
            utilization=1,
            energy_j=1,
            flop_fp16=flop_each,
            flop_peak=2 * flop_each,
        )


def _set_status(serials, status):
    Chip.objects.filter(serial__in=serials).update(status=status)


def _resolve(world, rule_key, facility_code):
    alert = Alert.objects.get(rule__key=rule_key, subject_label=facility_code)
    services.transition(world["treaty"], alert, "resolve", "explained")


# Each round: a change, then an evaluation at `now + days`.
def _round_1(world):
    """Crossings: SB-A1 (count, TPP, FP8, memory, training), its cluster k1, campus SB-C1, op-a in US."""


def _round_2(world):
    """SB-A1 drops below its count lines (two chips decommissioned); SB-A3 crosses; SB-C1 stays above."""
    _resolve(world, "f-count", "SB-A1")  # resolved while still above
    _resolve(world, "f-tpp", "SB-A1")
    _set_status(world["serials"]["SB-A1"][-2:], "decommissioned")
    _set_status(world["serials"]["SB-A3"][-3:], "installed")


def _round_3(world):
    """SB-A1 crosses again: its resolved alerts reopen, its open ones are uncleared; SB-B1's k1 crosses."""
    _set_status(world["serials"]["SB-A1"][-2:], "installed")
    _usage(world["users"]["b"], "SB-B1", world["serials"]["SB-B1"][:3], 2e21, ended_days_ago=1)


def _round_4(world):
    """Forty days later: every usage window is empty; SB-A3 drops below, SB-C1 stays above."""
    _set_status(world["serials"]["SB-A3"][:2], "lost")


ROUNDS = [(_round_1, 0), (_round_2, 0), (_round_3, 0), (_round_4, 40)]


def _subjects():
    """Every subject of the world, by scope."""
    from compliance.covered import COMPONENT_SCOPES, keys_for_facilities

    pairs = {f"{op}:{cc}" for op, cc in Chip.objects.exclude(country="").values_list("custodian_id", "country")}
    facilities = list(Facility.objects.values_list("pk", flat=True))
    return {
        Scope.FACILITY: {str(pk) for pk in facilities},
        Scope.CLUSTER: {str(pk) for pk in Cluster.objects.values_list("pk", flat=True)},
        Scope.CAMPUS: {str(pk) for pk in Campus.objects.values_list("pk", flat=True)},
        Scope.OPERATOR_COUNTRY: pairs,
        Scope.UNACCEPTED_HOLDINGS: pairs,
        **{scope: keys_for_facilities(scope, facilities) for scope in COMPONENT_SCOPES},
    }


def _full(now, subjects):
    return evaluation.evaluate_all(now=now)


def _one_by_one(now, subjects):
    changed = []
    for scope, keys in subjects.items():
        for key in sorted(keys):
            changed += evaluation.evaluate({scope: {key}}, now=now)
    return changed


def _num(value):
    return None if value is None else float(f"{value:.12g}")


def _snapshot():
    """The stored outcome, in terms both paths share (no primary keys of alerts, no log indices, no times)."""
    aggregates = {
        (a.scope, a.subject_key): (
            a.label,
            a.country,
            a.operator_id,
            a.chip_count,
            _num(a.tpp),
            _num(a.h100e),
            _num(a.memory_gb),
            {k: _num(v) for k, v in a.ops.items()},
        )
        for a in Aggregate.objects.all()
    }
    alerts = {}
    for alert in Alert.objects.select_related("rule").prefetch_related("evidence", "transitions"):
        alerts[alert.rule.key, alert.scope, alert.subject_key] = {
            "state": alert.state,
            "cleared": alert.cleared_at is not None,
            "reopened": alert.reopened,
            "value": _num(alert.value),
            "threshold": alert.threshold,
            "label": alert.subject_label,
            "title": alert.title,
            "access": (alert.operator_id, alert.country, alert.facility_id),
            "logged": alert.log_index is not None,
            "evidence": [
                (_num(e.value), e.threshold, e.comparison, e.chip_count, e.chips_sha256, len(e.sources))
                for e in alert.evidence.all()
            ],
            "transitions": [(t.from_state, t.to_state, t.reason) for t in alert.transitions.all()],
        }
    events = sorted(
        (e.event, sorted((k, str(v)) for k, v in json.loads(e.data_jcs).items() if k not in UNSHARED), e.parties)
        for e in LogEventData.objects.filter(event__in=["alert.raised", "alert.reopened"])
    )
    return aggregates, alerts, events


# A primary key, the log's size when the evidence was frozen, and the random salt every event's data carries
# (transparency.events.SALT).
UNSHARED = {"alert", "checkpoint_size", "salt"}


def _run(world, evaluate):
    """Every round through `evaluate`, inside a savepoint rolled back afterwards; a snapshot per round."""
    subjects = _subjects()
    start = timezone.now()
    snapshots, changed = [], []
    sid = transaction.savepoint()
    try:
        for change, days in ROUNDS:
            change(world)
            changed.append(len(evaluate(start + timedelta(days=days), subjects)))
            snapshots.append(_snapshot())
    finally:
        transaction.savepoint_rollback(sid)
    return snapshots, changed


def _same_aggregates(full, single):
    """Equal where both store a row; a row only one path stores (an empty subject) holds zeros."""
    for key in full.keys() | single.keys():
        if key in full and key in single:
            assert full[key] == single[key], key
        else:
            row = full.get(key) or single.get(key)
            assert row[3:] == (0, 0.0, 0.0, 0.0, {}), key


def test_full_evaluation_equals_one_by_one(world, monkeypatch):
    # Several raise transactions per scope, cut by alerts and by chips.
    monkeypatch.setattr(evaluation, "RAISE_CHUNK", 3)
    monkeypatch.setattr(evaluation, "RAISE_CHUNK_CHIPS", 8)
    full, full_changed = _run(world, _full)
    single, single_changed = _run(world, _one_by_one)
    assert full_changed == single_changed
    for n, ((f_aggs, f_alerts, f_events), (s_aggs, s_alerts, s_events)) in enumerate(zip(full, single, strict=True)):
        _same_aggregates(f_aggs, s_aggs)
        assert f_alerts == s_alerts, f"round {n + 1}"
        assert f_events == s_events, f"round {n + 1}"

    # The scenario does what it says (checked on the full path's snapshots).
    def alert(snapshot, rule, label):
        (match,) = [a for (r, _, _), a in snapshot[1].items() if r == rule and a["label"] == label]
        return match

    first, second, third, fourth = full
    assert {r for r, _, _ in first[1]} == {"f-count", "f-tpp", "f-fp8", "f-mem", "f-train", "k-count", "k-train"} | {
        "c-tpp",
        "c-train",
        "o-h100e",
        "o-train",
        "cc-count",
        "dc-count",
        "u-h100e",
    }
    # Crossing, then dropping below while resolved, then crossing again: reopened.
    assert alert(first, "f-count", "SB-A1")["state"] == "open"
    dropped = alert(second, "f-count", "SB-A1")
    assert (dropped["state"], dropped["cleared"]) == ("resolved", True)
    reopened = alert(third, "f-count", "SB-A1")
    assert (reopened["state"], reopened["cleared"], reopened["reopened"]) == ("open", False, 1)
    assert [t[1] for t in reopened["transitions"]] == ["open", "resolved", "open"] and len(reopened["evidence"]) == 2
    # Open, dropping below, crossing again: cleared, then reopened as the new crossing (its value and evidence
    # the new ones, logged), not uncleared without a word under the first crossing's figure.
    assert alert(second, "f-mem", "SB-A1")["cleared"] and not alert(third, "f-mem", "SB-A1")["cleared"]
    again = alert(third, "f-mem", "SB-A1")
    assert (again["state"], again["reopened"], len(again["evidence"])) == ("open", 1, 2)
    assert [t[1] for t in again["transitions"]] == ["open", "open"]
    # Its title is the new crossing's too, as its value (it kept the first crossing's figure).
    for reopened_alert in (again, reopened):
        assert f" at {reopened_alert['value']:,.4g} " in reopened_alert["title"], reopened_alert["title"]
    # Staying above: one alert, untouched.
    assert alert(fourth, "c-tpp", "SB-C1") == alert(first, "c-tpp", "SB-C1")
    # A new crossing, then below again; usage windows emptied by time.
    assert not [a for (r, _, _), a in first[1].items() if a["label"] == "SB-A3"]
    assert not alert(second, "f-count", "SB-A3")["cleared"] and alert(fourth, "f-count", "SB-A3")["cleared"]
    assert alert(third, "k-train", "SB-B1/k1")["value"] == pytest.approx(9e21)
    assert all(a["cleared"] for (r, _, _), a in fourth[1].items() if r.endswith("-train"))
    # The covered cluster of SB-A1, SB-A2 and SB-A3 (joined by campus and by link) stays above throughout.
    (covered,) = [a for (r, _, _), a in first[1].items() if r == "cc-count"]
    assert "SB-A1" in covered["label"] and "SB-A3" in covered["label"] and covered["value"] == 14
    assert covered["evidence"][0][5] > 0  # its link among the sources
    # Round 2 installs SB-A3's spare chips in its k2: that cluster alone reaches 5.
    assert sorted(a["label"] for (r, _, _), a in second[1].items() if r == "dc-count") == [
        "SB-A1: k1",
        "SB-A3: k2",
    ]
    assert full_changed == [21, 6, 7, 0]  # round 3: three more than before, open alerts crossing again


def test_raise_batches_bound_alerts_and_chips(monkeypatch):
    monkeypatch.setattr(evaluation, "RAISE_CHUNK", 3)
    monkeypatch.setattr(evaluation, "RAISE_CHUNK_CHIPS", 10)
    raises = [("r1", "a"), ("r2", "a"), ("r1", "b"), ("r1", "c"), ("r2", "c"), ("r3", "c"), ("r1", "d"), ("r1", "e")]
    chips = {"a": 4, "b": 5, "c": 2, "d": 30, "e": 1}
    batches = [[key for _, key in batch] for batch in evaluation._batches(raises, chips)]
    # a+b = 9 chips; c's three alerts fill a batch; d alone is over the budget; e follows.
    assert batches == [["a", "a", "b"], ["c", "c", "c"], ["d"], ["e"]]


def _steady_state_queries():
    evaluation.evaluate_all()
    with CaptureQueriesContext(connection) as queries:
        assert evaluation.evaluate_all() == []
    return len(queries)


def test_steady_state_full_evaluation_costs_the_same_queries_however_many_subjects(world, parties):
    """Set-based: the number of queries depends on the scopes and rules, not on the subjects."""
    before = _steady_state_queries()
    alerts = Alert.objects.filter(rule__key="f-count").count()
    user = parties.users["op_a_admin"]
    for n in range(8):
        code = f"SB-X{n}"
        fac = Facility.objects.create(
            code=code, name=code, operator=user.organisation, country="US", latitude=-10 - n, longitude=10
        )
        Cluster.objects.create(facility=fac, code="k1")
        register_chips(chip_rows(f"SBX{n}", 7), user)
        listing = [{"chip": f"nvidia:SBX{n}{i:06d}", "cluster": "k1"} for i in range(7)]
        record_declaration(user, fac, timezone.now() - DAY, parse_listing(listing, 1000))
    after = _steady_state_queries()
    assert Alert.objects.filter(rule__key="f-count").count() == alerts + 8
    assert after == before
    assert ThresholdRule.objects.count() == len(RULES)
