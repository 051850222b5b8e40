"""Answers, clarification requests and decisions (issue 17): round trips through the API and the log, who may
say what about whose finding or alert, bounded attachments, and the clock that escalates overdue requests."""

import base64
import hashlib
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from compliance.dispute_models import Answer, AnswerAttachment, AnswerDecision, ClarificationRequest
from compliance.disputes import escalate_overdue
from compliance.models import Alert
from inventory.models import ChiplessFinding, Facility, Finding
from outbox.relay import drain_all
from registry.registration import register_chips
from tests.factories import OrganisationFactory, UserFactory, chip_rows
from transparency.models import LogEventData, LogLeaf

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
CSV = b"chip,seen\nnvidia:AN000001,yes\n"


def b64(data):
    return base64.b64encode(data).decode()


def attachment(name="note.pdf", content_type="application/pdf", data=PDF):
    return {"name": name, "content_type": content_type, "content": b64(data)}


@pytest.fixture
def world(parties):
    """Operator A's facility with two unaccounted chips: findings, and the alert they raise (US)."""
    from inventory.chiprefs import parse_listing
    from inventory.services.listings import record_declaration

    op = parties.users["op_a_admin"]
    fac = Facility.objects.create(
        code="US-ANS-1", name="answers", operator=op.organisation, country="US", latitude=38.9, longitude=-77.4
    )
    rows = chip_rows("AN", 3)
    register_chips(rows, op)
    ids = [r["chip"] for r in rows]
    record_declaration(op, fac, timezone.now() - timedelta(minutes=2), parse_listing(ids, 100))
    record_declaration(op, fac, timezone.now() - timedelta(minutes=1), parse_listing(ids[:1], 100))
    drain_all()
    parties.finding = Finding.objects.filter(facility=fac, kind="unaccounted").order_by("id").first()
    parties.alert = Alert.objects.get(facility=fac, group__startswith="unaccounted")
    parties.facility = fac
    return parties


def log_size():
    return LogLeaf.objects.count()


def event(index):
    return LogEventData.objects.get(index=index)


def readable(api, user, index):
    return api(user).get(f"/api/v1/log/entries/{index}").status_code == 200


# --- round trips --------------------------------------------------------------------------------------


def test_an_answer_with_attachments_round_trips_through_the_api_and_the_log(api, world):
    op = world.users["op_a_admin"]
    run = _run(op, world.facility).code
    response = api(op).post(
        f"/api/v1/findings/{world.finding.pk}/answers/",
        {
            "explanation": "Two boards went back to the vendor for RMA; the paperwork is attached.",
            "run": run,
            "attachments": [attachment(), attachment("seen.csv", "text/csv", CSV)],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["finding"] == world.finding.pk and body["alert"] is None and body["operator"] == "op-a"
    assert body["run"] == run and body["decision"] is None
    assert [(a["name"], a["content_type"], a["size"], a["sha256"]) for a in body["attachments"]] == [
        ("note.pdf", "application/pdf", len(PDF), hashlib.sha256(PDF).hexdigest()),
        ("seen.csv", "text/csv", len(CSV), hashlib.sha256(CSV).hexdigest()),
    ]
    # Listed for the subject, read one by one, and its files come back byte for byte, as downloads.
    listed = api(world.users["insp_us"]).get(f"/api/v1/answers/?finding={world.finding.pk}").json()["results"]
    assert [a["id"] for a in listed] == [body["id"]]
    assert api(world.users["treaty"]).get(f"/api/v1/answers/{body['id']}/").json() == body
    download = api(world.users["insp_us"]).get(f"/api/v1/answers/{body['id']}/attachments/1/")
    assert download.status_code == 200 and download.content == CSV
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"].startswith("attachment;") and download["X-Content-Type-Options"] == "nosniff"
    assert api(op).get(f"/api/v1/answers/{body['id']}/attachments/2/").status_code == 404
    # The log: the explanation, the run, the files by hash (never their bytes).
    data = event(body["log_index"])
    assert data.event == "answer.submitted" and data.object_id == f"finding:{world.finding.pk}"
    logged = json.loads(data.data_jcs)
    assert logged["explanation"].startswith("Two boards") and logged["run"] == run
    assert [a["sha256"] for a in logged["attachments"]] == [
        hashlib.sha256(PDF).hexdigest(),
        hashlib.sha256(CSV).hexdigest(),
    ]
    assert b64(PDF) not in data.data_jcs
    for user, sees in (("op_a_member", True), ("insp_us", True), ("treaty", True), ("op_b", False), ("insp_fr", False)):
        assert readable(api, world.users[user], body["log_index"]) is sees, user


def test_clarification_answer_and_acceptance_that_resolves_the_alert(api, world, settings):
    insp, op = world.users["insp_us"], world.users["op_a_member"]
    asked = api(insp).post(f"/api/v1/alerts/{world.alert.pk}/clarifications/", {"question": "Where are the two?"})
    assert asked.status_code == 201, asked.content
    request = asked.json()
    assert request["state"] == "open" and request["operator"] == "op-a" and request["requester"] == "insp-us"
    row = ClarificationRequest.objects.get(pk=request["id"])
    assert row.deadline - row.at == timedelta(days=settings.CHIPREG_CLARIFICATION_DAYS) == timedelta(days=5)
    assert event(row.log_index).event == "clarification.requested"
    # The operator's answers due, in the API.
    due = api(op).get("/api/v1/clarifications/?awaiting=true").json()["results"]
    assert [r["id"] for r in due] == [row.pk] and due[0]["overdue"] is False
    answered = api(op).post(f"/api/v1/alerts/{world.alert.pk}/answers/", {"explanation": "Sent back for RMA."})
    assert answered.status_code == 201, answered.content
    row.refresh_from_db()
    assert row.state == "answered" and row.answer_id == answered.json()["id"]
    assert api(op).get("/api/v1/clarifications/?awaiting=true").json()["results"] == []
    assert json.loads(event(answered.json()["log_index"]).data_jcs)["fulfils"] == [row.pk]
    decided = api(insp).post(
        f"/api/v1/answers/{row.answer_id}/decide/",
        {"decision": "accept", "reason": "RMA papers match.", "close": True},
    )
    assert decided.status_code == 200, decided.content
    decision = decided.json()["decision"]
    assert (decision["outcome"], decision["organisation"], decision["closed"]) == ("accepted", "insp-us", True)
    row.refresh_from_db()
    world.alert.refresh_from_db()
    assert row.state == "accepted" and world.alert.state == "resolved"
    assert world.alert.transitions.latest("id").reason == "RMA papers match."
    assert event(decision["log_index"]).event == "answer.accepted"
    # The alert's own page in the API carries what was asked and answered.
    detail = api(world.users["treaty"]).get(f"/api/v1/alerts/{world.alert.pk}/").json()
    assert [a["id"] for a in detail["answers"]] == [row.answer_id]
    assert [(c["id"], c["state"]) for c in detail["clarifications"]] == [(row.pk, "accepted")]
    # Once per answer.
    again = api(insp).post(f"/api/v1/answers/{row.answer_id}/decide/", {"decision": "reject", "reason": "no way"})
    assert again.status_code == 409 and again.json()["code"] == "already_decided"


def test_a_rejected_answer_leaves_the_request_standing_with_a_new_deadline(api, world):
    insp, op = world.users["insp_us"], world.users["op_a_admin"]
    request = (
        api(insp)
        .post(f"/api/v1/findings/{world.finding.pk}/clarifications/", {"question": "Serial list?", "deadline_days": 10})
        .json()
    )
    row = ClarificationRequest.objects.get(pk=request["id"])
    assert row.deadline - row.at == timedelta(days=10)
    answer = (
        api(op)
        .post(f"/api/v1/findings/{world.finding.pk}/answers/", {"explanation": "See attached.", "request": row.pk})
        .json()
    )
    before = timezone.now()
    rejected = api(insp).post(
        f"/api/v1/answers/{answer['id']}/decide/",
        {"decision": "reject", "reason": "Nothing attached.", "deadline_days": 7},
    )
    assert rejected.status_code == 200, rejected.content
    row.refresh_from_db()
    assert row.state == "open" and row.round == 2 and row.answer_id == answer["id"]
    assert before + timedelta(days=7) <= row.deadline <= timezone.now() + timedelta(days=7)
    assert event(rejected.json()["decision"]["log_index"]).event == "answer.rejected"
    world.finding.refresh_from_db()
    assert world.finding.resolved_at is None
    # Answered again: accepted, and with `close` the finding is resolved through its own (logged) resolution.
    second = api(op).post(f"/api/v1/findings/{world.finding.pk}/answers/", {"explanation": "Now attached."}).json()
    accepted = api(world.users["treaty"]).post(
        f"/api/v1/answers/{second['id']}/decide/", {"decision": "accept", "reason": "Complete.", "close": True}
    )
    assert accepted.status_code == 200, accepted.content
    world.finding.refresh_from_db()
    row.refresh_from_db()
    assert world.finding.resolved_at is not None and world.finding.resolution == "Complete."
    assert row.state == "accepted" and row.answer_id == second["id"]
    assert LogEventData.objects.filter(event="finding.resolved", object_id=f"finding:{world.finding.pk}").exists()


def test_a_decision_on_an_answer_without_a_reason_is_reason_required(api, world):
    """Accepted or rejected, a decision says why: missing, null, empty or blank is 400 reason_required."""
    answer = (
        api(world.users["op_a_admin"])
        .post(f"/api/v1/alerts/{world.alert.pk}/answers/", {"explanation": "Nothing to see."})
        .json()
    )
    for decision in ("accept", "reject"):
        for reason in ({}, {"reason": ""}, {"reason": " \t\n"}, {"reason": None}):
            response = api(world.users["insp_us"]).post(
                f"/api/v1/answers/{answer['id']}/decide/", {"decision": decision, **reason}
            )
            assert (response.status_code, response.json()["code"]) == (400, "reason_required"), (decision, reason)
    assert not AnswerDecision.objects.exists()


def test_an_unsolicited_answer_rejected_opens_a_request(api, world):
    answer = (
        api(world.users["op_a_admin"])
        .post(f"/api/v1/alerts/{world.alert.pk}/answers/", {"explanation": "Nothing to see."})
        .json()
    )
    rejected = api(world.users["insp_us"]).post(
        f"/api/v1/answers/{answer['id']}/decide/", {"decision": "reject", "reason": "Say where the chips are."}
    )
    assert rejected.status_code == 200, rejected.content
    opened = ClarificationRequest.objects.get(alert=world.alert)
    assert (opened.state, opened.question, opened.requester.code) == ("open", "Say where the chips are.", "insp-us")
    assert json.loads(event(rejected.json()["decision"]["log_index"]).data_jcs)["opened"] == [opened.pk]


def test_only_the_requester_or_the_treaty_body_decides_on_an_answer_it_asked_for(api, world):
    treaty_request = api(world.users["treaty"]).post(
        f"/api/v1/alerts/{world.alert.pk}/clarifications/", {"question": "Why?"}
    )
    assert treaty_request.status_code == 201
    answer = (
        api(world.users["op_a_admin"])
        .post(f"/api/v1/alerts/{world.alert.pk}/answers/", {"explanation": "Because."})
        .json()
    )
    refused = api(world.users["insp_us"]).post(
        f"/api/v1/answers/{answer['id']}/decide/", {"decision": "accept", "reason": "fine by us"}
    )
    assert refused.status_code == 403 and refused.json()["code"] == "not_requester"
    assert not AnswerDecision.objects.exists()
    assert (
        api(world.users["op_a_admin"])
        .post(f"/api/v1/answers/{answer['id']}/decide/", {"decision": "accept", "reason": "we agree with ourselves"})
        .status_code
        == 403
    )


# --- who may say what -----------------------------------------------------------------------------


def test_another_operator_cannot_answer_or_see_and_learns_nothing(api, world):
    a = (
        api(world.users["op_a_admin"])
        .post(f"/api/v1/findings/{world.finding.pk}/answers/", {"explanation": "secret RMA numbers 4711"})
        .json()
    )
    size = log_size()
    b = world.users["op_b"]
    for path in (f"/api/v1/findings/{world.finding.pk}/answers/", f"/api/v1/alerts/{world.alert.pk}/answers/"):
        refused = api(b).post(path, {"explanation": "A's chips are fine, trust us"})
        assert refused.status_code == 404, refused.content
        assert b"US-ANS-1" not in refused.content and b"op-a" not in refused.content
        # Exactly what a finding or alert that does not exist answers.
        missing = api(b).post(path.replace(path.split("/")[4], "999999999"), {"explanation": "x"})
        assert missing.status_code == 404 and missing.json() == refused.json()
    assert Answer.objects.count() == 1 and log_size() == size
    assert api(b).get("/api/v1/answers/").json()["results"] == []
    assert api(b).get(f"/api/v1/answers/?finding={world.finding.pk}").json()["results"] == []
    assert api(b).get(f"/api/v1/answers/{a['id']}/").status_code == 404
    assert api(b).post(f"/api/v1/answers/{a['id']}/decide/", {"decision": "accept", "reason": "ok"}).status_code == 403
    assert not readable(api, b, a["log_index"])


def test_parties_that_see_it_but_are_not_its_party_do_not_answer(api, world):
    size = log_size()
    readonly = UserFactory(organisation=world.op_a, role="read-only")
    superuser = UserFactory(organisation=world.treaty, role="admin", is_superuser=True)
    for user, code in (
        (world.users["insp_us"], "not_party"),
        (world.users["treaty"], "not_party"),
        (superuser, "not_party"),
        (readonly, "forbidden"),
    ):
        refused = api(user).post(f"/api/v1/alerts/{world.alert.pk}/answers/", {"explanation": "on their behalf"})
        assert refused.status_code == 403 and refused.json()["code"] == code, (user, refused.content)
    assert not Answer.objects.exists() and log_size() == size


def test_inspectorates_ask_only_about_their_country_and_operators_do_not_ask(api, world):
    size = log_size()
    fr = world.users["insp_fr"]
    assert api(fr).post(f"/api/v1/findings/{world.finding.pk}/clarifications/", {"question": "?!?"}).status_code == 404
    assert api(fr).post(f"/api/v1/alerts/{world.alert.pk}/clarifications/", {"question": "?!?"}).status_code == 404
    for user in ("op_a_admin", "op_b", "nvidia"):
        response = api(world.users[user]).post(f"/api/v1/alerts/{world.alert.pk}/clarifications/", {"question": "?!?"})
        assert response.status_code == 403, user
    assert not ClarificationRequest.objects.exists() and log_size() == size
    # What the US inspectorate asked, and what A answered, stay out of the French inspectorate's view.
    asked = api(world.users["insp_us"]).post(f"/api/v1/alerts/{world.alert.pk}/clarifications/", {"question": "Why?"})
    answer = (
        api(world.users["op_a_admin"])
        .post(f"/api/v1/alerts/{world.alert.pk}/answers/", {"explanation": "Because.", "attachments": [attachment()]})
        .json()
    )
    assert api(fr).get("/api/v1/clarifications/").json()["results"] == []
    assert api(fr).get(f"/api/v1/clarifications/{asked.json()['id']}/").status_code == 404
    assert api(fr).get("/api/v1/answers/").json()["results"] == []
    assert api(fr).get(f"/api/v1/answers/{answer['id']}/attachments/0/").status_code == 404
    assert not readable(api, fr, asked.json()["log_index"]) and not readable(api, fr, answer["log_index"])


def test_deadlines_are_never_shorter_than_the_agreements(api, world):
    insp = world.users["insp_us"]
    # One code for any count out of the range, however far out (0, -1 and 3651 were a schema error, `invalid`).
    for days in (4, 91, 0, -1, 3651, 10**30):
        response = api(insp).post(
            f"/api/v1/alerts/{world.alert.pk}/clarifications/", {"question": "Why?", "deadline_days": days}
        )
        assert response.status_code == 400 and response.json()["code"] == "invalid_deadline", days
    assert not ClarificationRequest.objects.exists()


def shared_finding(world, source_id, chip_ref):
    """A finding of the US that Germany reads as its other country: a transfer's, from op-a to op-b."""
    return ChiplessFinding.objects.create(
        kind="never_received",
        organisation=world.op_a,
        other_organisation=world.op_b,
        country="US",
        other_country="DE",
        source="transfer",
        source_id=source_id,
        chip_ref=chip_ref,
    )


def test_closed_subjects_take_no_requests(api, world):
    api(world.users["treaty"]).post(f"/api/v1/alerts/{world.alert.pk}/dismiss/", {"reason": "demo"})
    response = api(world.users["insp_us"]).post(
        f"/api/v1/alerts/{world.alert.pk}/clarifications/", {"question": "Why dismissed?"}
    )
    assert response.status_code == 409 and response.json()["code"] == "subject_closed"


def test_rejecting_an_answer_nobody_asked_for_opens_no_request_about_a_closed_subject(api, world):
    """A rejection of an unsolicited answer becomes a request: about a closed finding or alert that is the request
    `subject_closed` refuses (and its clock would escalate an overdue alert about something settled)."""
    op, insp = api(world.users["op_a_admin"]), api(world.users["insp_us"])
    api(world.users["treaty"]).post(f"/api/v1/alerts/{world.alert.pk}/dismiss/", {"reason": "demo"})
    api(world.users["treaty"]).post(f"/api/v1/findings/{world.finding.pk}/resolve/", {"reason": "demo"})
    world.finding.refresh_from_db()
    assert world.finding.resolved_at is not None
    for path in (f"/api/v1/alerts/{world.alert.pk}/answers/", f"/api/v1/findings/{world.finding.pk}/answers/"):
        answer = op.post(path, {"explanation": "For the record, after the fact."})
        assert answer.status_code == 201
        size = log_size()
        rejected = insp.post(
            f"/api/v1/answers/{answer.json()['id']}/decide/", {"decision": "reject", "reason": "Explain it again."}
        )
        assert rejected.status_code == 409 and rejected.json()["code"] == "subject_closed", rejected.content
        assert log_size() == size
        assert not ClarificationRequest.objects.exists()
        assert not AnswerDecision.objects.filter(answer_id=answer.json()["id"]).exists()
        # Accepting it settles nothing new, and stays possible.
        accepted = insp.post(
            f"/api/v1/answers/{answer.json()['id']}/decide/", {"decision": "accept", "reason": "Noted."}
        )
        assert accepted.status_code == 200 and accepted.json()["decision"]["closed"] is False


def test_a_finding_two_parties_share_is_answered_by_each_for_itself(api, world):
    """A transfer's finding concerns its shipper and its receiver: each answers; neither reads the other's answer."""
    insp_de = UserFactory(
        organisation=OrganisationFactory(code="insp-de", kind="inspectorate", country="DE", jurisdictions=["DE"])
    )
    shared = shared_finding(world, "t-1", "nvidia:AN000002")
    b_answer = (
        api(world.users["op_b"])
        .post(f"/api/v1/findings/{shared.pk}/answers/", {"explanation": "B never got them."})
        .json()
    )
    assert b_answer["operator"] == "op-b"
    assert api(world.users["op_a_admin"]).get(f"/api/v1/answers/{b_answer['id']}/").status_code == 404
    assert not readable(api, world.users["op_a_admin"], b_answer["log_index"])
    assert readable(api, insp_de, b_answer["log_index"])
    # The German inspectorate asks B (the party named), and B owes it the answer.
    asked = api(insp_de).post(
        f"/api/v1/findings/{shared.pk}/clarifications/", {"question": "Customs papers?", "operator": "op-b"}
    )
    assert asked.status_code == 201 and asked.json()["operator"] == "op-b"
    unknown = api(insp_de).post(
        f"/api/v1/findings/{shared.pk}/clarifications/", {"question": "?!?", "operator": "op-x"}
    )
    assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_party"
    due_b = api(world.users["op_b"]).get("/api/v1/clarifications/?awaiting=true").json()["results"]
    assert [r["id"] for r in due_b] == [asked.json()["id"]]
    assert api(world.users["op_a_admin"]).get("/api/v1/clarifications/?awaiting=true").json()["results"] == []
    # Overdue, it escalates where the German inspectorate (which asked) sees it.
    row = ClarificationRequest.objects.get(pk=asked.json()["id"])
    (alert,) = escalate_overdue(now=row.deadline + timedelta(seconds=1))
    assert alert.country == "DE" and alert.operator == world.op_b
    assert api(insp_de).get(f"/api/v1/alerts/{alert.pk}/").status_code == 200


# --- attachments: bounded, checked, all or nothing ----------------------------------------------------


@pytest.mark.parametrize(
    ("files", "status", "code"),
    [
        ([attachment(data=b"%PDF-" + b"x" * (512 * 1024))], 413, "attachment_too_large"),
        ([attachment("run.exe", "application/x-msdownload", b"MZ\x90\x00")], 400, "attachment_type"),
        ([attachment("fake.pdf", "application/pdf", b"\x89PNG\r\n\x1a\nnot a pdf")], 400, "attachment_type"),
        ([attachment("bin.txt", "text/plain", b"\xff\xfe\x00\x00")], 400, "attachment_type"),
        ([attachment("bad.json", "application/json", b"{not json")], 400, "attachment_type"),
        (
            [{"name": "x.pdf", "content_type": "application/pdf", "content": "%%% not base64"}],
            400,
            "invalid_attachment",
        ),
        ([attachment("../../etc/passwd", "text/plain", b"root")], 400, "invalid_attachment"),
        ([attachment("empty.txt", "text/plain", b"")], 400, "invalid_attachment"),
        ([attachment(), attachment(), attachment(), attachment()], 400, "too_many_attachments"),
        # A good file and a bad one: nothing of either is kept.
        ([attachment(), attachment("x.html", "text/html", b"<script>")], 400, "attachment_type"),
    ],
)
def test_bad_attachments_refuse_the_whole_answer(api, world, files, status, code):
    asked = api(world.users["insp_us"]).post(f"/api/v1/alerts/{world.alert.pk}/clarifications/", {"question": "?!?"})
    size = log_size()
    response = api(world.users["op_a_admin"]).post(
        f"/api/v1/alerts/{world.alert.pk}/answers/", {"explanation": "see attached", "attachments": files}
    )
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert not Answer.objects.exists() and not AnswerAttachment.objects.exists() and log_size() == size
    assert ClarificationRequest.objects.get(pk=asked.json()["id"]).state == "open"


def test_a_body_over_the_request_limit_is_refused_before_it_is_read(api, world, settings):
    # The limit of answers' endpoints: their most files, each the largest, and a MiB (config.settings).
    big = "A" * (settings.CHIPREG_BODY_LIMITS["/api/v1/alerts/"] + 10)
    response = api(world.users["op_a_admin"]).post(
        f"/api/v1/alerts/{world.alert.pk}/answers/",
        {"explanation": "x", "attachments": [{"name": "a.txt", "content_type": "text/plain", "content": big}]},
    )
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    assert not Answer.objects.exists()


def _run(user, facility):
    from runs import services as runs

    now = timezone.now()
    values = {
        "model_name": "answer-model",
        "kind": "fine_tuning",
        "planned_flop": 1e20,
        "precision": "bf16",
        "facilities": [facility],
        "clusters": [],
        "planned_start": now + timedelta(days=1),
        "planned_end": now + timedelta(days=2),
        "description": "a run an answer points to",
    }
    return runs.declare(user, values, runs.Verdict("below_threshold"))


def test_an_answer_points_to_one_of_the_answering_partys_runs(api, world):
    op = api(world.users["op_a_admin"])
    own = _run(world.users["op_a_admin"], world.facility)
    b_facility = Facility.objects.create(
        code="DE-ANS-1", name="b", operator=world.op_b, country="DE", latitude=52.5, longitude=13.4
    )
    rivals = _run(world.users["op_b"], b_facility)
    url = f"/api/v1/alerts/{world.alert.pk}/answers/"
    assert op.post(url, {"explanation": "x", "run": "two words"}).status_code == 400
    unknown = op.post(url, {"explanation": "x", "run": "run-0000"})
    # B's run answers as a run that does not exist: A learns nothing of B's codes.
    foreign = op.post(url, {"explanation": "x", "run": rivals.code})
    assert unknown.status_code == foreign.status_code == 400
    assert unknown.json()["code"] == foreign.json()["code"] == "unknown_run"
    assert unknown.json()["detail"].replace("run-0000", "?") == foreign.json()["detail"].replace(rivals.code, "?")
    good = op.post(url, {"explanation": "x", "run": own.code})
    assert good.status_code == 201 and good.json()["run"] == own.code
    assert [a["id"] for a in op.get(f"/api/v1/answers/?run={own.code}").json()["results"]] == [good.json()["id"]]
    assert Answer.objects.count() == 1


# --- the clock -----------------------------------------------------------------------------------------


def test_an_overdue_request_escalates_once_per_round(api, world, settings):
    settings.CHIPREG_CLARIFICATION_OVERDUE_SEVERITY = "critical"
    insp, op = world.users["insp_us"], world.users["op_a_admin"]
    row = ClarificationRequest.objects.get(
        pk=api(insp).post(f"/api/v1/alerts/{world.alert.pk}/clarifications/", {"question": "Where?"}).json()["id"]
    )
    assert escalate_overdue(now=row.deadline - timedelta(seconds=1)) == []
    late = row.deadline + timedelta(seconds=1)
    (alert,) = escalate_overdue(now=late)
    assert escalate_overdue(now=late + timedelta(days=1)) == []  # once
    row.refresh_from_db()
    assert (row.state, row.escalation_id, row.escalated_at) == ("overdue", alert.pk, late)
    assert (alert.kind, alert.severity, alert.operator, alert.country) == (
        "clarification",
        "critical",
        world.op_a,
        "US",
    )
    assert (alert.scope, alert.subject_key) == (world.alert.scope, world.alert.subject_key)
    assert alert.evidence.get().sources == [{"source": "clarification", "id": str(row.pk), "log_index": row.log_index}]
    assert event(alert.log_index).event == "alert.raised"
    overdue = LogEventData.objects.get(event="clarification.overdue")
    assert json.loads(overdue.data_jcs)["escalation"] == alert.pk
    world.alert.refresh_from_db()
    assert world.alert.severity == "high"  # the alert asked about keeps its rule's severity
    # The operator, the inspectorate and the treaty body see the escalation; another country's does not.
    for user, status in (("op_a_admin", 200), ("insp_us", 200), ("treaty", 200), ("insp_fr", 404), ("op_b", 404)):
        assert api(world.users[user]).get(f"/api/v1/alerts/{alert.pk}/").status_code == status, user
    due = api(op).get("/api/v1/clarifications/?awaiting=true").json()["results"]
    assert [(r["id"], r["state"], r["overdue"]) for r in due] == [(row.pk, "overdue", True)]
    # A late answer still fulfils it; rejected, it stands again, and a second lapse is a second alert.
    answer = api(op).post(f"/api/v1/alerts/{world.alert.pk}/answers/", {"explanation": "Late, sorry."}).json()
    row.refresh_from_db()
    assert row.state == "answered"
    api(insp).post(f"/api/v1/answers/{answer['id']}/decide/", {"decision": "reject", "reason": "Not enough."})
    row.refresh_from_db()
    (second,) = escalate_overdue(now=row.deadline + timedelta(seconds=1))
    assert second.pk != alert.pk and second.group.endswith(":2")


def test_the_periodic_task_escalates_by_the_real_clock(api, world, settings):
    from compliance import tasks

    assert settings.CELERY_BEAT_SCHEDULE["escalate-overdue-clarifications"]["task"] == tasks.escalate_overdue.name
    row = ClarificationRequest.objects.get(
        pk=api(world.users["treaty"])
        .post(f"/api/v1/findings/{world.finding.pk}/clarifications/", {"question": "Where?"})
        .json()["id"]
    )
    tasks.escalate_overdue.delay()
    row.refresh_from_db()
    assert row.state == "open"  # five days to go
    ClarificationRequest.objects.filter(pk=row.pk).update(deadline=timezone.now() - timedelta(minutes=1))
    tasks.escalate_overdue.delay()
    row.refresh_from_db()
    assert row.state == "overdue" and row.escalation.kind == "clarification"
    # A finding's escalation stands at the finding's facility, for its operator and country.
    assert (row.escalation.facility, row.escalation.operator, row.escalation.country) == (
        world.facility,
        world.op_a,
        "US",
    )


def test_an_escalation_reaches_the_subscribers_like_any_alert(api, world, django_capture_on_commit_callbacks):
    from compliance.models import Delivery, Subscription

    Subscription.objects.create(
        organisation=world.insp_us, name="us", min_severity="high", email="alerts@insp-us.example"
    )
    Subscription.objects.create(organisation=world.insp_fr, name="fr", min_severity="info", email="a@insp-fr.example")
    row = ClarificationRequest.objects.get(
        pk=api(world.users["insp_us"])
        .post(f"/api/v1/alerts/{world.alert.pk}/clarifications/", {"question": "Why?"})
        .json()["id"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        (alert,) = escalate_overdue(now=row.deadline + timedelta(minutes=1))
    (delivery,) = Delivery.objects.filter(alert=alert)
    assert (delivery.subscription.organisation, delivery.event) == (world.insp_us, "alert.raised")
    assert delivery.payload["alert"]["kind"] == "clarification"


def test_a_misconfigured_severity_escalates_nothing(api, world, settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.CHIPREG_CLARIFICATION_OVERDUE_SEVERITY = "apocalyptic"
    row = ClarificationRequest.objects.get(
        pk=api(world.users["treaty"])
        .post(f"/api/v1/alerts/{world.alert.pk}/clarifications/", {"question": "Why?"})
        .json()["id"]
    )
    size = log_size()
    with pytest.raises(ImproperlyConfigured):
        escalate_overdue(now=row.deadline + timedelta(minutes=1))
    row.refresh_from_db()
    assert row.state == "open" and log_size() == size and not Alert.objects.filter(kind="clarification").exists()


def test_ids_in_other_digits_are_404s_not_500s(api, world):
    """str.isdigit() takes '³' (int() refuses it: the schema fuzz found a 500 on answers/{id}/decide/) and
    '١٢' (int() reads 12: a row under another spelling of its id); core.ids.parse_id takes ASCII digits only."""
    from django.test import Client

    treaty = api(world.users["treaty"])
    for raw in ("³", "²1", "١٢"):
        assert treaty.post(f"/api/v1/answers/{raw}/decide/", {"outcome": "accepted"}).status_code == 404
        assert treaty.get(f"/api/v1/alerts/{raw}/").status_code == 404
        assert treaty.get(f"/api/v1/attestations/{raw}/").status_code == 404
    # An evidence id in other digits, or one of another alert, is no evidence of this alert: a 404, as for its
    # bundle (it answered the first evidence's chips, or, for another alert's, an empty list read as "no chips").
    from compliance.models import AlertEvidence

    other = AlertEvidence.objects.exclude(alert=world.alert).values_list("pk", flat=True).first()
    other = other if other is not None else AlertEvidence.objects.order_by("-pk").values_list("pk", flat=True)[0] + 1
    console = Client()
    console.force_login(world.users["treaty"])
    for wanted in ("³", str(other), "99999999999999999999"):
        assert treaty.get(f"/api/v1/alerts/{world.alert.pk}/chips/?evidence={wanted}").status_code == 404, wanted
        assert treaty.get(f"/api/v1/alerts/{world.alert.pk}/bundle/?evidence={wanted}").status_code == 404, wanted
        assert console.get(f"/alerts/{world.alert.pk}/chips/?evidence={wanted}").status_code == 404, wanted
        assert console.get(f"/alerts/{world.alert.pk}/chips/?evidence={wanted}&format=csv").status_code == 404
    first = treaty.get(f"/api/v1/alerts/{world.alert.pk}/chips/")
    assert first.status_code == 200 and first.content
    assert console.get(f"/alerts/{world.alert.pk}/chips/").content == first.content


@pytest.mark.parametrize("subject", ["findings", "alerts"])
def test_an_answer_with_every_attachment_at_its_largest_is_accepted(api, world, settings, subject):
    """The body limit admits what the answer's own limits allow: the most files, each the largest."""
    most, largest = settings.CHIPREG_ANSWER_ATTACHMENTS_MAX, settings.CHIPREG_ANSWER_ATTACHMENT_MAX_BYTES
    files = [attachment(f"n{i}.pdf", data=PDF + b"\x00" * (largest - len(PDF))) for i in range(most)]
    pk = world.finding.pk if subject == "findings" else world.alert.pk
    response = api(world.users["op_a_admin"]).post(
        f"/api/v1/{subject}/{pk}/answers/", {"explanation": "Everything we have.", "attachments": files}
    )
    assert response.status_code == 201, response.content[:300]
    assert [a["size"] for a in response.json()["attachments"]] == [largest] * most


def test_an_overdue_requests_alert_is_sealed_and_its_bundle_verifies(api, world, settings):
    """The escalation's evidence proves the request's log entry with the log key alone (LOG.md 5)."""
    from protocol.evidence import verify_bundle
    from transparency.checkpoints import verifier_key_line

    settings.CHIPREG_CHECKPOINT_INTERVAL_S = 3600  # no checkpoint signed for appends: the seal must sign its own
    insp = world.users["insp_us"]
    row = ClarificationRequest.objects.get(
        pk=api(insp).post(f"/api/v1/alerts/{world.alert.pk}/clarifications/", {"question": "Where?"}).json()["id"]
    )
    (alert,) = escalate_overdue(now=row.deadline + timedelta(seconds=1))
    response = api(world.users["treaty"]).get(f"/api/v1/alerts/{alert.pk}/bundle/")
    assert response.status_code == 200, response.content
    bundle = response.json()
    assert [e["log_index"] for e in bundle["entries"]] == [row.log_index]
    verify_bundle(bundle, verifier_key_line(), chips=b"")
    assert json.loads(event(alert.log_index).data_jcs)["checkpoint_size"] == bundle["tree_size"]


def test_a_registry_administrator_of_no_organisation_asks_and_decides_nothing(api, world):
    """A request and a decision name the organisation that makes them (the requester that decides, the country
    whose escalation it is): a superuser of none is refused (403 `no_organisation`), never a 500."""
    root = UserFactory(organisation=None, role="admin", is_superuser=True, is_staff=True)
    answered = api(world.users["op_a_admin"]).post(
        f"/api/v1/findings/{world.finding.pk}/answers/", {"explanation": "Nobody asked, but here it is."}
    )
    assert answered.status_code == 201
    size = log_size()
    for path, body in (
        (f"/api/v1/findings/{world.finding.pk}/clarifications/", {"question": "Where are they?"}),
        (f"/api/v1/alerts/{world.alert.pk}/clarifications/", {"question": "Where are they?"}),
        (f"/api/v1/answers/{answered.json()['id']}/decide/", {"decision": "reject", "reason": "Say more."}),
        (f"/api/v1/answers/{answered.json()['id']}/decide/", {"decision": "accept", "reason": "Fine."}),
    ):
        response = api(root).post(path, body)
        assert response.status_code == 403, (path, response.content[:300])
        assert response.json()["code"] == "no_organisation"
    assert log_size() == size
    assert not ClarificationRequest.objects.exists() and not AnswerDecision.objects.exists()
