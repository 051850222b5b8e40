"""Declaring runs, their review by the treaty body, approval by silence, prohibition; who sees what."""

import json
from datetime import timedelta

import pytest

from compliance.models import Alert
from runs import services
from runs.models import Run
from tests.attestations.conftest import now
from tests.runs.conftest import REVIEW_DAYS, declaration
from transparency.models import LogEventData


def declared(client, body=None, status=201):
    r = client.post("/api/v1/runs/", body or declaration())
    assert r.status_code == status, r.content
    return r.json()


def events(event, code):
    return [json.loads(e.data_jcs) for e in LogEventData.objects.filter(event=event, object_id=code).order_by("index")]


def test_a_run_in_the_band_waits_for_review(world):
    run = declared(world.op_a)
    assert run["state"] == "under_review" and run["operator"] == "op-a"
    assert (run["rule_key"], run["rule_version"], run["rule_value"]) == ("run-review", 1, 1e22)
    stored = Run.objects.get(code=run["code"])
    assert stored.review_due_at == stored.declared_at + timedelta(days=REVIEW_DAYS)
    assert stored.countries == ["US"] and [f.code for f in stored.facilities.all()] == ["US-VA-001"]
    [logged] = events("run.declared", run["code"])
    assert logged["state"] == "under_review" and logged["rule"] == "run-review v1"
    assert logged["planned_flop"] == 5e23 and logged["facilities"] == ["US-VA-001"]
    assert "description" not in logged and len(logged["description_sha256"]) == 64  # the text stays in the row
    assert run["log_index"] == LogEventData.objects.get(event="run.declared", object_id=run["code"]).index
    assert not Alert.objects.exists()


def test_below_the_band_is_recorded_without_review(world):
    run = declared(world.op_a, declaration(flop=5e21))
    assert run["state"] == "below_threshold" and run["review_due_at"] is None and run["rule_key"] == ""
    assert events("run.declared", run["code"])[0]["state"] == "below_threshold"


def test_declared_above_the_prohibition_is_recorded_and_alerted_at_once(world):
    run = declared(world.op_a, declaration(flop=2e24))
    assert run["state"] == "prohibited" and run["rule_key"] == "run-prohibited"
    alert = Alert.objects.get(scope="run", subject_key=str(Run.objects.get(code=run["code"]).pk))
    assert alert.severity == "critical" and alert.state == "open" and alert.value == 2e24
    assert alert.threshold == 1e24 and alert.operator.code == "op-a" and alert.country == "US"
    [evidence] = alert.evidence.all()
    assert evidence.sources == [{"source": "run", "id": run["code"], "log_index": run["log_index"]}]
    assert LogEventData.objects.get(index=alert.log_index).event == "alert.raised"
    # The operator, the inspectorate of the run's country and the treaty body see the alert; no one else.
    for client, seen in ((world.op_a, True), (world.insp_us, True), (world.treaty, True), (world.op_b, False)):
        r = client.get(f"/api/v1/alerts/{alert.pk}/")
        assert (r.status_code == 200) is seen, (client.user, r.status_code)
    # Still a declaration on record: listed, retrievable.
    assert world.op_a.get(f"/api/v1/runs/{run['code']}/").json()["state"] == "prohibited"


def test_silence_for_the_review_period_approves_and_the_log_shows_it(world):
    run = declared(world.op_a)
    stored = Run.objects.get(code=run["code"])
    assert services.approve_by_silence(now=stored.review_due_at - timedelta(seconds=1)) == []
    assert Run.objects.get(pk=stored.pk).state == "under_review"
    approved = services.approve_by_silence(now=stored.review_due_at)
    assert [r.code for r in approved] == [run["code"]]
    stored.refresh_from_db()
    assert stored.state == "approved_by_silence" and stored.decided_by is None
    [logged] = events("run.approved_by_silence", run["code"])
    assert logged["from"] == "under_review" and logged["to"] == "approved_by_silence" and logged["by"] is None
    assert stored.decision_log_index == LogEventData.objects.get(event="run.approved_by_silence").index
    assert services.approve_by_silence(now=stored.review_due_at + timedelta(days=1)) == []  # once


def test_the_periodic_task_sweeps_every_due_run(world):
    from runs.tasks import approve_by_silence

    codes = [declared(world.op_a)["code"] for _ in range(3)]
    Run.objects.filter(code__in=codes[:2]).update(review_due_at=now() - timedelta(minutes=1))
    assert approve_by_silence() == 2
    states = dict(Run.objects.filter(code__in=codes).values_list("code", "state"))
    assert states == {codes[0]: "approved_by_silence", codes[1]: "approved_by_silence", codes[2]: "under_review"}


def test_a_decision_after_the_review_period_is_refused(world):
    run = declared(world.op_a)
    Run.objects.filter(code=run["code"]).update(review_due_at=now() - timedelta(minutes=1))
    r = world.treaty.post(f"/api/v1/runs/{run['code']}/object/", {"reason": "too late"})
    assert r.status_code == 409 and r.json()["code"] == "review_period_over"
    assert Run.objects.get(code=run["code"]).state == "under_review"


def test_the_treaty_body_approves(world):
    run = declared(world.op_a)
    r = world.treaty.post(f"/api/v1/runs/{run['code']}/approve/", {"reason": "within the plan"})
    assert r.status_code == 200, r.content
    assert r.json()["state"] == "approved" and r.json()["decided_by"] == world.treaty.user.username
    [logged] = events("run.approved", run["code"])
    assert logged["by"] == world.treaty.user.username and logged["organisation"] == "treaty"
    # Decided once: neither a second decision nor silence moves it again.
    r = world.treaty.post(f"/api/v1/runs/{run['code']}/object/", {"reason": "second thoughts"})
    assert r.status_code == 409 and r.json()["code"] == "not_under_review"
    assert services.approve_by_silence(now=now() + timedelta(days=REVIEW_DAYS + 1)) == []


def test_the_treaty_body_objects_saying_why(world):
    run = declared(world.op_a)
    r = world.treaty.post(f"/api/v1/runs/{run['code']}/object/", {})
    assert r.status_code == 400 and r.json()["code"] == "reason_required"
    r = world.treaty.post(f"/api/v1/runs/{run['code']}/object/", {"reason": "the data set is not described"})
    assert r.status_code == 200 and r.json()["state"] == "objected"
    assert r.json()["decision_reason"] == "the data set is not described"
    assert events("run.objected", run["code"])[0]["reason"] == "the data set is not described"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"planned_start": (now() - timedelta(hours=1)).isoformat()}, "start_in_past"),
        ({"planned_end": (now() + timedelta(days=1)).isoformat()}, "end_before_start"),
        ({"facilities": [], "clusters": []}, "no_sites"),
        ({"planned_flop": 0}, "invalid_planned_flop"),
        ({"planned_flop": -1e23}, "invalid_planned_flop"),
        # Not a number, or an integer a double does not hold exactly (it was stored and logged rounded), or true:
        # the declaration's own code, not the field's `invalid`.
        ({"planned_flop": "lots"}, "invalid_planned_flop"),
        ({"planned_flop": 12345678901234567891}, "invalid_planned_flop"),
        ({"planned_flop": True}, "invalid_planned_flop"),
    ],
)
def test_a_declaration_that_cannot_stand_is_refused_whole(world, change, code):
    r = world.op_a.post("/api/v1/runs/", {**declaration(start=now() + timedelta(days=2)), **change})
    assert r.status_code == 400 and r.json()["code"] == code, r.content
    assert not Run.objects.exists() and not LogEventData.objects.filter(event="run.declared").exists()


def test_a_planned_flop_past_any_double_is_refused_as_the_declarations(world):
    """1e400 is a JSON number no double holds (read as infinity): the declaration's code, nothing logged."""
    body = json.dumps({**declaration(start=now() + timedelta(days=2)), "planned_flop": 1}).replace(
        '"planned_flop": 1', '"planned_flop": 1e400'
    )
    r = world.op_a.client.post("/api/v1/runs/", body, content_type="application/json")
    assert r.status_code == 400 and r.json()["code"] == "invalid_planned_flop", r.content
    exact = world.op_a.post("/api/v1/runs/", {**declaration(start=now() + timedelta(days=2)), "planned_flop": 2**60})
    assert exact.status_code == 201 and exact.json()["planned_flop"] == 2.0**60
    assert LogEventData.objects.filter(event="run.declared").count() == 1


def test_only_operators_declare(world, parties, api):
    for client in (world.treaty, world.insp_us, api(parties.users["nvidia"])):
        r = client.post("/api/v1/runs/", declaration())
        assert r.status_code == 403, (client.user, r.content)
    assert world.op_a_readonly.post("/api/v1/runs/", declaration()).status_code == 403
    assert not Run.objects.exists()


def test_another_operators_sites_are_refused_as_unknown_ones(world):
    """B names A's facility, A's cluster: the same answer as a facility or cluster that does not exist."""

    def refusal(body):
        r = world.op_b.post("/api/v1/runs/", body)
        assert r.status_code == 400, r.content
        return r.json()

    def same(a, b, name_a, name_b):
        assert a["code"] == b["code"] == "invalid"
        assert json.dumps(a["errors"]).replace(name_a, "X") == json.dumps(b["errors"]).replace(name_b, "X")

    same(
        refusal(declaration(facilities=["US-VA-001"])),
        refusal(declaration(facilities=["US-XX-999"])),
        "US-VA-001",
        "US-XX-999",
    )
    same(
        refusal(declaration(facilities=[], clusters=["US-VA-001/c-east-1"])),
        refusal(declaration(facilities=[], clusters=["US-XX-999/c-east-1"])),
        "US-VA-001",
        "US-XX-999",
    )
    assert not Run.objects.exists()


def test_who_sees_and_who_decides(world):
    run = declared(world.op_a, declaration(clusters=["US-VA-001/c-east-1"]))
    code = run["code"]
    path = f"/api/v1/runs/{code}/"
    # The operator, the inspectorate of its country, the treaty body read it; B and another country's
    # inspectorate get what a run that does not exist gets.
    for client in (world.op_a, world.op_a_readonly, world.insp_us, world.treaty):
        assert client.get(path).status_code == 200
        assert code in [r["code"] for r in client.get("/api/v1/runs/").json()["results"]]
    for client in (world.op_b, world.insp_fr):
        assert client.get(path).status_code == 404
        assert client.get("/api/v1/runs/run-doesnotexist/").status_code == 404
        assert client.get("/api/v1/runs/").json()["results"] == []
    # Only the treaty body decides: B cannot even find the run; the operator and the inspectorate may see
    # it but not decide; nothing moved.
    assert world.op_b.post(f"{path}approve/", {}).status_code == 404
    assert world.insp_fr.post(f"{path}approve/", {}).status_code == 404
    assert world.op_a.post(f"{path}approve/", {}).status_code == 403
    assert world.insp_us.post(f"{path}approve/", {}).status_code == 403
    assert world.op_b.post(f"{path}withdraw/", {}).status_code == 404
    assert world.treaty.post(f"{path}withdraw/", {}).status_code == 403
    assert Run.objects.get(code=code).state == "under_review" and Run.objects.get(code=code).withdrawn_at is None
    assert not LogEventData.objects.filter(event__in=["run.approved", "run.withdrawn"]).exists()


def test_the_inspectorate_sees_runs_by_their_clusters_country_too(world):
    code = declared(world.op_a, declaration(facilities=[], clusters=["US-VA-001/c-east-2"]))["code"]
    assert world.insp_us.get(f"/api/v1/runs/{code}/").status_code == 200
    assert world.insp_fr.get(f"/api/v1/runs/{code}/").status_code == 404


def test_the_operator_withdraws_before_the_start(world):
    run = declared(world.op_a)
    r = world.op_a.post(f"/api/v1/runs/{run['code']}/withdraw/", {"reason": "budget cut"})
    assert r.status_code == 200 and r.json()["withdrawn_at"] and r.json()["state"] == "under_review"
    assert events("run.withdrawn", run["code"])[0]["reason"] == "budget cut"
    again = world.op_a.post(f"/api/v1/runs/{run['code']}/withdraw/", {})
    assert again.status_code == 409 and again.json()["code"] == "already_withdrawn"
    # A withdrawn run is neither approved by silence nor decided on.
    assert services.approve_by_silence(now=now() + timedelta(days=REVIEW_DAYS + 1)) == []
    r = world.treaty.post(f"/api/v1/runs/{run['code']}/approve/", {})
    assert r.status_code == 409 and r.json()["code"] == "run_withdrawn"


def test_a_started_run_is_not_withdrawn(world):
    run = declared(world.op_a)
    Run.objects.filter(code=run["code"]).update(planned_start=now() - timedelta(minutes=1))
    r = world.op_a.post(f"/api/v1/runs/{run['code']}/withdraw/", {})
    assert r.status_code == 409 and r.json()["code"] == "run_started"


def test_rules_for_runs_say_what_they_do(world):
    base = {
        "key": "bad",
        "name": "bad",
        "metric": "run_planned_compute",
        "scope": "run",
        "comparison": "gt",
        "value": 1e22,
        "effective_from": now().isoformat(),
    }
    for change in (
        {"effect": "review"},  # no review period
        {"effect": "alert"},  # a run rule reviews or prohibits
        {"effect": "prohibit", "scope": "facility"},
        {"metric": "tpp", "effect": "prohibit", "scope": "facility"},
    ):
        r = world.treaty.post("/api/v1/thresholds/", {**base, **change})
        assert r.status_code == 400, (change, r.content)
