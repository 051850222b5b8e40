"""Hostile review of declared runs: the cumulative check at declaration (run_review.declare) added up the
*planned* FLOP of the operator's earlier runs of the model and ignored what they were attested to have done.
An operator declares a tiny run of a model, trains it well past its plan (an over-plan alert on that run, high,
but no review), then declares the next run of the same model just under the review line less the tiny plan:
recorded `below_threshold`, so the treaty body never reviews a model whose training (done and declared) is past
1e22 FLOP.

Failed on the code before the fix: the second run was recorded `below_threshold`."""

from datetime import timedelta

from runs.models import Run
from tests.attestations.conftest import now
from tests.runs.conftest import declaration
from tests.runs.test_usage import declare_earlier, rows, submit


def test_work_done_past_a_runs_plan_counts_for_the_models_next_declaration(world, parties):
    first = declare_earlier(parties)  # op-a's frontier-7, declared 6 hours ago
    Run.objects.filter(pk=first.pk).update(planned_flop=1e18, state="below_threshold", review_due_at=None)
    start, end = now() - timedelta(hours=3), now() - timedelta(hours=2)
    submit(world, {**world.usage(rows("A000001", "A000002", "A000003"), start, end), "run": first.code})
    attested = world.op_a.get(f"/api/v1/runs/{first.code}/").json()["attested"]
    done = max(attested["flop_fp16"], attested["flop_peak"])
    assert done > 4e18  # the work is the run's, past its plan

    # The next run of the model: under the line by itself and with the first run's plan; past it with the
    # first run's work.
    planned = 1e22 - 1e18 - done / 2
    r = world.op_a.post("/api/v1/runs/", declaration(flop=planned, model_name="Frontier 7"))
    assert r.status_code == 201, r.content
    assert r.json()["state"] == "under_review" and r.json()["rule_key"] == "run-review"

    # Without the first run's work past its plan, the same declaration of another model is not reviewed.
    r = world.op_a.post("/api/v1/runs/", declaration(flop=planned, model_name="other-model"))
    assert r.json()["state"] == "below_threshold"


def test_work_of_a_prohibited_run_counts_for_the_models_next_declaration(world, parties):
    """A prohibited run's plan is not the model's (it may not run), but work done for it is."""
    first = declare_earlier(parties)
    Run.objects.filter(pk=first.pk).update(state="prohibited", review_due_at=None)
    start, end = now() - timedelta(hours=3), now() - timedelta(hours=2)
    submit(world, {**world.usage(rows("A000001", "A000002", "A000003"), start, end), "run": first.code})
    attested = world.op_a.get(f"/api/v1/runs/{first.code}/").json()["attested"]
    done = max(attested["flop_fp16"], attested["flop_peak"])
    r = world.op_a.post("/api/v1/runs/", declaration(flop=1e22 - done / 2, model_name="frontier_7"))
    assert r.status_code == 201, r.content
    assert r.json()["state"] == "under_review"
