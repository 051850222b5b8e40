"""One case end to end in a real browser (issue 19): a tip, triage into a case, a challenge inspection
requested for it, acknowledged and granted by the operator, recorded by the treaty body, the case closed."""

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def sign_out(page):
    page.click("button:has-text('Log out')")
    page.wait_for_url(re.compile(r"/login/"))


def test_a_tip_becomes_a_case_that_a_challenge_inspection_closes(page, sign_in, demo_site, screenshot):
    # A whistleblower, signed in nowhere, sends a tip through the API and keeps the receipt.
    sent = page.request.post(
        f"{demo_site}/api/v1/tips/",
        data={"text": "Hall 3 at Ashburn holds racks the operator never declared.", "serials": []},
    )
    assert sent.status == 201, sent.text()
    tip = sent.json()["tip"]
    assert sent.json()["receipt"]

    # The treaty body reads it in its inbox and opens a case from it.
    sign_in("treaty")
    page.click("nav >> text=Tips")
    page.wait_for_url(re.compile(r"/tips/$"))
    page.locator(f"a[href='/tips/{tip}/']").first.click()
    expect(page.locator("#tip-body")).to_contain_text("Hall 3 at Ashburn")
    page.fill("#id_title", "Ashburn: undeclared racks in hall 3")
    page.click("#triage button[type=submit]")
    page.wait_for_url(re.compile(r"/cases/CASE-\d{4}-\d{4}/$"))
    code = page.url.rstrip("/").rsplit("/", 1)[1]
    expect(page.locator("#case-state")).to_have_text("Open")
    expect(page.locator("#case-links")).to_contain_text(tip)
    screenshot("case-opened-from-tip")

    # It requests a challenge inspection of the facility for the case.
    page.click("#request-challenge")
    page.wait_for_url(re.compile(r"/challenge-inspections/new/\?case="))
    expect(page.locator("#id_case")).to_have_value(code)
    page.fill("#id_facility", "US-VA-001")
    page.fill("#id_reason", "A tip of undeclared racks in hall 3.")
    page.click("button:has-text('Request inspection')")
    page.wait_for_url(re.compile(r"/challenge-inspections/\d+/$"))
    challenge = page.url.rstrip("/").rsplit("/", 1)[1]
    expect(page.locator("#challenge-clock")).to_contain_text("acknowledgement")
    # The case follows it: linked, and under inspection.
    page.goto(f"{demo_site}/cases/{code}/")
    expect(page.locator("#case-state")).to_have_text("Under inspection")
    expect(page.locator(f"#case-links a[href='/challenge-inspections/{challenge}/']")).to_be_visible()
    sign_out(page)

    # The operator of the facility acknowledges, then grants access.
    sign_in("operator")
    page.goto(f"{demo_site}/challenge-inspections/{challenge}/")
    page.click("button:has-text('Acknowledge')")
    page.wait_for_url(re.compile(rf"/challenge-inspections/{challenge}/$"))
    expect(page.locator("#challenge-clock")).to_contain_text("access decision")
    page.click("button:has-text('Grant access')")
    page.wait_for_url(re.compile(rf"/challenge-inspections/{challenge}/$"))
    expect(page.locator("#challenge-state")).to_contain_text("granted", ignore_case=True)
    screenshot("challenge-access-granted")
    sign_out(page)

    # The treaty body records what the team saw, seals included, and closes the case.
    sign_in("treaty")
    page.goto(f"{demo_site}/challenge-inspections/{challenge}/")
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M")  # the form is to the minute; the team just left
    page.fill("#id_performed_at", when)
    page.fill("#id_observed", "nvidia:1653824019000\nnvidia:1653824019001")
    page.fill("#id_seals", "S-0001@hall 3 door")
    page.click("button:has-text('Record')")
    page.wait_for_url(re.compile(rf"/challenge-inspections/{challenge}/$"))
    expect(page.locator("#challenge-state")).to_contain_text("recorded", ignore_case=True)
    page.goto(f"{demo_site}/cases/{code}/")
    page.select_option("#id_state", "closed")
    page.fill("#id_conclusion", "Hall 3 inspected: the racks hold declared chips; seal S-0001 applied.")
    page.click("button:has-text('Move')")
    page.wait_for_url(re.compile(rf"/cases/{code}/$"))
    expect(page.locator("#case-state")).to_have_text("Closed")
    expect(page.locator("#case-conclusion")).to_contain_text("seal S-0001 applied")
    timeline = page.locator("#case-timeline")
    for event in ("case.opened", "case.linked", "case.state_changed", "case.closed"):
        expect(timeline).to_contain_text(event)
    screenshot("case-closed")
    assert not page.console_errors

    from casework.models import Case, CaseStep
    from inventory.models import ChallengeInspection

    case = Case.objects.get(code=code)
    assert case.state == "closed"
    row = ChallengeInspection.objects.get(pk=challenge)
    assert row.case_ref == code and row.inspection_id is not None
    assert CaseStep.objects.filter(case=case, event="case.linked", data__kind="challenge_inspection").exists()
