"""Hostile review of how compute is counted: a run below the review line is reviewed when its model's runs add
up with it past that line (run_review.declare). Once they add up past a prohibition too, the cumulative check
found the run 'prohibited' rather than 'under review', and kept the run's own verdict: below the threshold,
with no review. The bigger the model already declared, the surer a further small run went unreviewed.

Each test failed on the code before the fix: the run was recorded `below_threshold`."""

from django.core.management import call_command

from runs.models import Run
from tests.runs.conftest import declaration


def declared(client, **body):
    r = client.post("/api/v1/runs/", declaration(**body), format="json")
    assert r.status_code == 201, r.content
    return Run.objects.get(code=r.json()["code"])


def test_a_small_run_of_a_model_declared_near_the_prohibition_is_reviewed(world):
    """op-a declares `frontier-7` at 9.95e23 FLOP (under review: above 1e22, not above 1e24), then a second run
    of the same model at 6e21, under the review line by itself: the model's training, 1.001e24 FLOP declared,
    is past the review line (and the prohibition). The second run is reviewed as a split of one model's
    training is (Article IV(2)); a cumulative sum is not a prohibition of this run (the model rule is high,
    not prohibited, README), so it is under review, not prohibited."""
    first = declared(world.op_a, flop=9.95e23)
    assert first.state == "under_review"
    second = declared(world.op_a, flop=6e21, model_name="Frontier 7")
    assert second.state == "under_review"
    assert second.rule_key == "run-review" and second.review_due_at is not None
    # Another model's small run is not drawn in.
    assert declared(world.op_a, flop=6e21, model_name="other-model").state == "below_threshold"


def test_a_fine_tune_of_a_large_model_is_reviewed_under_the_draft_treaty(world):
    """Under the draft treaty's presets a post-training run is prohibited above 1e23 FLOP. op-a's base model is
    declared at 5e23 (pre-training, under review); a fine-tune of it planned at 6e21 adds up with it past the
    review line (and past the post-training prohibition's figure): it is reviewed. A fine-tune of a small base
    model (5e21 + 6e21) already was, so the larger base must not exempt it."""
    call_command("load_presets", "draft-treaty", verbosity=0)
    base = declared(world.op_a, flop=5e23)
    assert base.state == "under_review"
    tune = declared(world.op_a, flop=6e21, kind="fine_tuning")
    assert tune.state == "under_review"
    # The small base model's fine-tune, for comparison.
    small = declared(world.op_a, flop=5e21, model_name="small-model")
    assert small.state == "below_threshold"
    assert declared(world.op_a, flop=6e21, model_name="small-model", kind="fine_tuning").state == "under_review"
