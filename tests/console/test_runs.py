"""The run pages on the demo world: my runs, the review queue, a run's page and its forms."""

import json

import pytest

from attestations.models import UsageRecord
from compliance.models import Alert
from runs.models import Run
from tests.console.helpers import parse_csv, text
from transparency.models import LogEventData


def run(model_name):
    return Run.objects.get(model_name=model_name)


def test_the_demo_declares_three_runs_and_the_log_shows_silence(demo):
    silent, review, prohibited = run("demo-atlas-2"), run("demo-atlas-3"), run("demo-colossus")
    assert (silent.state, review.state, prohibited.state) == ("approved_by_silence", "under_review", "prohibited")
    event = LogEventData.objects.get(event="run.approved_by_silence", object_id=silent.code)
    assert json.loads(event.data_jcs)["to"] == "approved_by_silence" and silent.decision_log_index == event.index
    alert = Alert.objects.get(scope="run", subject_key=str(prohibited.pk))
    assert alert.severity == "critical" and alert.rule.key == "treaty-run-prohibited"
    # The week of usage statements reported work for the silent run: attributed, nowhere else.
    assert UsageRecord.objects.filter(run=silent).count() == 7 * 8
    assert not UsageRecord.objects.filter(run__in=[review, prohibited]).exists()


@pytest.mark.parametrize(
    ("user", "sees"),
    [("operator", True), ("inspector", True), ("treaty", True), ("other-operator", False), ("inspector-de", False)],
)
def test_who_sees_the_runs(login, user, sees):
    code = run("demo-atlas-3").code
    c = login(user)
    assert (code in text(c.get("/runs/"))) is sees
    assert (code in text(c.get("/runs/review/"))) is sees
    assert c.get(f"/runs/{code}/").status_code == (200 if sees else 404)


def test_my_runs_and_its_download(login):
    c = login("operator")
    page = text(c.get("/runs/"))
    assert "My runs" in page and "Approved by silence" in page and "Prohibited" in page
    rows = parse_csv(c.get("/runs/?format=csv&table=runs"))
    assert rows[0][:3] == ["run", "operator", "model_name"]
    assert {r[2] for r in rows[1:]} == {"demo-atlas-2", "demo-atlas-3", "demo-colossus", "demo-borealis-1"}
    silent = next(r for r in rows[1:] if r[2] == "demo-atlas-2")
    header = rows[0]
    expected = sum(u.flop_fp16 for u in UsageRecord.objects.filter(run=run("demo-atlas-2")))
    assert float(silent[header.index("attested_flop_fp16")]) == pytest.approx(expected)
    assert parse_csv(c.get("/runs/?format=csv&table=runs&state=prohibited"))[1][2] == "demo-colossus"


def test_a_runs_page_shows_its_clock_and_its_compute_against_the_plan(login):
    c = login("inspector")
    review = run("demo-atlas-3")
    page = text(c.get(f"/runs/{review.code}/"))
    assert "Under review" in page and "days left" in page and "treaty-run-review v1" in page
    assert "Review this run" not in page  # the inspectorate reads; the treaty body decides
    silent = run("demo-atlas-2")
    page = text(c.get(f"/runs/{silent.code}/"))
    assert "silence (the review period ended)" in page and 'class="reference"' in page
    days = parse_csv(c.get(f"/runs/{silent.code}/?format=csv&table=days"))
    assert days[0] == ["day", "statements", "records", "flop_fp16", "flop_peak", "cumulative_fp16", "share_of_plan"]
    assert len(days) == 1 + 7 and all(r[1] == "1" and r[2] == "8" for r in days[1:])
    assert float(days[-1][5]) == pytest.approx(sum(float(r[3]) for r in days[1:]))
    facilities = parse_csv(c.get(f"/runs/{silent.code}/?format=csv&table=facilities"))
    assert [r[0] for r in facilities[1:]] == ["US-VA-001"]
    chips = parse_csv(c.get(f"/runs/{silent.code}/?format=csv&table=chips"))
    assert len(chips) == 1 + 8 and all(r[1] == "US-VA-001" for r in chips[1:])


def test_a_runs_share_of_its_plan_is_the_count_its_over_plan_rule_judges(login):
    """demo-borealis-1 is alerted over its plan on the draft agreement's count (the fastest-precision bound): its
    page says that share, not the FP16-equivalent one alone, which read 75% beside an alert at 1.5 (a client
    written from the README met it)."""
    borealis = run("demo-borealis-1")
    [over] = Alert.objects.filter(rule__key="treaty-run-over-plan", subject_key=str(borealis.pk))
    page = text(login("treaty").get(f"/runs/{borealis.code}/"))
    share = f"{over.value * 100:.0f}%"  # the alert's value is the run's attested / planned on the rule's basis
    assert f"planned: {share}" in page.replace("<strong>", "").replace("</strong>", "")
    assert "FP16-equivalent upper bound" in page and "whichever is higher" in page
    assert share in text(login("treaty").get("/runs/"))


def test_the_treaty_body_decides_from_the_queue(login, demo):
    review = run("demo-atlas-3")
    c = login("treaty")
    queue = text(c.get("/runs/review/"))
    assert review.code in queue and "Approve</button>" in queue and "Object</button>" in queue
    # An objection says why: refused without, shown on the run's page.
    response = c.post(f"/runs/{review.code}/object/", {"reason": " ", "next": "queue"})
    assert response.status_code == 400 and "Say why the run is objected to." in text(response)
    response = c.post(f"/runs/{review.code}/object/", {"reason": "No data description.", "next": "queue"})
    assert response.status_code == 302 and response["Location"] == "/runs/review/"
    review.refresh_from_db()
    assert review.state == "objected" and review.decided_by == demo.users["treaty"]
    queue = text(c.get("/runs/review/"))
    assert f"Run {review.code}: objected to." in queue and f'href="/runs/{review.code}/"' not in queue
    assert LogEventData.objects.filter(event="run.objected", object_id=review.code).exists()


def test_the_operator_withdraws_and_may_not_decide(login):
    review = run("demo-atlas-3")
    c = login("operator")
    page = text(c.get(f"/runs/{review.code}/"))
    assert "Withdraw</button>" in page and "Approve</button>" not in page
    assert c.post(f"/runs/{review.code}/approve/", {"reason": "mine"}).status_code == 403
    response = c.post(f"/runs/{review.code}/withdraw/", {"reason": "postponed"})
    assert response.status_code == 302 and response["Location"] == f"/runs/{review.code}/"
    review.refresh_from_db()
    assert review.withdrawn_at is not None and review.state == "under_review"
    assert c.post(f"/runs/{review.code}/explode/", {}).status_code == 404
