"""The console in a real browser: the three journeys the console exists for."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def test_inspector_finds_a_chip_opens_its_facility_and_acknowledges_an_alert(sign_in, demo_site, screenshot):
    page = sign_in("inspector")
    expect(page.locator("h1")).to_have_text("Dashboard")

    # The search box on every page: an exact serial goes straight to the chip.
    page.fill("#q", "1653824019000")
    page.press("#q", "Enter")
    page.wait_for_url(re.compile(r"/chips/nvidia:1653824019000/$"))
    expect(page.locator("h1")).to_have_text("nvidia:1653824019000")
    expect(page.locator("text=All verified.")).to_be_visible()
    expect(page.locator("td >> text=FAILED")).to_have_count(0)
    screenshot("inspector-chip")

    # Its facility, with the reconciliation loaded after the page.
    page.locator("a[href='/facilities/US-VA-001/']").first.click()
    page.wait_for_url(re.compile(r"/facilities/US-VA-001/$"))
    expect(page.locator("#reconciliation [data-loaded='1']")).to_be_visible()
    expect(page.locator("#reconciliation")).to_contain_text("nvidia:1653824019030")
    screenshot("inspector-facility")

    # An alert on it: acknowledge with a reason.
    page.click("text=Covered chip cluster: US-VA-001")
    page.wait_for_url(re.compile(r"/alerts/\d+/$"))
    expect(page.locator("#alert-state")).to_have_text("Open")
    page.fill("#id_reason", "Inspection of halls 1-2 booked; operator notified.")
    page.click("button[value=acknowledge]")
    page.wait_for_url(re.compile(r"/alerts/\d+/$"))
    expect(page.locator("#alert-state")).to_have_text("Acknowledged")
    expect(page.locator(".messages")).to_contain_text("acknowledged")
    expect(page.locator("td.reason").last).to_contain_text("Inspection of halls 1-2 booked")
    screenshot("inspector-alert-acknowledged")
    assert not page.console_errors

    from compliance.models import Alert

    alert = Alert.objects.get(title__startswith="Covered chip cluster: US-VA-001")
    assert alert.state == "acknowledged"
    assert alert.transitions.latest("id").by.username == "inspector"


def test_operator_registers_a_key_and_sees_a_rejected_submission(sign_in, demo_site, screenshot):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    page = sign_in("operator")
    page.click("nav >> text=Signing keys")
    page.wait_for_url(re.compile(r"/keys/$"))
    pem = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    page.fill("#id_name", "hall-2 agent")
    page.fill("#id_pem", pem)
    page.click("#register-key button[type=submit]")
    page.wait_for_url(re.compile(r"/keys/$"))
    expect(page.locator(".messages")).to_contain_text("registered")
    expect(page.locator("table.data")).to_contain_text("hall-2 agent")
    screenshot("operator-keys")

    page.click("nav >> text=Submissions")
    page.wait_for_url(re.compile(r"/submissions/$"))
    rejections = page.locator("#rejections")
    expect(rejections).to_contain_text("unknown_key")
    expect(rejections).to_contain_text("no registered key with keyid")
    expect(rejections).to_contain_text("stale_statement")
    screenshot("operator-submissions")
    assert not page.console_errors

    from attestations.models import SigningKey

    assert SigningKey.objects.filter(name="hall-2 agent", organisation__code="op-demo").exists()


def test_an_operator_cannot_open_another_operators_facility(sign_in, demo_site, screenshot):
    page = sign_in("operator")
    response = page.goto(f"{demo_site}/facilities/DE-FRA-001/")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.locator("main")).to_contain_text("No facility 'DE-FRA-001' in your view.")
    screenshot("operator-other-facility-404")
    # Their own is there.
    response = page.goto(f"{demo_site}/facilities/US-VA-001/")
    assert response.status == 200
    # Let the page's one background request finish before the server goes away.
    expect(page.locator("#reconciliation [data-loaded='1']")).to_be_visible()


def test_operator_answers_a_request_for_clarification_with_a_file(sign_in, demo_site, screenshot, tmp_path):
    """Issue 17: the inspectorate's question is on the operator's "answers due"; it answers on the alert's page."""
    import hashlib

    from compliance import disputes
    from compliance.dispute_models import ClarificationRequest
    from compliance.models import Alert
    from registry.models import User
    from runs.models import Run

    alert = Alert.objects.get(title__startswith="Covered chip cluster: US-VA-001")
    run = Run.objects.filter(operator__code="op-demo").order_by("id").first().code  # the operator's own run
    request = disputes.request_clarification(
        User.objects.get(username="inspector"), disputes.Subject(alert=alert), "Which declared run used this cluster?"
    )
    pdf = b"%PDF-1.4\nthe run's declaration\n%%EOF\n"
    (tmp_path / "declaration.pdf").write_bytes(pdf)

    page = sign_in("operator")
    page.click("nav >> text=Answers due")
    page.wait_for_url(re.compile(r"/answers-due/$"))
    expect(page.locator("#answers-due")).to_contain_text("Which declared run used this cluster?")
    page.locator(f"#answers-due a[href='/alerts/{alert.pk}/#answers']").click()
    page.wait_for_url(re.compile(rf"/alerts/{alert.pk}/#answers$"))
    page.fill("#id_answer_explanation", "Run llm-7, declared in March, used it.")
    page.fill("#id_answer_run", run)
    page.set_input_files("#id_answer_attachments", str(tmp_path / "declaration.pdf"))
    page.click("form.answerform button[type=submit]")
    page.wait_for_url(re.compile(rf"/alerts/{alert.pk}/$"))
    expect(page.locator(".messages")).to_contain_text("Your answer is recorded")
    expect(page.locator("#answers")).to_contain_text(hashlib.sha256(pdf).hexdigest())
    expect(page.locator("#answers")).to_contain_text("Run llm-7, declared in March, used it.")
    screenshot("operator-answered-clarification")
    assert not page.console_errors
    request.refresh_from_db()
    assert request.state == "answered" and request.answer.attachments.get().content == pdf
    assert ClarificationRequest.objects.filter(state__in=("open", "overdue")).count() == 0
