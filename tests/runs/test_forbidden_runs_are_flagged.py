"""Work for a run the treaty body objected to, or one recorded prohibited, is seen (hostile review, session 14).

Before: an operator declared a 5e23 run (under review), the treaty body objected, and the operator trained anyway
naming the run in its usage statements: the records were attributed to it, so out of every unexplained-compute
window, and no run rule fires below 1e24 or 1.1x the plan: 3.4e22 FLOP raised nothing. Now each such statement
carries a high `run_objected` (or `run_prohibited`) finding, alerted; the work stays the run's (its attested
compute is the evidence of what was done despite the treaty's answer).
"""

from datetime import timedelta

import pytest

from attestations.models import Attestation
from compliance.choices import Scope
from compliance.evaluation import compute_in_window, evaluate_all
from compliance.models import ThresholdRule
from inventory.models import AnyFinding, Cluster
from outbox.relay import drain_all
from registry.registration import register_chips
from runs.choices import RunState
from runs.models import Run, RunUsageDay
from tests.attestations.conftest import now
from tests.compliance.test_work_stays_where_done import ruled_world
from tests.factories import chip_rows
from tests.runs.conftest import rule
from tests.runs.test_usage import declare_earlier

H100_W = 700
CHIPS = [f"nvidia:FRB{i:06d}" for i in range(20)]


def iso(dt):
    return dt.isoformat().replace("+00:00", "Z")


@pytest.fixture
def twenty_in_cluster(api, parties):
    """The draft treaty's presets and run band; op-a's 20 H100s in c-east-1 at US-VA-001 since 20 days ago."""
    w = ruled_world(api, parties)
    rule(w.treaty, "run-review-earlier", 1e22, "review", review_days=30)
    rule(w.treaty, "run-prohibited-earlier", 1e24, "prohibit", severity="critical")
    register_chips(chip_rows("FRB", len(CHIPS)), parties.users["op_a_admin"])
    r = w.op_a.post(
        "/api/v1/declarations/",
        {
            "facility": "US-VA-001",
            "as_of": iso(now() - timedelta(days=20)),
            "chips": [{"chip": c, "cluster": "c-east-1"} for c in CHIPS],
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    drain_all()
    evaluate_all()
    w.op_a_id = parties.users["op_a_admin"].organisation_id
    return w


def _train(w, run_code):
    """Ten days of the twenty chips flat out (3.4e22 FLOP, higher basis), naming the run."""
    end = now() - timedelta(hours=1)
    start = end - timedelta(days=10)
    seconds = int((end - start).total_seconds())
    rows = [{"chip": c, "active_s": seconds, "utilization": 1.0, "energy_j": H100_W * seconds} for c in CHIPS]
    r, _ = w.submit(w.op_a, {**w.usage(rows, start, end), "run": run_code})
    assert r.status_code == 201, r.content
    drain_all()
    evaluate_all()
    return r.json()


@pytest.mark.parametrize("state", [RunState.OBJECTED, RunState.PROHIBITED])
def test_work_for_a_run_the_treaty_forbids_is_flagged(api, twenty_in_cluster, parties, state):
    w = twenty_in_cluster
    run = declare_earlier(parties, hours=11 * 24)
    assert run.state == RunState.UNDER_REVIEW
    if state == RunState.OBJECTED:  # the treaty body's decision, through the API
        r = w.treaty.post(f"/api/v1/runs/{run.code}/object/", {"reason": "Not this run."})
        assert r.status_code == 200, r.content
    else:  # as a declaration above a prohibition records it (runs.tests cover that path)
        Run.objects.filter(pk=run.pk).update(state=state)
    answer = _train(w, run.code)
    kind = f"run_{state}"
    # The speaker is told; the work is the run's, in its attested compute.
    assert answer["flags"] == {kind: 1}
    assert Attestation.objects.get(pk=answer["id"]).run_id == run.pk
    assert RunUsageDay.objects.filter(run=run).exists()
    assert AnyFinding.objects.filter(kind=kind, source_id=str(answer["id"])).count() == 1
    # Its inspectorate and the treaty body read the finding and its alert; another country's do not.
    assert kind in api(parties.users["insp_us"]).get("/api/v1/findings/").content.decode()
    assert kind not in api(parties.users["insp_fr"]).get("/api/v1/findings/").content.decode()
    assert kind in api(parties.users["treaty"]).get("/api/v1/findings/").content.decode()
    group = f"{kind}:attestation:{answer['id']}"

    def alerts(user):
        return [a for a in api(parties.users[user]).get("/api/v1/alerts/").json()["results"] if a["group"] == group]

    assert [a["severity"] for a in alerts("insp_us")] == ["high"]
    assert [a["severity"] for a in alerts("treaty")] == ["high"]
    assert alerts("insp_fr") == []


def test_work_for_an_approved_run_is_explained_and_unflagged(twenty_in_cluster, parties):
    """The control: the same work for a run the treaty body approved is the run's, with no finding, and raises no
    cluster alert."""
    w = twenty_in_cluster
    run = declare_earlier(parties, hours=11 * 24)
    r = w.treaty.post(f"/api/v1/runs/{run.code}/approve/", {"reason": "Fine."})
    assert r.status_code == 200, r.content
    answer = _train(w, run.code)
    assert answer["flags"] == {}
    assert Attestation.objects.get(pk=answer["id"]).run_id == run.pk
    east = Cluster.objects.get(code="c-east-1")
    cluster_rule = ThresholdRule.objects.get(key="treaty-unexplained-compute-cluster")
    assert compute_in_window(cluster_rule, Scope.CLUSTER, str(east.pk), now()) == 0


def test_work_reported_under_review_is_flagged_when_the_treaty_body_objects(api, twenty_in_cluster, parties):
    """Work reported for the run while it was under review (attributed, no finding) carries a run_objected finding
    once the treaty body objects: none of a refused run's work goes unseen (a review found it did)."""
    w = twenty_in_cluster
    run = declare_earlier(parties, hours=11 * 24)
    answer = _train(w, run.code)
    assert answer["flags"] == {}
    assert not AnyFinding.objects.filter(kind="run_objected").exists()
    r = w.treaty.post(f"/api/v1/runs/{run.code}/object/", {"reason": "Not this run."})
    assert r.status_code == 200, r.content
    drain_all()
    [finding] = AnyFinding.objects.filter(kind="run_objected", source_id=str(answer["id"]))
    assert finding.evidence["run"] == run.code and finding.evidence["statement"] == answer["id"]
    group = f"run_objected:attestation:{answer['id']}"
    seen = [a for a in api(parties.users["insp_us"]).get("/api/v1/alerts/").json()["results"] if a["group"] == group]
    assert [a["severity"] for a in seen] == ["high"]
    # The work stays the run's.
    assert Attestation.objects.get(pk=answer["id"]).run_id == run.pk


def test_an_objected_run_named_at_another_facility_is_a_run_objected_finding(twenty_in_cluster, parties):
    """Named at a facility the run did not declare, the work is not the run's (it counts as unexplained), and the
    finding says what the treaty said of the run, not only run_other_site (a review found it did)."""
    w = twenty_in_cluster
    run = declare_earlier(parties, hours=11 * 24)  # declared at US-VA-001 only
    r = w.treaty.post(f"/api/v1/runs/{run.code}/object/", {"reason": "Not this run."})
    assert r.status_code == 200, r.content
    end = now() - timedelta(hours=1)
    start = end - timedelta(days=1)
    seconds = int((end - start).total_seconds())
    rows = [{"chip": c, "active_s": seconds, "utilization": 1.0, "energy_j": H100_W * seconds} for c in CHIPS]
    r, _ = w.submit(w.op_a, {**w.usage(rows, start, end, facility="US-CA-001"), "run": run.code})
    assert r.status_code == 201, r.content
    assert r.json()["flags"].get("run_objected") == 1 and "run_other_site" not in r.json()["flags"]
    assert Attestation.objects.get(pk=r.json()["id"]).run_id is None
