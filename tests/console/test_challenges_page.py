"""The console's challenge inspections page: the clocks, overdue marked, each party its own (issue 19)."""

from datetime import timedelta

from django.utils import timezone

from inventory.models import AnyFinding, ChallengeInspection
from inventory.services import challenges


def _challenge(demo, reason):
    return challenges.request(demo.users["treaty"], reason=reason, facility_code="US-VA-001", case_ref="CASE-7")


def test_clock_left_and_overdue(login, demo):
    waiting = _challenge(demo, "Console: awaiting")
    late = _challenge(demo, "Console: late")
    ChallengeInspection.objects.filter(pk=late.pk).update(
        acknowledge_by=late.requested_at - timedelta(hours=2, minutes=5)
    )
    page = login("operator").get("/challenge-inspections/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Console: awaiting" in html and "Console: late" in html
    assert "CASE-7" not in html  # the case the treaty body's request serves is not the operator's to read
    assert "overdue by 2 h" in html
    assert "11 h" in html  # the awaiting one's time left to acknowledge (12 h less the test's seconds)
    assert "(yours)" in html  # the operator answers for its facility
    # The overdue one comes first (soonest deadline); the treaty body does not answer for the operator.
    assert html.index("Console: late") < html.index("Console: awaiting")
    treaty = login("treaty").get("/challenge-inspections/").content.decode()
    assert "Console: late" in treaty and "(yours)" not in treaty and "CASE-7" in treaty
    assert waiting.pk


def test_other_parties_see_nothing(login, demo):
    _challenge(demo, "Console: hidden")
    for user in ("other-operator", "inspector-de"):
        html = login(user).get("/challenge-inspections/").content.decode()
        assert "Console: hidden" not in html and "US-VA-001" not in html


def test_request_answer_and_record_through_the_console(login, demo):
    treaty, operator = login("treaty"), login("operator")
    page = treaty.get("/challenge-inspections/new/")
    assert page.status_code == 200
    done = treaty.post(
        "/challenge-inspections/new/", {"facility": "US-VA-001", "reason": "Console: a tip", "case": "CASE-9"}
    )
    assert done.status_code == 302, done.content[:500]
    row = ChallengeInspection.objects.get(reason="Console: a tip")
    assert done["Location"] == f"/challenge-inspections/{row.pk}/"
    # The operator sees the clock and the answer form; another operator's form post is a 404.
    html = operator.get(f"/challenge-inspections/{row.pk}/").content.decode()
    assert "left" in html and "Grant access" in html
    assert login("other-operator").post(f"/challenge-inspections/{row.pk}/acknowledge/", {}).status_code == 404
    assert treaty.post(f"/challenge-inspections/{row.pk}/grant/", {}).status_code == 403
    assert operator.post(f"/challenge-inspections/{row.pk}/acknowledge/", {"reason": "ok"}).status_code == 302
    assert operator.post(f"/challenge-inspections/{row.pk}/grant/", {}).status_code == 302
    row.refresh_from_db()
    assert row.state == "access_granted"
    assert "Record the inspection" in treaty.get(f"/challenge-inspections/{row.pk}/").content.decode()
    recorded = treaty.post(
        f"/challenge-inspections/{row.pk}/record/",
        {
            "performed_at": timezone.now().strftime("%Y-%m-%dT%H:%M"),
            "observed": "nvidia:NOSUCHCHIP01\n",
            "seals": "C-1@cage door\nC-2@rack 7 broken\n",
        },
    )
    assert recorded.status_code == 302
    row.refresh_from_db()
    assert row.state == "recorded" and row.inspection_id is not None
    assert sorted(row.inspection.seals_checked) == ["C-1@cage door", "C-2@rack 7 (broken)"]
    assert AnyFinding.objects.filter(source="inspection", source_id=str(row.inspection_id), kind="seal_broken").exists()
    html = treaty.get(f"/challenge-inspections/{row.pk}/").content.decode()
    assert "challenge.recorded" in html and "challenge.access_granted" in html


def test_a_challenge_alert_shows_on_the_alert_pages(login, demo):
    from compliance.challenge_alerts import escalate_challenges, sync
    from compliance.models import Alert

    row = _challenge(demo, "Console: alerted")
    [notice] = sync(row.pk)
    # The demo's own challenge (requested before this one) is overdue by then too: take this one's alert.
    raised = escalate_challenges(now=row.acknowledge_by + timedelta(minutes=1))
    [late] = Alert.objects.filter(pk__in=raised, group=f"challenge:{row.pk}:acknowledge").values_list("pk", flat=True)
    for pk in (notice.pk, late):
        page = login("operator").get(f"/alerts/{pk}/")
        assert page.status_code == 200, page.content[:300]
        assert f"Challenge inspection {row.pk}" in page.content.decode()
    assert f"Challenge inspection {row.pk}" in login("treaty").get("/alerts/").content.decode()
    assert login("other-operator").get(f"/alerts/{late}/").status_code == 404
