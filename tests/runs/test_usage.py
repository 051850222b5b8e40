"""Usage statements that name a run (ATTESTATION.md 3.2 `run`): attributed, or a finding, never a refusal."""

from datetime import timedelta

from attestations.models import Attestation, UsageRecord
from compliance import run_review
from inventory.models import AnyFinding, Facility
from runs import totals
from runs.models import Run, RunUsageDay
from tests.attestations.conftest import now
from tests.runs.conftest import declaration


def declare_earlier(parties, user_key="op_a_admin", hours=6, facility="US-VA-001"):
    """A run declared `hours` ago, started an hour later (the service takes the declaration's instant)."""
    at = now() - timedelta(hours=hours)
    body = declaration(facilities=[], start=at + timedelta(hours=1), end=at + timedelta(days=30))
    values = {
        **{k: body[k] for k in ("model_name", "kind", "planned_flop", "precision", "description")},
        "facilities": [Facility.objects.get(code=facility)],
        "clusters": [],
        "planned_start": at + timedelta(hours=1),
        "planned_end": at + timedelta(days=30),
    }
    return run_review.declare(parties.users[user_key], values, now=at)


def rows(*serials, active=3600, util=0.9, energy=2.2e6):
    return [{"chip": f"nvidia:{s}", "active_s": active, "utilization": util, "energy_j": energy} for s in serials]


def submit(world, statement, client=None, *keys):
    r, _ = world.submit(client or world.op_a, statement, *keys)
    assert r.status_code == 201, r.content
    return r.json()


def test_usage_naming_the_speakers_run_is_attributed(world, parties):
    run = declare_earlier(parties)
    start, end = now() - timedelta(hours=3), now() - timedelta(hours=2)
    body = submit(world, {**world.usage(rows("A000001", "A000002"), start, end), "run": run.code})
    assert body["flags"] == {}
    att = Attestation.objects.get(pk=body["id"])
    assert att.run_id == run.pk and att.header["run"] == run.code
    records = list(UsageRecord.objects.filter(attestation=att))
    assert {r.run_id for r in records} == {run.pk} and len(records) == 2
    [day] = RunUsageDay.objects.filter(run=run)
    assert (day.statements, day.records, day.day) == (1, 2, start.date())
    assert day.flop_fp16 == sum(r.flop_fp16 for r in records) > 0
    assert day.flop_peak == sum(r.flop_peak for r in records) >= day.flop_fp16
    # A second statement adds to the run's attested compute; the API says so.
    submit(world, {**world.usage(rows("A000003"), start, end), "run": run.code})
    api = world.op_a.get(f"/api/v1/runs/{run.code}/").json()["attested"]
    expected = sum(r.flop_fp16 for r in UsageRecord.objects.filter(run=run))
    assert api["statements"] == 2 and api["records"] == 3 and api["flop_fp16"] == expected
    assert totals.attested_flop(run, "fp16") == expected
    # The outbox tells the evaluations which run's attested compute moved.
    from outbox.models import OutboxEvent

    payloads = [e.payload for e in OutboxEvent.objects.filter(topic="usage.recorded").order_by("id")]
    assert [p["runs"] for p in payloads] == [[run.pk], [run.pk]]
    # The run's own list shows the same totals.
    [listed] = [r for r in world.treaty.get("/api/v1/runs/").json()["results"] if r["code"] == run.code]
    assert listed["attested"]["flop_fp16"] == expected


def test_usage_naming_no_run_is_not_attributed(world, parties):
    declare_earlier(parties)
    start, end = now() - timedelta(hours=3), now() - timedelta(hours=2)
    body = submit(world, world.usage(rows("A000001"), start, end))
    assert body["flags"] == {} and Attestation.objects.get(pk=body["id"]).run_id is None
    assert not UsageRecord.objects.filter(run__isnull=False).exists() and not RunUsageDay.objects.exists()


def _finding(kind, att_id, code):
    finding = AnyFinding.objects.get(kind=kind, source="attestation", source_id=str(att_id))
    att = Attestation.objects.get(pk=att_id)
    assert finding.evidence["run"] == code and finding.evidence["log_index"] == att.log_index
    assert finding.organisation.code == "op-a" and finding.facility.code == "US-VA-001"
    return finding


def test_an_unknown_run_is_a_finding_not_a_refusal(world, parties):
    start, end = now() - timedelta(hours=3), now() - timedelta(hours=2)
    body = submit(world, {**world.usage(rows("A000001"), start, end), "run": "run-neverdeclared"})
    assert body["flags"] == {"run_unknown": 1}
    _finding("run_unknown", body["id"], "run-neverdeclared")
    assert Attestation.objects.get(pk=body["id"]).run_id is None
    assert not UsageRecord.objects.filter(run__isnull=False).exists()


def test_another_operators_run_is_a_finding_and_counts_for_nobody(world, parties):
    theirs = declare_earlier(parties, user_key="op_b", facility="DE-FRA-001")
    start, end = now() - timedelta(hours=3), now() - timedelta(hours=2)
    body = submit(world, {**world.usage(rows("A000001"), start, end), "run": theirs.code})
    assert body["flags"] == {"run_not_own": 1}
    finding = _finding("run_not_own", body["id"], theirs.code)
    assert finding.other_organisation is None  # the speaker is not told whose run it is
    assert Attestation.objects.get(pk=body["id"]).run_id is None
    assert totals.attested([theirs.pk]) == {} and not RunUsageDay.objects.exists()
    # The finding is the speaker's; B does not see it, nor does B's run show A's work.
    assert world.op_b.get(f"/api/v1/findings/{finding.pk}/").status_code == 404
    assert world.op_b.get(f"/api/v1/runs/{theirs.code}/").json()["attested"]["records"] == 0


def test_work_from_before_the_declaration_is_not_attributed(world, parties):
    """A declaration explains no compute done before it (else the unexplained could be explained away)."""
    run = declare_earlier(parties, hours=2)
    start, end = now() - timedelta(hours=3), now() - timedelta(hours=1)
    body = submit(world, {**world.usage(rows("A000001"), start, end), "run": run.code})
    assert body["flags"] == {"run_before_declaration": 1}
    _finding("run_before_declaration", body["id"], run.code)
    assert not RunUsageDay.objects.exists() and Attestation.objects.get(pk=body["id"]).run_id is None


def test_a_run_that_is_no_registry_code_is_malformed(world):
    start, end = now() - timedelta(hours=3), now() - timedelta(hours=2)
    for bad in ("run with spaces", 42, "", None):
        r, _ = world.submit(world.op_a, {**world.usage(rows("A000001"), start, end), "run": bad})
        assert r.status_code == 400 and r.json()["code"] == "malformed_statement", (bad, r.content)
    assert not Attestation.objects.exists()


def test_prohibited_runs_still_count_their_work(world, parties):
    """Attributing usage does not depend on the review: a prohibited run's attested compute is evidence (and
    each statement of its work a run_prohibited finding: tests/runs/test_forbidden_runs_are_flagged.py)."""
    run = declare_earlier(parties)
    Run.objects.filter(pk=run.pk).update(state="prohibited")
    start, end = now() - timedelta(hours=3), now() - timedelta(hours=2)
    assert submit(world, {**world.usage(rows("A000001"), start, end), "run": run.code})["flags"] == {
        "run_prohibited": 1
    }
    assert totals.attested([run.pk])[run.pk]["records"] == 1


def _run_planned(parties, start_hours_ago, end_hours_ago):
    """A run declared 6 hours ago, planned from `start_hours_ago` to `end_hours_ago`."""
    at = now() - timedelta(hours=6)
    body = declaration(facilities=[], start=at + timedelta(hours=1))
    values = {
        **{k: body[k] for k in ("model_name", "kind", "planned_flop", "precision", "description")},
        "facilities": [Facility.objects.get(code="US-VA-001")],
        "clusters": [],
        "planned_start": now() - timedelta(hours=start_hours_ago),
        "planned_end": now() - timedelta(hours=end_hours_ago),
    }
    return run_review.declare(parties.users["op_a_admin"], values, now=at)


def test_work_outside_the_runs_planned_dates_is_attributed_with_a_finding(world, parties):
    """A run is declared, reviewed and classified for its planned dates; the over-plan rules judge its volume, not
    when it ran. Work reported for it after its planned end (or before its planned start, once declared) was
    attributed with no word to anyone: it counts for the run all the same (the evidence of what was done), and
    each such statement is a `run_outside_plan` finding for the speaker, its inspectorate and the treaty body."""
    run = _run_planned(parties, start_hours_ago=4, end_hours_ago=2)
    for start_h, end_h, outside in ((3.5, 2.5, False), (5, 4.5, True), (1.5, 1, True), (2.5, 1.5, True)):
        start, end = now() - timedelta(hours=start_h), now() - timedelta(hours=end_h)
        body = submit(world, {**world.usage(rows("A000001", active=1800, energy=9e5), start, end), "run": run.code})
        assert body["flags"] == ({"run_outside_plan": 1} if outside else {}), (start_h, end_h)
        assert Attestation.objects.get(pk=body["id"]).run_id == run.pk  # attributed either way
        if outside:
            _finding("run_outside_plan", body["id"], run.code)
    assert world.op_a.get(f"/api/v1/runs/{run.code}/").json()["attested"]["statements"] == 4
    # Within the clocks' allowed skew of the plan's dates, no finding.
    start = now() - timedelta(hours=4, minutes=4)
    one = rows("A000002", active=1800, energy=9e5)
    body = submit(world, {**world.usage(one, start, start + timedelta(minutes=30)), "run": run.code})
    assert body["flags"] == {}
