"""Hostile review of declared runs: two runs of one model, each under the review line, declared at the same
instant. The cumulative check (run_review.declare) read the operator's earlier runs of the model while the
other declaration was not yet committed, so each saw only itself: both were recorded `below_threshold`, and a
model whose declared training is past 1e22 FLOP was never reviewed. An operator needs only to send its
declarations in parallel.

Failed on the code before the fix: both runs were recorded `below_threshold`."""

import threading

from django.db import connection

from compliance import run_review
from runs.models import Run
from tests.runs.conftest import declaration


def test_two_runs_of_one_model_declared_at_once_are_not_both_below_the_line(
    transactional_db, world, parties, api, monkeypatch
):
    member = api(parties.users["op_a_member"])
    # Both requests read the model's earlier runs before either commits (where they may both get that far:
    # a declaration that waits for the other to commit first goes on alone after the timeout).
    barrier = threading.Barrier(2, timeout=3)
    read = run_review._declared_for_model

    def in_step(*args):
        found = read(*args)
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        return found

    monkeypatch.setattr(run_review, "_declared_for_model", in_step)
    answers = {}

    def declare(name, client):
        try:
            r = client.post("/api/v1/runs/", declaration(flop=6e21))
            answers[name] = (r.status_code, r.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=declare, args=(n, c)) for n, c in (("admin", world.op_a), ("member", member))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert {code for code, _ in answers.values()} == {201}, answers
    states = sorted(Run.objects.filter(model_name="frontier-7").values_list("state", flat=True))
    # 6e21 + 6e21 is past the review line: the one declared second is reviewed.
    assert states == ["below_threshold", "under_review"], states
