"""Answers and clarification requests through the console's forms (issue 17): the same service and rules as the
API, the finding page, attachments as downloads, and the operator's "answers due" page."""

import hashlib
import json

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.console.helpers import alert_for, text

PDF = b"%PDF-1.4\nconsole attachment\n%%EOF\n"


def _finding(facility="US-VA-001"):
    from inventory.models import AnyFinding

    return AnyFinding.objects.filter(facility__code=facility, resolved_at__isnull=True).order_by("id").first()


def _log(index):
    from transparency.models import LogEventData

    row = LogEventData.objects.get(index=index)
    return row.event, json.loads(row.data_jcs)


def test_ask_answer_with_a_file_and_accept_through_the_alert_page(login, demo):
    from compliance.dispute_models import Answer, ClarificationRequest

    alert = alert_for("Covered chip cluster")
    inspector, operator = login("inspector"), login("operator")
    page = text(inspector.get(f"/alerts/{alert.pk}/"))
    assert "Ask for clarification" in page and "Answer this alert" not in page
    asked = inspector.post(f"/alerts/{alert.pk}/clarify/", {"question": "Which run used this cluster?"})
    assert asked.status_code == 302 and asked["Location"] == f"/alerts/{alert.pk}/"
    request = ClarificationRequest.objects.get(alert=alert)
    assert (request.requester.code, request.operator.code, request.state) == ("insp-us", "op-demo", "open")
    assert _log(request.log_index)[0] == "clarification.requested"
    # The operator's answers due: the question, and its deadline.
    due = text(operator.get("/answers-due/"))
    assert "Which run used this cluster?" in due and f"/alerts/{alert.pk}/#answers" in due
    page = text(operator.get(f"/alerts/{alert.pk}/"))
    assert "Answer this alert" in page and f"request {request.pk}" in page and "Ask for clarification" not in page
    from runs.models import Run

    run = Run.objects.filter(operator__code="op-demo").order_by("id").first().code
    answered = operator.post(
        f"/alerts/{alert.pk}/answer/",
        {
            "explanation": "Run llm-7 (declared) used it.",
            "run": run,
            "attachments": [SimpleUploadedFile("plan.pdf", PDF, "application/pdf")],
        },
    )
    assert answered.status_code == 302, text(answered)[:500]
    answer = Answer.objects.get(alert=alert)
    (file,) = answer.attachments.all()
    assert (answer.run, file.name, file.sha256) == (run, "plan.pdf", hashlib.sha256(PDF).hexdigest())
    event, data = _log(answer.log_index)
    assert event == "answer.submitted" and data["attachments"][0]["sha256"] == file.sha256
    request.refresh_from_db()
    assert request.state == "answered" and "Which run" not in text(operator.get("/answers-due/"))
    # The file downloads from the page, byte for byte, never rendered.
    page = text(inspector.get(f"/alerts/{alert.pk}/"))
    link = f"/answers/{answer.pk}/attachments/0/"
    assert link in page and file.sha256 in page and "Run llm-7 (declared) used it." in page
    download = inspector.get(link)
    assert download.content == PDF and download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"].startswith("attachment;")
    # The inspectorate that asked decides; accepting with `close` resolves the alert.
    assert f"/answers/{answer.pk}/decide/" in page
    assert f"/answers/{answer.pk}/decide/" not in text(operator.get(f"/alerts/{alert.pk}/"))
    decided = inspector.post(
        f"/answers/{answer.pk}/decide/", {"decision": "accept", "reason": "Matches the declaration.", "close": "on"}
    )
    assert decided.status_code == 302
    alert.refresh_from_db()
    request.refresh_from_db()
    assert alert.state == "resolved" and request.state == "accepted"
    assert _log(answer.decision.log_index)[0] == "answer.accepted"
    page = text(operator.get(f"/alerts/{alert.pk}/"))
    assert "Accepted" in page and "Matches the declaration." in page


def test_the_finding_page_answers_and_a_rejection_reopens_the_request(login, demo):
    from compliance.dispute_models import ClarificationRequest

    finding = _finding()
    inspector, operator = login("inspector"), login("operator")
    page = text(operator.get(f"/findings/{finding.pk}/"))
    assert finding.detail in page and "Answer this finding" in page
    # Linked from the facility page's findings.
    assert f"/findings/{finding.pk}/" in text(operator.get("/facilities/US-VA-001/"))
    assert (
        inspector.post(f"/findings/{finding.pk}/clarify/", {"question": "Why?", "deadline_days": "7"}).status_code
        == 302
    )
    request = ClarificationRequest.objects.get(finding=finding)
    assert (request.deadline - request.at).days == 7
    assert operator.post(f"/findings/{finding.pk}/answer/", {"explanation": "Miscounted."}).status_code == 302
    request.refresh_from_db()
    rejected = inspector.post(
        f"/answers/{request.answer_id}/decide/", {"decision": "reject", "reason": "Recount it.", "deadline_days": "5"}
    )
    assert rejected.status_code == 302 and rejected["Location"] == f"/findings/{finding.pk}/"
    request.refresh_from_db()
    assert (request.state, request.round) == ("open", 2)
    assert "Recount it." in text(operator.get(f"/findings/{finding.pk}/"))
    assert "Why?" in text(operator.get("/answers-due/"))


def test_what_other_parties_cannot_do_or_see_in_the_console(login, demo):
    from compliance.dispute_models import Answer, ClarificationRequest
    from transparency.models import LogLeaf

    alert, finding = alert_for("Covered chip cluster"), _finding()
    login("inspector").post(f"/alerts/{alert.pk}/clarify/", {"question": "A question only A and US may read."})
    size = LogLeaf.objects.count()
    other, de = login("other-operator"), login("inspector-de")
    for client in (other, de):
        assert client.get(f"/findings/{finding.pk}/").status_code == 404
        assert client.post(f"/alerts/{alert.pk}/answer/", {"explanation": "for A"}).status_code == 404
        assert client.post(f"/findings/{finding.pk}/clarify/", {"question": "about A?"}).status_code == 404
        assert "A question only A and US may read." not in text(client.get("/answers-due/"))
    assert login("inspector").post(f"/alerts/{alert.pk}/answer/", {"explanation": "for A"}).status_code == 403
    assert login("operator").post(f"/alerts/{alert.pk}/clarify/", {"question": "of ourselves"}).status_code == 403
    assert not Answer.objects.exists() and ClarificationRequest.objects.count() == 1
    assert LogLeaf.objects.count() == size
    assert login("inspector").get("/findings/99999999999999999999/").status_code == 404


def test_a_bad_file_is_shown_and_nothing_is_kept(login, demo, settings):
    from compliance.dispute_models import Answer, AnswerAttachment

    alert = alert_for("Covered chip cluster")
    operator = login("operator")
    cases = [
        (
            SimpleUploadedFile("big.pdf", b"%PDF-" + b"x" * settings.CHIPREG_ANSWER_ATTACHMENT_MAX_BYTES),
            413,
            "larger than",
        ),
        (SimpleUploadedFile("page.html", b"<script>alert(1)</script>", "text/html"), 400, "is not accepted"),
        (SimpleUploadedFile("fake.png", b"%PDF-1.4", "image/png"), 400, "its bytes are not image/png"),
    ]
    for upload, status, words in cases:
        response = operator.post(f"/alerts/{alert.pk}/answer/", {"explanation": "see file", "attachments": [upload]})
        assert response.status_code == status, (upload.name, response.status_code)
        assert words in text(response)
    assert not Answer.objects.exists() and not AnswerAttachment.objects.exists()


def test_the_alert_page_costs_the_same_however_many_answers(login, demo):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from compliance import disputes

    alert = alert_for("Covered chip cluster")
    subject = disputes.Subject(alert=alert)
    treaty = login("treaty")

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert treaty.get(f"/alerts/{alert.pk}/").status_code == 200
        return len(ctx.captured_queries)

    disputes.request_clarification(demo.users["treaty"], subject, "First question?")
    disputes.answer(demo.users["operator"], subject, "First.", attachments=[("a.txt", "text/plain", b"a")])
    one = count()
    for i in range(3):
        disputes.request_clarification(demo.users["inspector"], subject, f"Question {i}?")
        disputes.answer(
            demo.users["operator"], subject, f"Answer {i}.", attachments=[("b.txt", "text/plain", b"b")] * 2
        )
    assert count() == one
