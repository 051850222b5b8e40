"""Thresholds, aggregates and alerts: boundaries, campuses, versions, reopening, concurrency."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from compliance import services
from compliance.evaluation import evaluate_all
from compliance.models import Aggregate, Alert, AlertEvidence, ThresholdRule
from inventory.chiprefs import parse_listing
from inventory.models import Facility
from inventory.services.listings import record_declaration
from outbox.models import OutboxEvent
from outbox.relay import drain_all
from registry.registration import register_chips
from tests.factories import chip_rows

SINCE = datetime(2025, 1, 1, tzinfo=UTC)


def settle():
    """What the relay and workers do after commits (eager in tests)."""
    return drain_all()


@pytest.fixture
def op(parties):
    return parties.users["op_a_admin"]


def facility(op, code, lat=38.9, lon=-77.4, country="US"):
    return Facility.objects.create(
        code=code, name=code, operator=op.organisation, country=country, latitude=lat, longitude=lon
    )


def declare(op, fac, chip_ids, when=None):
    rows = parse_listing(list(chip_ids), 1_000_000)
    record_declaration(op, fac, when or timezone.now() - timedelta(minutes=1), rows)


def rule(user, key="count", **fields):
    spec = {
        "name": key,
        "metric": "chip_count",
        "scope": "facility",
        "comparison": "ge",
        "value": 3,
        "severity": "high",
        "effective_from": SINCE,
        **fields,
    }
    return services.declare(user, key, **spec)


def chips(prefix, n, model="nvidia-h100-sxm5-80gb"):
    return [f"nvidia:{prefix}{i:06d}" for i in range(n)], chip_rows(prefix, n, model=model)


@pytest.mark.parametrize(
    "comparison,count,raised",
    [("ge", 2, False), ("ge", 3, True), ("ge", 4, True), ("gt", 2, False), ("gt", 3, False), ("gt", 4, True)],
)
def test_boundaries(parties, op, comparison, count, raised):
    rule(parties.users["treaty"], comparison=comparison, value=3)
    fac = facility(op, "F-1")
    ids, rows = chips("BND", count)
    register_chips(rows, op)
    declare(op, fac, ids)
    settle()
    alerts = Alert.objects.filter(scope="facility", subject_key=str(fac.pk))
    assert alerts.exists() == raised
    assert Aggregate.objects.get(scope="facility", subject_key=str(fac.pk)).chip_count == count


def test_tpp_threshold_one_chip_above_and_below(parties, op):
    """The draft treaty's line: more than 16 H100e (253,440 TPP). 16 H100 SXM (15,832 TPP each) = 15.99 H100e:
    below; 17: above. One facility alone is a covered cluster of its own (key `25/<facility id>`)."""
    call_command("load_presets", "draft-treaty", verbosity=0)
    fac = facility(op, "TPP-1")
    ids, rows = chips("TPP", 17)
    register_chips(rows, op)
    declare(op, fac, ids[:16])
    settle()
    assert not Alert.objects.filter(rule__key="treaty-covered-cluster").exists()
    declare(op, fac, ids)
    settle()
    alert = Alert.objects.get(subject_key=f"25/{fac.pk}", rule__key="treaty-covered-cluster")
    assert alert.value == pytest.approx(17 * 15832 / 15840) and alert.threshold == 16
    evidence = AlertEvidence.objects.get(alert=alert)
    assert evidence.chip_count == 17 and evidence.chips.splitlines() == sorted(ids)
    assert evidence.sources and all(s["log_index"] is not None for s in evidence.sources)
    assert evidence.checkpoint_size is not None


def test_cluster_split_across_two_facilities_of_one_campus(api, parties, op):
    """Each facility stays under the line; the campus they form does not."""
    call_command("load_presets", "draft-treaty", verbosity=0)
    client = api(op)
    for code, lon in (("SPLIT-A", -77.000), ("SPLIT-B", -76.980)):
        client.post(
            "/api/v1/facilities/", {"code": code, "name": code, "country": "US", "latitude": 39.0, "longitude": lon}
        )
    a, b = Facility.objects.get(code="SPLIT-A"), Facility.objects.get(code="SPLIT-B")
    assert a.campus_id and a.campus_id == b.campus_id
    ids, rows = chips("CAMP", 20)
    register_chips(rows, op)
    declare(op, a, ids[:10])
    declare(op, b, ids[10:])
    settle()
    campus_alert = Alert.objects.get(rule__key="treaty-covered-cluster")
    assert campus_alert.subject_key == f"25/{min(a.pk, b.pk)}"
    assert campus_alert.value == pytest.approx(20 * 15832 / 15840)


def test_peak_ops_and_h100e_and_memory_metrics(parties, op):
    treaty = parties.users["treaty"]
    rule(treaty, "ops", metric="peak_ops", precision="fp8", comparison="ge", value=2 * 1979e12)
    rule(treaty, "h100e", metric="h100e", comparison="gt", value=1.5)
    rule(treaty, "mem", metric="memory_gb", comparison="ge", value=160)
    fac = facility(op, "MET-1")
    ids, rows = chips("MET", 2)
    register_chips(rows, op)
    declare(op, fac, ids)
    settle()
    keys = set(Alert.objects.filter(subject_key=str(fac.pk)).values_list("rule__key", flat=True))
    assert keys == {"ops", "h100e", "mem"}


def test_operator_within_country_scope(parties, op):
    rule(parties.users["treaty"], "opcc", scope="operator_country", comparison="ge", value=5)
    _, rows = chips("OPC", 5)
    register_chips(rows, op)
    settle()
    alert = Alert.objects.get(rule__key="opcc")
    assert alert.subject_key == f"{op.organisation_id}:US" and alert.country == "US"


def test_compute_window_from_usage(parties, op):
    from attestations.models import Attestation, ChiplessUsageRecord

    rule(parties.users["treaty"], "train", metric="compute_window", window_days=30, comparison="ge", value=1e22)
    fac = facility(op, "USE-1")
    ids, rows = chips("USE", 2)
    register_chips(rows, op)
    att = Attestation.objects.create(
        kind="usage",
        statement_sha256="0" * 64,
        envelope=b"{}",
        keyids=[],
        operator=op.organisation,
        facility=fac,
        issued_at=timezone.now(),
        nonce="0" * 32,
        header={},
        uploaded_by=op,
        uploaded_by_org=op.organisation,
    )
    now = timezone.now()
    for i, flop in enumerate((6e21, 5e21)):
        # Kept by reference (bound to no chip): a facility's window counts them.
        ChiplessUsageRecord.objects.create(
            attestation=att,
            chip_ref=ids[i],
            facility=fac,
            period_start=now - timedelta(days=2),
            period_end=now - timedelta(days=1),
            active_s=1,
            utilization=1,
            energy_j=1,
            flop_fp16=flop,
            flop_peak=flop,
        )
    evaluate_all()
    assert Alert.objects.get(rule__key="train").value == pytest.approx(1.1e22)


def test_rule_change_is_a_new_version_and_old_alerts_keep_theirs(api, parties, op):
    client = api(parties.users["treaty"])
    body = {
        "key": "cnt",
        "name": "Count",
        "metric": "chip_count",
        "scope": "facility",
        "comparison": "ge",
        "value": 2,
        "severity": "high",
        "effective_from": "2025-01-01T00:00:00Z",
    }
    created = client.post("/api/v1/thresholds/", body)
    assert created.status_code == 201, created.content
    fac = facility(op, "VER-1")
    ids, rows = chips("VER", 3)
    register_chips(rows, op)
    declare(op, fac, ids)
    settle()
    first = Alert.objects.get()
    changed = client.patch(f"/api/v1/thresholds/{created.json()['id']}/", {"value": 3})
    assert changed.status_code == 200, changed.content
    assert changed.json()["version"] == 2
    evaluate_all()
    assert ThresholdRule.objects.get(key="cnt", version=1).superseded_at is not None
    assert Alert.objects.get(pk=first.pk).rule.version == 1  # the old alert keeps its version
    assert Alert.objects.filter(rule__version=2).count() == 1
    from transparency.models import LogEventData

    assert LogEventData.objects.filter(event="threshold.declared", object_id="threshold:cnt").count() == 2
    # Only treaty bodies declare.
    assert api(op).post("/api/v1/thresholds/", {**body, "key": "x"}).status_code == 403


def _one_alert(parties, op, code, prefix):
    """A rule over 3 chips and 4 chips declared at a new facility `code`: its one alert, and the chips' ids."""
    rule(parties.users["treaty"], value=3)
    fac = facility(op, code)
    ids, rows = chips(prefix, 4)
    register_chips(rows, op)
    declare(op, fac, ids)
    settle()
    return Alert.objects.get(), ids


def test_alert_lifecycle_and_reopening(api, parties, op):
    alert, ids = _one_alert(parties, op, "LIFE-1", "LIF")
    treaty = api(parties.users["treaty"])
    assert treaty.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {"reason": "looking"}).status_code == 200
    assert treaty.post(f"/api/v1/alerts/{alert.pk}/resolve/", {"reason": ""}).status_code == 400
    assert treaty.post(f"/api/v1/alerts/{alert.pk}/resolve/", {"reason": "operator explained"}).status_code == 200
    assert treaty.post(f"/api/v1/alerts/{alert.pk}/dismiss/", {"reason": "again"}).status_code == 409
    # Still above: resolving does not reopen it by itself.
    evaluate_all()
    assert Alert.objects.get(kind="threshold").state == "resolved"
    # It drops below (two chips decommissioned), then crosses again: the same alert reopens.
    from registry.models import Chip
    from registry.services import change_chip
    from tests.factories import witnessed_disposal

    witnessed_disposal(op, parties.users["treaty"], ["nvidia:LIF000000", "nvidia:LIF000001"])
    settle()
    assert Alert.objects.get(kind="threshold").cleared_at is not None
    for chip in Chip.objects.filter(serial__in=["LIF000000", "LIF000001"]):
        change_chip(chip, op, status="installed")
    settle()
    alert = Alert.objects.get(kind="threshold")
    assert alert.state == "open" and alert.reopened == 1
    assert list(alert.transitions.values_list("to_state", flat=True)) == ["open", "acknowledged", "resolved", "open"]
    assert alert.evidence.count() == 2
    detail = treaty.get(f"/api/v1/alerts/{alert.pk}/").json()
    assert detail["transitions"][1]["by"] == parties.users["treaty"].username
    assert treaty.get(f"/api/v1/alerts/{alert.pk}/chips/").content.decode().splitlines() == sorted(ids)
    # Operators see their alerts but cannot acknowledge them.
    assert api(op).get(f"/api/v1/alerts/{alert.pk}/").status_code == 200
    assert api(op).post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {"reason": "mine"}).status_code == 403
    assert api(parties.users["op_b"]).get(f"/api/v1/alerts/{alert.pk}/").status_code == 404
    assert api(parties.users["insp_fr"]).get(f"/api/v1/alerts/{alert.pk}/").status_code == 404


def test_an_open_alert_crossing_again_stands_for_the_new_crossing(api, parties, op):
    """Still open when its subject fell under the line (4 chips over 3, then 2), the alert is reopened when the
    subject crosses again with 5 chips, logged, with the new value, title and evidence: it was uncleared without a
    word, still saying 4 and counting the first crossing's chips (a client written from the README met it)."""
    from registry.models import Chip
    from registry.registration import register_chips as register
    from tests.factories import witnessed_disposal
    from transparency.models import LogEventData

    alert, ids = _one_alert(parties, op, "AGAIN-1", "AGN")
    assert (alert.state, alert.value) == ("open", 4)
    treaty = api(parties.users["treaty"])
    assert treaty.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {"reason": "looking"}).status_code == 200
    witnessed_disposal(op, parties.users["treaty"], ids[:2])
    settle()
    assert Alert.objects.get(pk=alert.pk).cleared_at is not None
    more, rows = chips("AGX", 3)
    register(rows, op)
    declare(op, Facility.objects.get(code="AGAIN-1"), [*ids[2:], *more])
    settle()
    alert.refresh_from_db()
    # Its acknowledgement stands (a subject flapping about the line does not undo it at every crossing).
    assert (alert.state, alert.cleared_at, alert.value, alert.reopened) == ("acknowledged", None, 5, 1)
    assert alert.title == "count: AGAIN-1 at 5 ≥ 3", alert.title
    assert list(alert.transitions.order_by("id").values_list("from_state", "to_state", "reason")) == [
        ("", "open", "threshold crossed"),
        ("open", "acknowledged", "looking"),
        ("acknowledged", "acknowledged", "crossed again"),
    ]
    latest = alert.evidence.order_by("-id").first()
    assert latest.value == 5 and sorted(latest.chips.split()) == sorted([*ids[2:], *more])
    assert LogEventData.objects.filter(event="alert.reopened", object_id=f"alert:{alert.pk}").count() == 1
    assert not Chip.objects.filter(serial__in=["AGN000000", "AGN000001"], status="installed").exists()


def test_an_alert_transition_without_a_reason_is_reason_required(api, parties, op):
    """Missing, null, empty or blank, the reason is the code every decision that needs one answers
    (a plain field answered `invalid`); one too short to say anything stays `invalid`."""
    alert, _ = _one_alert(parties, op, "WHY-1", "WHY")
    transitions = alert.transitions.count()
    treaty = api(parties.users["treaty"])
    for action in ("acknowledge", "resolve", "dismiss"):
        for body in ({}, {"reason": ""}, {"reason": " \t\n"}, {"reason": None}):
            response = treaty.post(f"/api/v1/alerts/{alert.pk}/{action}/", body)
            assert (response.status_code, response.json()["code"]) == (400, "reason_required"), (action, body)
    short = treaty.post(f"/api/v1/alerts/{alert.pk}/dismiss/", {"reason": "no"})
    assert (short.status_code, short.json()["code"]) == (400, "invalid") and "reason" in short.json()["errors"]
    alert.refresh_from_db()
    assert alert.state == "open" and alert.transitions.count() == transitions


def test_findings_become_alerts(parties, op):
    fac = facility(op, "FND-1")
    ids, rows = chips("FND", 3)
    register_chips(rows, op)
    declare(op, fac, ids)
    declare(op, fac, [*ids[:1], "nvidia:GHOST0001"])  # two unaccounted, one unknown
    settle()
    kinds = dict(Alert.objects.filter(kind="finding").values_list("group", "value"))
    assert {g.split(":")[0]: v for g, v in kinds.items()} == {"unaccounted": 2, "unknown_chip": 1}
    alert = Alert.objects.get(group__startswith="unaccounted")
    assert alert.severity == "high" and alert.facility == fac
    assert alert.evidence.get().chips.splitlines() == ids[1:]


def test_presets_cite_their_sources(parties):
    call_command("load_presets", verbosity=0)
    rules = ThresholdRule.objects.all()
    assert {r.key for r in rules} == {
        "treaty-covered-cluster",
        "treaty-consolidation",
        "treaty-run-review",
        "treaty-run-prohibited",
        "treaty-run-attested-prohibited",
        "treaty-post-training-prohibited",
        "treaty-post-training-attested-prohibited",
        "treaty-run-over-plan",
        "treaty-model-attested",
        "treaty-unexplained-compute-facility",
        "treaty-unexplained-compute-cluster",
        "treaty-unexplained-compute-covered-cluster",
        "us-eo-14110-model",
        "us-eo-14110-cluster",
        "eu-ai-act-systemic",
    }
    assert all(r.legal_reference for r in rules)
    # No preset sums a facility's every workload any more (issue 17: inference raised "prohibited run").
    assert not any(r.metric == "compute_window" for r in rules)
    by_key = {r.key: r for r in rules}
    assert (by_key["eu-ai-act-systemic"].metric, by_key["eu-ai-act-systemic"].comparison) == ("model_compute", "gt")
    assert by_key["eu-ai-act-systemic"].value == 1e25 and "Art. 51(2)" in by_key["eu-ai-act-systemic"].legal_reference
    assert (by_key["us-eo-14110-model"].value, by_key["us-eo-14110-model"].scope) == (1e26, "model")
    assert "4.2(b)(i)" in by_key["us-eo-14110-model"].legal_reference
    assert "Article IV(1)" in by_key["treaty-run-attested-prohibited"].legal_reference
    assert by_key["treaty-run-attested-prohibited"].basis == "higher"
    post = by_key["treaty-post-training-prohibited"]
    assert (post.value, post.effect, sorted(post.run_kinds)) == (1e23, "prohibit", ["fine_tuning", "post_training"])
    unexplained = by_key["treaty-unexplained-compute-facility"]
    assert (unexplained.value, unexplained.window_days, unexplained.comparison) == (1e22, 30, "gt")
    # Every label but inference: relabelling training as mixed, other or idle does not hide it (review 2026-12-06).
    assert sorted(unexplained.workloads) == ["idle", "mixed", "other", "training", "unlabelled"]
    model = by_key["treaty-model-attested"]
    assert (model.metric, model.scope, model.basis, model.comparison, model.value) == (
        "model_compute",
        "model",
        "higher",
        "gt",
        1e24,
    )
    assert "Article II.3" in model.legal_reference
    call_command("load_presets", verbosity=0)  # loading again declares nothing new
    assert ThresholdRule.objects.count() == len(rules)


def test_loading_the_presets_retires_the_facility_wide_compute_windows(parties):
    """Rules an earlier version of the presets declared (a facility's every workload over 365 days against
    1e24, "Prohibited training run") are retired by the next load, each a logged `threshold.retired`; the
    EU rule gets a new version on its new metric. Nothing is deleted."""
    from compliance.services import declare as declare_rule
    from transparency.models import LogEventData

    treaty = parties.users["treaty"]
    old = declare_rule(
        treaty,
        "treaty-training-prohibited",
        name="Prohibited training run",
        legal_reference="draft",
        metric="compute_window",
        basis="fp16",
        window_days=365,
        scope="facility",
        comparison="ge",
        value=1e24,
        severity="critical",
        effective_from=timezone.now() - timedelta(days=1),
        preset="draft-treaty",
    )
    eu = declare_rule(
        treaty,
        "eu-ai-act-systemic",
        name="EU",
        legal_reference="EU",
        metric="compute_window",
        basis="fp16",
        window_days=365,
        scope="facility",
        comparison="ge",
        value=1e25,
        effective_from=timezone.now() - timedelta(days=1),
        preset="eu-ai-act",
    )
    call_command("load_presets", verbosity=0)
    old.refresh_from_db()
    assert old.effective_to is not None and old.effective_to <= timezone.now()
    assert not ThresholdRule.objects.in_force(timezone.now()).filter(key="treaty-training-prohibited").exists()
    retired = LogEventData.objects.filter(event="threshold.retired", object_id="threshold:treaty-training-prohibited")
    assert retired.count() == 1
    current = ThresholdRule.objects.current().get(key="eu-ai-act-systemic")
    assert current.version == eu.version + 1 and current.metric == "model_compute"
    assert not ThresholdRule.objects.in_force(timezone.now()).filter(metric="compute_window").exists()


def test_changes_are_announced_in_their_own_transaction(parties, op):
    fac = facility(op, "OUT-1")
    ids, rows = chips("OUT", 2)
    register_chips(rows, op)
    assert OutboxEvent.objects.filter(topic="chips.changed", dispatched_at__isnull=True).exists()
    declare(op, fac, ids)
    event = OutboxEvent.objects.filter(topic="placements.changed").latest("id")
    assert event.payload == {"facilities": [fac.pk], "operator_countries": []}  # registered in US, placed in US
    assert settle() >= 2
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()


def test_operator_country_is_recounted_when_chips_cross_a_border_and_only_then(parties, op):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    us1, us2 = facility(op, "MOVE-US1"), facility(op, "MOVE-US2", lat=40.0)
    de = facility(op, "MOVE-DE", lat=50.1, lon=8.7, country="DE")
    ids, rows = chips("MOVE", 3)
    register_chips(rows, op)
    declare(op, us1, ids)
    settle()
    us, de_key = f"{op.organisation.pk}:US", f"{op.organisation.pk}:DE"

    def counts():
        return dict(Aggregate.objects.filter(scope="operator_country").values_list("subject_key", "chip_count"))

    assert counts() == {us: 3}

    declare(op, us2, ids[:2], when=timezone.now() - timedelta(seconds=30))
    assert OutboxEvent.objects.filter(topic="placements.changed").latest("id").payload == {
        "facilities": sorted([us1.pk, us2.pk]),
        "operator_countries": [],
    }
    with CaptureQueriesContext(connection) as queries:
        settle()
    assert Aggregate.objects.filter(scope="facility", subject_key=str(us2.pk)).get().chip_count == 2
    recounts = [q["sql"] for q in queries.captured_queries if "c.custodian_id || ':' || c.country" in q["sql"]]
    assert recounts == []  # a move within a country leaves the operator's country totals alone

    declare(op, de, ids[:1], when=timezone.now() - timedelta(seconds=10))
    assert OutboxEvent.objects.filter(topic="placements.changed").latest("id").payload["operator_countries"] == [
        de_key,
        us,
    ]
    settle()
    assert counts() == {us: 2, de_key: 1}


def test_one_failing_event_of_a_batch_does_not_cost_the_others_their_evaluation(parties, op):
    from compliance.tasks import evaluate_events

    fac = facility(op, "BATCH-1")
    ids, rows = chips("BATCH", 2)
    register_chips(rows, op)
    declare(op, fac, ids)
    OutboxEvent.objects.update(dispatched_at=timezone.now())  # handed over below, by hand
    assert not Aggregate.objects.filter(scope="facility", subject_key=str(fac.pk)).exists()
    broken = [1, "findings.raised", {}]  # no source: raise_for cannot run
    placed = [2, "placements.changed", {"facilities": [fac.pk], "operator_countries": []}]
    with pytest.raises(KeyError):
        evaluate_events([broken, placed])
    assert Aggregate.objects.get(scope="facility", subject_key=str(fac.pk)).chip_count == 2


def test_failed_change_announces_nothing(parties, op):
    from core.errors import DomainError

    before = OutboxEvent.objects.count()
    with pytest.raises(DomainError):
        register_chips(chip_rows("BAD", 1, model="nope"), op)
    assert OutboxEvent.objects.count() == before


def test_aggregates_api_respects_visibility(api, parties, op):
    fac = facility(op, "AGG-1")
    ids, rows = chips("AGG", 3)
    register_chips(rows, op)
    declare(op, fac, ids)
    settle()
    mine = api(op).get("/api/v1/aggregates/?scope=facility").json()["results"]
    assert [(a["label"], a["chip_count"]) for a in mine] == [("AGG-1", 3)]
    assert api(parties.users["op_b"]).get("/api/v1/aggregates/?scope=facility").json()["results"] == []
    assert len(api(parties.users["insp_us"]).get("/api/v1/aggregates/?scope=facility").json()["results"]) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_evaluations_leave_one_open_alert(parties):
    import threading

    from django.db import connections

    op = parties.users["op_a_admin"]
    fac = facility(op, "RACE-1")
    ids, rows = chips("RCE", 3)
    register_chips(rows, op)
    declare(op, fac, ids)
    # The rule appears without an evaluation of its own, so the threads race to raise.
    ThresholdRule.objects.create(
        key="race", name="race", metric="chip_count", scope="facility", comparison="ge", value=2, effective_from=SINCE
    )
    assert not Alert.objects.exists()
    barrier = threading.Barrier(6)
    errors = []

    def run():
        try:
            barrier.wait()
            evaluate_all()
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert Alert.objects.filter(kind="threshold", state="open").count() == 1


def test_sweep_raises_alerts_for_findings_whose_event_was_lost(parties, op):
    """A broker that restarts empty loses dispatched events; the periodic sweep catches up."""
    from compliance.finding_alerts import sweep

    fac = facility(op, "LOST-1")
    ids, rows = chips("LST", 2)
    register_chips(rows, op)
    declare(op, fac, [*ids, "nvidia:GHOSTLOST1"])
    OutboxEvent.objects.all().delete()  # as if the relay had handed them to a broker that then lost them
    assert not Alert.objects.filter(kind="finding").exists()
    raised = sweep()
    assert [a.group.split(":")[0] for a in raised] == ["unknown_chip"]
    assert sweep() == []


def test_new_rule_is_announced_through_the_outbox(parties, op):
    rule(parties.users["treaty"], "via-outbox", value=1)
    assert OutboxEvent.objects.filter(topic="rules.changed", dispatched_at__isnull=True).exists()
