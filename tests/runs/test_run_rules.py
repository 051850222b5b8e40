"""Issue 17's done-when scenarios on the presets: runs, models and compute no declared run explains.

H100 SXM figures (the catalogue): 989 TFLOP/s BF16, 1,979 FP8, 700 W. A chip busy all day at full power is
bounded at 8.5e19 FLOP (FP16) and 1.7e20 (its fastest precision: the draft's "whichever is higher").
"""

from datetime import timedelta

import pytest
from django.core.management import call_command

from attestations.models import Attestation
from compliance import run_metrics
from compliance.models import Alert
from inventory.models import Facility
from outbox import emit
from outbox.relay import drain_all
from registry.registration import register_chips
from runs import services as runs
from runs.models import Run
from tests.attestations.conftest import World, now
from tests.factories import chip_rows
from tests.runs.test_usage import declare_earlier

DAY = 86_400
H100_W = 700.0


@pytest.fixture
def world(api, parties):
    """The attestations world with the draft agreement's and the EU's presets, and 400 more H100s of op-a."""
    w = World(api, parties)
    call_command("load_presets", "draft-treaty", "eu-ai-act", verbosity=0)
    register_chips(chip_rows("H", 400), parties.users["op_a_admin"])
    w.insp_us = api(parties.users["insp_us"])
    w.insp_fr = api(parties.users["insp_fr"])
    drain_all()
    return w


def busy(days, serials=None):
    """Every one of the 400 H100s busy for `days`, at full power."""
    seconds = days * DAY
    refs = serials or [f"nvidia:H{i:06d}" for i in range(400)]
    return [{"chip": r, "active_s": seconds, "utilization": 1.0, "energy_j": H100_W * seconds} for r in refs]


def report(world, days, workload=None, run=None, end=None, client=None, operator="op-a", key=None):
    end = end or now() - timedelta(minutes=5)
    statement = world.usage(busy(days), end - timedelta(days=days), end, operator=operator)
    if workload:
        statement["workload"] = workload
    if run:
        statement["run"] = run
    r, _ = world.submit(client or world.op_a, statement, *([key] if key else []))
    assert r.status_code == 201, r.content
    drain_all()  # the relay hands the usage event to the evaluation (eager in tests)
    return r.json()


# What these tests judge: compute (runs, models, unattributed work). The facility's 400 H100s are also a
# covered cluster and holdings outside accepted facilities: capacity alerts, the clusters' tests' business.
COMPUTE_METRICS = (
    "compute_window",
    "unattributed_compute",
    "run_planned_compute",
    "run_attested_compute",
    "run_attested_over_plan",
    "model_compute",
)


def threshold_alerts(**kw):
    return Alert.objects.filter(kind="threshold", rule__metric__in=COMPUTE_METRICS, **kw)


def test_inference_for_a_month_raises_no_run_alert_and_no_unexplained_compute(world):
    """400 H100s serving a model for 31 days: 1.06e24 FLOP (FP16), the figure that raised the critical
    "Prohibited training run" before. Inference is not training: nothing is alerted."""
    body = report(world, 31, workload="inference")
    assert body["flags"] == {}
    assert not threshold_alerts().exists()


def test_the_same_compute_as_training_with_no_run_is_unexplained(world):
    body = report(world, 31, workload="training")
    statement = Attestation.objects.get(pk=body["id"])
    [alert] = threshold_alerts()
    assert alert.rule.key == "treaty-unexplained-compute-facility" and alert.scope == "facility"
    assert alert.severity == "high" and alert.rule.metric == "unattributed_compute"
    assert alert.value > 2e24 and alert.threshold == 1e22  # the fastest-precision bound ("higher")
    assert alert.facility.code == "US-VA-001" and alert.operator.code == "op-a" and alert.country == "US"
    # Its evidence names the statement that reported the work, with its log index, and the chips.
    evidence = alert.evidence.get()
    assert evidence.sources == [{"source": "attestation", "id": str(statement.pk), "log_index": statement.log_index}]
    assert evidence.chip_count == 400 and evidence.chips.splitlines()[0] == "nvidia:H000000"
    # Unlabelled work counts too (leaving the label off does not hide training).
    assert not threshold_alerts().filter(rule__key="eu-ai-act-systemic").exists()


def test_unlabelled_work_is_counted_and_a_rule_may_count_inference(world, parties):
    from compliance.services import declare as declare_rule

    declare_rule(
        parties.users["treaty"],
        "serving-watch",
        name="Serving watch",
        metric="unattributed_compute",
        basis="fp16",
        window_days=30,
        workloads=["inference"],
        scope="facility",
        comparison="gt",
        value=1e23,
        severity="low",
        effective_from=now() - timedelta(days=1),
    )
    report(world, 2)  # unlabelled: 400 x 2 days x 1.7e20 = 1.4e23, above 1e22
    assert set(threshold_alerts().values_list("rule__key", flat=True)) == {"treaty-unexplained-compute-facility"}
    report(world, 10, workload="inference", end=now() - timedelta(days=3))
    low = threshold_alerts().get(rule__key="serving-watch")
    assert low.severity == "low" and 3e23 < low.value < 4e23  # inference only, on FP16


def test_a_declared_run_passing_its_plan_by_the_margin_is_alerted(world, parties):
    """A 5e23 run: 5 days of the 400 chips (3.4e23) is within its plan; 6 more (7.5e23 in all, more than
    1.1 x 5e23) pass it by the draft-treaty preset's margin, and the run is alerted. Its work is not
    unexplained (it is attributed)."""
    run = declare_earlier(parties, hours=24 * 12)
    assert run.planned_flop == 5e23 and run.state == "under_review"
    report(world, 5, workload="training", run=run.code, end=now() - timedelta(days=6))
    assert not threshold_alerts().exists()
    report(world, 6, workload="training", run=run.code)
    [alert] = threshold_alerts()
    assert alert.rule.key == "treaty-run-over-plan" and alert.scope == "run" and alert.subject_key == str(run.pk)
    assert 1.1 < alert.value < 2 and alert.threshold == 1.1
    assert alert.subject_label == run.code
    assert (alert.operator.code, alert.country) == ("op-a", "US")
    sources = alert.evidence.get().sources
    statements = Attestation.objects.filter(run=run).order_by("pk")
    assert {"source": "run", "id": run.code, "log_index": run.log_index} in sources
    assert [s for s in sources if s["source"] == "attestation"] == [
        {"source": "attestation", "id": str(a.pk), "log_index": a.log_index} for a in statements
    ]
    assert alert.evidence.get().chip_count == 400
    page = console(parties.users["treaty"]).get(f"/alerts/{alert.pk}/").content.decode()
    assert f'href="/runs/{run.code}/"' in page
    # The operator sees it and the inspectorate of the run's country does; another country's does not.
    assert world.op_a.get(f"/api/v1/alerts/{alert.pk}/").status_code == 200
    assert world.insp_us.get(f"/api/v1/alerts/{alert.pk}/").status_code == 200
    assert world.insp_fr.get(f"/api/v1/alerts/{alert.pk}/").status_code == 404
    assert world.op_b.get(f"/api/v1/alerts/{alert.pk}/").status_code == 404
    assert alert.pk not in [a["id"] for a in world.op_b.get("/api/v1/alerts/").json()["results"]]


def test_attested_compute_above_the_prohibition_is_itself_alerted(world, parties):
    run = declare_earlier(parties, hours=24 * 20)
    report(world, 16, workload="training", run=run.code)  # 400 x 16 x 1.7e20 = 1.1e24
    keys = set(threshold_alerts().values_list("rule__key", flat=True))
    # The run, and its model (whose runs, here one, add up past the line too: treaty-model-attested).
    assert keys == {"treaty-run-over-plan", "treaty-run-attested-prohibited", "treaty-model-attested"}
    prohibited = threshold_alerts().get(rule__key="treaty-run-attested-prohibited")
    assert prohibited.severity == "critical" and prohibited.value > 1e24


def test_a_run_declared_above_the_prohibition_is_recorded_and_alerted(world):
    from tests.runs.conftest import declaration

    r = world.op_a.post("/api/v1/runs/", declaration(flop=2e24), format="json")
    assert r.status_code == 201, r.content
    run = Run.objects.get(code=r.json()["code"])
    assert run.state == "prohibited" and run.rule_key == "treaty-run-prohibited"
    [alert] = threshold_alerts(scope="run", subject_key=str(run.pk))
    assert alert.severity == "critical" and alert.value == 2e24
    drain_all()  # the evaluation does not raise a second alert for the declaration
    assert threshold_alerts(scope="run").count() == 1


def _attest(run, facility, flop):
    """Attested compute for a run as a usage statement folds it in (runs.services.record_usage), and the
    event the statement emits: exact figures, which per-chip statements cannot give."""
    totals = {"statements": 1, "records": 1, "flop_fp16": flop, "flop_peak": flop, "active_s": 1.0, "energy_j": 1.0}
    runs.record_usage(run.pk, facility.pk, now() - timedelta(hours=1), totals)
    emit("usage.recorded", facilities=[facility.pk], runs=[run.pk])
    drain_all()


def test_model_compute_over_1e25_across_two_runs_raises_the_eu_alert_and_exactly_1e25_does_not(world, parties):
    facility = Facility.objects.get(code="US-VA-001")
    first = declare_earlier(parties, hours=48)
    second = declare_earlier(parties, hours=30)
    other = declare_earlier(parties, hours=29)
    Run.objects.filter(pk=other.pk).update(model_name="another-model")
    _attest(first, facility, 5e24)
    _attest(other, facility, 9e24)  # another model's compute is not this model's
    _attest(second, facility, 5e24)  # 5e24 + 5e24 = 1e25 exactly: not greater than 1e25
    key = run_metrics.model_key(first.operator_id, "frontier-7")
    assert run_metrics.models([key])[key].flop["flop_peak"] == 1e25
    # (The draft treaty's model rule, past 1e24, has alerted both models long since: the EU line is this test's.)
    eu = {"scope": "model", "rule__key": "eu-ai-act-systemic"}
    assert not threshold_alerts(**eu).exists()
    _attest(second, facility, 1e21)
    [alert] = threshold_alerts(**eu)
    assert alert.rule.key == "eu-ai-act-systemic" and alert.subject_key == key
    assert alert.subject_label == "op-a: frontier-7" and alert.value == pytest.approx(1.0001e25)
    assert (alert.operator.code, alert.country) == ("op-a", "US")
    run_sources = {s["id"] for s in alert.evidence.get().sources if s["source"] == "run"}
    assert run_sources == {first.code, second.code}
    assert world.insp_fr.get(f"/api/v1/alerts/{alert.pk}/").status_code == 404
    assert world.op_b.get(f"/api/v1/alerts/{alert.pk}/").status_code == 404
    # The console's alert pages show run and model alerts (the run's subject links to its page).
    run_alert = threshold_alerts(scope="run").first()
    page = console(parties.users["treaty"]).get(f"/alerts/{alert.pk}/")
    assert page.status_code == 200 and "op-a: frontier-7" in page.content.decode()
    listing = console(parties.users["op_a_admin"]).get("/alerts/").content.decode()
    assert "op-a: frontier-7" in listing
    assert console(parties.users["op_b"]).get(f"/alerts/{alert.pk}/").status_code == 404
    assert run_alert.subject_label in (first.code, second.code, other.code)  # 5e24 planned at 5e23: past it
    run_page = console(parties.users["treaty"]).get(f"/alerts/{run_alert.pk}/").content.decode()
    assert f'href="/runs/{run_alert.subject_label}/"' in run_page


def console(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def test_another_operators_usage_naming_the_run_adds_nothing_to_it(world, parties):
    """op-b reports its chips' work naming op-a's run: a finding for op-b, no compute for op-a's run, and
    op-b sees none of op-a's run alerts."""
    run = declare_earlier(parties, hours=24 * 12)
    register_chips(chip_rows("BH", 400), parties.users["op_b"])
    end = now() - timedelta(minutes=5)
    rows = busy(11, [f"nvidia:BH{i:06d}" for i in range(400)])
    statement = {
        **world.usage(rows, end - timedelta(days=11), end, facility="DE-FRA-001", operator="op-b"),
        "run": run.code,
        "workload": "training",
    }
    r, _ = world.submit(world.op_b, statement, world.key_b)
    assert r.status_code == 201 and r.json()["flags"] == {"run_not_own": 1}, r.content
    drain_all()
    assert run_metrics.runs([str(run.pk)])[str(run.pk)].flop == {"flop_fp16": 0.0, "flop_peak": 0.0}
    assert not threshold_alerts(scope="run").exists()
    # op-b's work is its own unexplained compute, at its own facility.
    [alert] = threshold_alerts()
    assert alert.rule.key == "treaty-unexplained-compute-facility" and alert.facility.code == "DE-FRA-001"
    # op-a's run alert (from its own work) stays out of op-b's sight.
    report(world, 11, workload="training", run=run.code)
    run_alert = threshold_alerts(scope="run").get()
    assert world.op_b.get(f"/api/v1/alerts/{run_alert.pk}/").status_code == 404
    assert world.op_a.get(f"/api/v1/alerts/{alert.pk}/").status_code == 404


def test_a_full_evaluation_judges_runs_and_models_too(world, parties):
    """A rule declared after the work is evaluated in full (rules.changed): it finds the run and its model
    from their stored totals, and a second full evaluation changes nothing."""
    from compliance.evaluation import evaluate_all
    from compliance.services import declare as declare_rule

    run = declare_earlier(parties, hours=24 * 3)
    report(world, 2, workload="training", run=run.code)
    assert not threshold_alerts().exists()
    for key, metric, scope in (("run-watch", "run_attested_compute", "run"), ("model-watch", "model_compute", "model")):
        declare_rule(
            parties.users["treaty"],
            key,
            name=key,
            metric=metric,
            basis="fp16",
            scope=scope,
            comparison="gt",
            value=1e22,
            severity="info",
            effective_from=now() - timedelta(days=1),
        )
    drain_all()
    assert set(threshold_alerts().values_list("rule__key", "subject_key")) == {
        ("run-watch", str(run.pk)),
        ("model-watch", run_metrics.model_key(run.operator_id, run.model_name)),
    }
    assert evaluate_all() == []


def test_a_post_training_run_is_prohibited_above_1e23_and_a_pre_training_one_is_not(world):
    from tests.runs.conftest import declaration

    post = world.op_a.post("/api/v1/runs/", declaration(flop=2e23, kind="post_training"), format="json")
    pre = world.op_a.post("/api/v1/runs/", declaration(flop=2e23), format="json")
    assert post.status_code == 201 and pre.status_code == 201, (post.content, pre.content)
    post, pre = Run.objects.get(code=post.json()["code"]), Run.objects.get(code=pre.json()["code"])
    assert (post.state, post.rule_key) == ("prohibited", "treaty-post-training-prohibited")
    assert (pre.state, pre.rule_key) == ("under_review", "treaty-run-review")
    assert set(threshold_alerts().values_list("subject_key", flat=True)) == {str(post.pk)}


def test_attested_post_training_compute_above_1e23_is_alerted_on_post_training_runs_only(world, parties):
    post = declare_earlier(parties, hours=24 * 3)
    Run.objects.filter(pk=post.pk).update(kind="fine_tuning", planned_flop=9e22)
    pre = declare_earlier(parties, hours=24 * 3)
    Run.objects.filter(pk=pre.pk).update(planned_flop=9e22)
    facility = Facility.objects.get(code="US-VA-001")
    _attest(post, facility, 9.5e22)
    _attest(pre, facility, 9.5e22)
    assert not threshold_alerts().exists()
    _attest(post, facility, 1e22)
    _attest(pre, facility, 1e22)
    [alert] = threshold_alerts(rule__key="treaty-post-training-attested-prohibited")
    assert alert.subject_key == str(post.pk) and alert.severity == "critical"
    # Both pass their plans by more than 10%: the over-plan rule judges every kind.
    assert set(threshold_alerts(rule__key="treaty-run-over-plan").values_list("subject_key", flat=True)) == {
        str(post.pk),
        str(pre.pk),
    }


def test_a_run_alerts_log_event_is_readable_in_every_country_of_the_run(world, parties):
    """An alert row holds one country (the first of the run's); its log event names them all, so each
    inspectorate of the run's territory reads it in the log."""
    from compliance import run_review
    from transparency.models import LogEventData

    r = world.op_a.post(
        "/api/v1/facilities/",
        {"code": "FR-PAR-001", "name": "Paris", "country": "FR", "latitude": 48.85, "longitude": 2.35},
    )
    assert r.status_code == 201, r.content
    at = now() - timedelta(days=12)
    values = {
        "model_name": "frontier-7",
        "kind": "pre_training",
        "planned_flop": 5e23,
        "precision": "bf16",
        "facilities": list(Facility.objects.filter(code__in=["US-VA-001", "FR-PAR-001"])),
        "clusters": [],
        "planned_start": at + timedelta(hours=1),
        "planned_end": at + timedelta(days=30),
        "description": "two countries",
    }
    run = run_review.declare(parties.users["op_a_admin"], values, now=at)
    assert run.countries == ["FR", "US"]
    report(world, 11, workload="training", run=run.code)
    [alert] = threshold_alerts(scope="run")
    assert alert.country == "FR"
    event = LogEventData.objects.get(event="alert.raised", object_id=f"alert:{alert.pk}")
    assert sorted(event.countries) == ["FR", "US"] and event.parties == ["op-a"]
    assert world.insp_fr.get(f"/api/v1/alerts/{alert.pk}/").status_code == 200


def test_a_usage_statement_naming_a_run_raises_the_runs_alerts_before_its_facilitys(world, parties):
    """One evaluation judges the run (read from usage records alone) before it recomputes the capacity
    scopes, each of which commits its own alerts: the run's alert is the first the statement raises."""
    from compliance.services import declare as declare_rule

    declare_rule(
        parties.users["treaty"],
        "facility-compute-watch",
        name="Facility compute watch",
        metric="compute_window",
        basis="fp16",
        window_days=30,
        scope="facility",
        comparison="gt",
        value=1e23,
        severity="low",
        effective_from=now() - timedelta(days=1),
    )
    drain_all()
    before = Alert.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    run = declare_earlier(parties, hours=24 * 20)
    report(world, 16, workload="training", run=run.code)
    raised = Alert.objects.filter(pk__gt=before, kind="threshold").order_by("pk")
    scopes = list(raised.values_list("scope", flat=True))
    assert "facility" in scopes and "run" in scopes, scopes
    assert scopes.index("facility") > max(i for i, s in enumerate(scopes) if s in ("run", "model")), scopes
