"""The console's challenge inspections page: the clocks, overdue marked, each party its own (issue 19)."""

from datetime import timedelta

from inventory.models import ChallengeInspection
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
    assert "Console: awaiting" in html and "Console: late" in html and "CASE-7" in html
    assert "overdue by 2 h" in html
    assert "11 h" in html  # the awaiting one's time left to acknowledge (12 h less the test's seconds)
    assert "(yours)" in html  # the operator answers for its facility
    # The overdue one comes first (soonest deadline); the treaty body does not answer for the operator.
    assert html.index("Console: late") < html.index("Console: awaiting")
    treaty = login("treaty").get("/challenge-inspections/").content.decode()
    assert "Console: late" in treaty and "(yours)" not in treaty
    assert waiting.pk


def test_other_parties_see_nothing(login, demo):
    _challenge(demo, "Console: hidden")
    for user in ("other-operator", "inspector-de"):
        html = login(user).get("/challenge-inspections/").content.decode()
        assert "Console: hidden" not in html and "US-VA-001" not in html
