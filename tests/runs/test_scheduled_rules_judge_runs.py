"""A declaration is judged by the rules that will govern the run's work, as the treaty body has already declared
them: a stricter version scheduled to take effect before the run ends (a lower prohibition, a new review line) is
in force while the run works. Judged only by the rules in force on the day it is declared, a run declared the day
after a tightening was published, to start after it took effect, kept the old terms for all its work: a later
version does not reclassify a run (README), so it was never judged by the line it trains under."""

from datetime import timedelta

from runs.models import Run
from tests.attestations.conftest import now
from tests.runs.conftest import declaration


def _schedule(treaty, key, value, effect, days, **extra):
    body = {
        "key": key,
        "name": key,
        "metric": "run_planned_compute",
        "scope": "run",
        "comparison": "gt",
        "value": value,
        "severity": "critical" if effect == "prohibit" else "high",
        "effect": effect,
        "effective_from": (now() + timedelta(days=days)).isoformat(),
        **extra,
    }
    r = treaty.post("/api/v1/thresholds/", body)
    assert r.status_code == 201, r.content
    return r.json()


def test_a_lower_prohibition_scheduled_before_the_run_starts_prohibits_it(world):
    # The treaty body lowers the prohibition from 1e24 to 1e23 FLOP, from ten days on.
    scheduled = _schedule(world.treaty, "run-prohibited", 1e23, "prohibit", 10)
    assert scheduled["version"] == 2
    r = world.op_a.post("/api/v1/runs/", declaration(flop=5e23, start=now() + timedelta(days=40)))
    assert r.status_code == 201, r.content
    assert (r.json()["state"], r.json()["rule_key"], r.json()["rule_version"]) == ("prohibited", "run-prohibited", 2)


def test_a_review_line_scheduled_before_the_run_ends_reviews_it(world):
    _schedule(world.treaty, "run-review-lower", 1e21, "review", 10, review_days=30)
    r = world.op_a.post("/api/v1/runs/", declaration(flop=5e21, start=now() + timedelta(days=1)))
    assert r.status_code == 201, r.content
    assert (r.json()["state"], r.json()["rule_key"]) == ("under_review", "run-review-lower")


def test_a_rule_scheduled_after_the_run_ends_does_not_judge_it(world):
    _schedule(world.treaty, "run-review-lower", 1e21, "review", 400, review_days=30)
    r = world.op_a.post("/api/v1/runs/", declaration(flop=5e21, start=now() + timedelta(days=1)))
    assert r.status_code == 201, r.content
    assert Run.objects.get(code=r.json()["code"]).state == "below_threshold"


def test_a_scheduled_version_corrected_before_it_began_never_judges(world):
    first = _schedule(world.treaty, "run-prohibited-soon", 1e21, "prohibit", 20)
    corrected = world.treaty.patch(
        f"/api/v1/thresholds/{first['id']}/",
        {"value": 1e25, "effective_from": (now() + timedelta(days=10)).isoformat()},
    )
    assert corrected.status_code == 200, corrected.content
    r = world.op_a.post("/api/v1/runs/", declaration(flop=5e23, start=now() + timedelta(days=1)))
    assert r.status_code == 201, r.content
    assert (r.json()["state"], r.json()["rule_key"]) == ("under_review", "run-review")
