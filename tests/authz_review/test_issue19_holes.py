"""Issue 19 (challenge inspections, exports, tips and cases), reviewed as a hostile party after the merge: each
test performs an attack or sends garbage the merged code mishandled, with the party's own real token."""

import pytest

from casework.models import CaseLink
from inventory.models import ChiplessFinding

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@pytest.fixture
def case(parties, api):
    parties.treaty_api = api(parties.users["treaty"])
    response = parties.treaty_api.post("/api/v1/cases/", {"title": "Ashburn: undeclared racks"})
    assert response.status_code == 201, response.content
    parties.case = response.json()["code"]
    return parties


def test_a_link_target_in_other_digits_is_an_unknown_target_not_a_500_nor_a_second_link(case):
    """str.isdigit() takes '²' (int() refuses it: a 500) and '١٢' (int() reads 12: the same finding linked
    again under another spelling, past the one-link-per-target rule)."""
    finding = ChiplessFinding.objects.create(
        kind="unknown_chip", detail="t", source="monitor", source_id="t", chip_ref="nvidia:X1", organisation=case.op_a
    )
    url = f"/api/v1/cases/{case.case}/links/"
    assert case.treaty_api.post(url, {"kind": "finding", "target": str(finding.pk)}).status_code == 201
    for kind in ("finding", "alert", "answer", "clarification", "challenge_inspection"):
        for target in ("²", "³1", str(finding.pk).translate(ARABIC_INDIC)):
            response = case.treaty_api.post(url, {"kind": kind, "target": target})
            assert response.status_code == 400, (kind, target, response.content)
            assert response.json()["code"] == "unknown_target"
    assert CaseLink.objects.filter(case__code=case.case).count() == 1


def _console(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def test_a_nul_byte_in_a_console_casework_form_is_a_400_that_writes_nothing(case):
    """The console's case and triage forms read request.POST as it came: a NUL byte (which PostgreSQL text
    refuses) reached the database and answered 500. The API's serializers refuse it; the console must too."""
    from casework import tips
    from casework.models import Case, CaseInspectorate, CaseStep, Tip

    console = _console(case.users["treaty"])
    tip, _ = tips.submit(None, {"text": "rack 7", "serials": [], "attachments": []})
    steps = CaseStep.objects.count()
    for path, data in (
        ("/cases/new/", {"title": "a\x00b"}),
        (f"/cases/{case.case}/state/", {"state": "closed", "conclusion": "done\x00"}),
        (f"/cases/{case.case}/add-inspectorate/", {"organisation": "insp-fr\x00"}),
        (f"/cases/{case.case}/remove-inspectorate/", {"organisation": "\x00"}),
        (f"/cases/{case.case}/link/", {"kind": "finding\x00", "target": "1"}),
        (f"/tips/{tip.ref}/triage/", {"action": "new_case", "title": "t\x00"}),
        (f"/tips/{tip.ref}/triage/", {"action": "dismiss", "reason": "r\x00"}),
        (f"/tips/{tip.ref}/triage/", {"action": "add_to_case", "case": f"{case.case}\x00"}),
    ):
        response = console.post(path, data)
        assert response.status_code == 400, (path, response.status_code)
    assert Case.objects.count() == 1 and Case.objects.get().state == "open"
    assert CaseStep.objects.count() == steps and not CaseInspectorate.objects.exists()
    assert Tip.objects.get(pk=tip.pk).state == "new"


def test_the_host_inspectorate_does_not_clear_the_alerts_of_its_own_default(parties, api):
    """At a site that is no registered facility the host inspectorate is the party concerned: the alerts that
    escalate its silence past a deadline, or its refusal, report on it to the treaty body. It sees them (its
    jurisdiction), and as an alert handler it could resolve or dismiss them itself, closing its own escalation."""
    from datetime import timedelta

    from compliance.challenge_alerts import escalate_challenges, sync
    from compliance.models import Alert
    from inventory.models import ChallengeInspection

    treaty, insp_fr = api(parties.users["treaty"]), api(parties.users["insp_fr"])
    lyon = {"latitude": 45.76, "longitude": 4.84, "reason": "a tip says so"}
    silent = treaty.post("/api/v1/challenge-inspections/", lyon).json()["id"]
    row = ChallengeInspection.objects.get(pk=silent)
    escalate_challenges(now=row.acknowledge_by + timedelta(minutes=1))
    refused = treaty.post("/api/v1/challenge-inspections/", lyon).json()["id"]
    url = f"/api/v1/challenge-inspections/{refused}/access/"
    assert insp_fr.post(url, {"decision": "refused", "reason": "no"}).status_code == 200
    sync(refused)
    overdue = Alert.objects.get(group=f"challenge:{silent}:acknowledge")
    refusal = Alert.objects.get(group=f"challenge:{refused}:refused")
    for alert in (overdue, refusal):
        assert insp_fr.get(f"/api/v1/alerts/{alert.pk}/").status_code == 200  # it is told
        for action in ("resolve", "dismiss"):
            response = insp_fr.post(f"/api/v1/alerts/{alert.pk}/{action}/", {"reason": "nothing to see"})
            assert response.status_code == 403, response.content
            assert response.json()["code"] == "party_concerned"
        alert.refresh_from_db()
        assert alert.state == "open"
        # It may still mark it seen; the treaty body (to which it escalates) closes it.
        assert insp_fr.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {"reason": "seen"}).status_code == 200
        assert treaty.post(f"/api/v1/alerts/{alert.pk}/resolve/", {"reason": "answered"}).status_code == 200
