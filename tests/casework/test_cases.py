"""Cases (issue 19): opened and worked by the treaty body, linking what they concern, read by the
inspectorates it adds and nobody else, with a timeline whose every step is a log event only those read."""

import json

import pytest

from casework.models import Case, CaseLink, CaseStep
from compliance.models import Alert
from inventory.models import ChiplessFinding
from transparency.models import LogEventData, LogLeaf


@pytest.fixture
def cw(parties, api):
    parties.treaty_api = api(parties.users["treaty"])
    r = parties.treaty_api.post("/api/v1/cases/", {"title": "Ashburn: undeclared racks"})
    assert r.status_code == 201, r.content
    parties.case = r.json()["code"]
    r = parties.treaty_api.post("/api/v1/cases/", {"title": "Frankfurt: seals"})
    parties.case_b = r.json()["code"]
    return parties


def url(code, rest=""):
    return f"/api/v1/cases/{code}/{rest}"


@pytest.mark.django_db
def test_a_case_moves_through_its_states_with_a_timeline(cw, api):
    t = cw.treaty_api
    assert cw.case.startswith("CASE-") and cw.case != cw.case_b
    r = t.post(url(cw.case, "state/"), {"state": "under_inspection"})
    assert r.status_code == 200 and r.json()["state"] == "under_inspection"
    r = t.post(url(cw.case, "state/"), {"state": "closed"})
    assert r.status_code == 400 and r.json()["code"] == "conclusion_required"
    r = t.post(url(cw.case, "state/"), {"state": "closed", "conclusion": "Racks declared late; no diversion."})
    assert r.status_code == 200 and r.json()["state"] == "closed" and r.json()["closed_at"]
    # Closed is final: no move, no link, no reader added.
    assert t.post(url(cw.case, "state/"), {"state": "open"}).json()["code"] == "case_closed"
    r = t.post(url(cw.case, "inspectorates/"), {"organisation": "insp-us"})
    assert r.status_code == 409 and r.json()["code"] == "case_closed"
    steps = t.get(url(cw.case)).json()["steps"]
    assert [s["event"] for s in steps] == ["case.opened", "case.state_changed", "case.closed"]
    assert [s["position"] for s in steps] == [1, 2, 3]
    assert steps[2]["data"]["conclusion"].startswith("Racks declared late")
    # Each step is its log event; the leaf's object id is the case's opaque ref, never its code or title.
    for step in steps:
        data = LogEventData.objects.get(index=step["log_index"])
        assert data.event == step["event"] and json.loads(data.data_jcs)["step"] == step["position"]
        assert cw.case not in data.object_id
    leaves = b"".join(bytes(leaf.leaf) for leaf in LogLeaf.objects.all())
    assert cw.case.encode() not in leaves and b"Ashburn" not in leaves and b"Racks declared" not in leaves


@pytest.mark.django_db
def test_links_are_checked_by_kind(cw):
    t = cw.treaty_api
    finding = ChiplessFinding.objects.create(
        kind="unknown_chip",
        detail="case test",
        source="monitor",
        source_id="case-test",
        chip_ref="nvidia:X1",
        organisation=cw.op_a,
    )
    r = t.post(url(cw.case, "links/"), {"kind": "finding", "target": str(finding.pk)})
    assert r.status_code == 201, r.content
    assert r.json()["links"][0] == {**r.json()["links"][0], "kind": "finding", "target": str(finding.pk)}
    assert t.post(url(cw.case, "links/"), {"kind": "finding", "target": str(finding.pk)}).status_code == 409
    for body, code in (
        ({"kind": "alert", "target": "999999999"}, "unknown_target"),
        ({"kind": "finding", "target": "abc"}, "unknown_target"),
        ({"kind": "tip", "target": "x"}, "triage_tips"),
        ({"kind": "challenge_inspection", "target": "999999999"}, "unknown_target"),
        ({"kind": "bogus", "target": "1"}, "unknown_kind"),
        ({"kind": "case", "target": cw.case}, "unknown_kind"),
    ):
        r = t.post(url(cw.case, "links/"), body)
        assert r.status_code == 400 and r.json()["code"] == code, (body, r.content)
    assert CaseLink.objects.filter(case__code=cw.case).count() == 1


@pytest.mark.django_db
def test_an_added_inspectorate_reads_its_case_and_no_other(cw, api):
    t = cw.treaty_api
    us, fr = api(cw.users["insp_us"]), api(cw.users["insp_fr"])
    assert us.get(url(cw.case)).status_code == 404
    r = t.post(url(cw.case, "inspectorates/"), {"organisation": "insp-us"})
    assert r.status_code == 201 and r.json()["inspectorates"] == ["insp-us"]
    assert us.get(url(cw.case)).status_code == 200
    listed = json.dumps(us.get("/api/v1/cases/").json())
    assert cw.case in listed and cw.case_b not in listed
    # Not case B, not for another inspectorate, and only to read.
    assert us.get(url(cw.case_b)).status_code == 404
    assert fr.get(url(cw.case)).status_code == 404
    steps = CaseStep.objects.count()
    r = us.post(url(cw.case, "state/"), {"state": "under_inspection"})
    assert r.status_code == 403 and r.json()["code"] == "treaty_body_only"
    assert us.post(url(cw.case, "inspectorates/"), {"organisation": "insp-fr"}).status_code == 403
    assert us.post(url(cw.case_b, "state/"), {"state": "under_inspection"}).status_code == 404
    assert CaseStep.objects.count() == steps
    # The step that added it, and those after, are log events it reads; the steps before are not.
    t.post(url(cw.case, "state/"), {"state": "under_inspection"})
    case = Case.objects.get(code=cw.case)
    for step in case.steps.all():
        data = LogEventData.objects.get(index=step.log_index)
        assert data.visible_to(cw.users["insp_us"]) == (step.position >= 2), step.event
        assert not data.visible_to(cw.users["insp_fr"]) and not data.visible_to(cw.users["op_a_admin"])
    entry = us.get(f"/api/v1/log/entries/{case.steps.get(position=3).log_index}").json()
    assert entry["data"]["to"] == "under_inspection"
    # Removed: it reads the case no more.
    r = t.delete(url(cw.case, "inspectorates/insp-us/"))
    assert r.status_code == 200 and r.json()["inspectorates"] == []
    assert us.get(url(cw.case)).status_code == 404
    assert t.delete(url(cw.case, "inspectorates/insp-us/")).status_code == 404
    assert t.post(url(cw.case, "inspectorates/"), {"organisation": "op-a"}).json()["code"] == "not_inspectorate"


@pytest.mark.django_db
def test_operators_and_others_never_see_a_case(cw, api):
    alert = Alert.objects.first()
    for who in ("op_a_admin", "op_a_member", "op_b", "nvidia", "insp_us", "insp_fr"):
        client = api(cw.users[who])
        assert client.get(url(cw.case)).status_code == 404, who
        assert cw.case not in json.dumps(client.get("/api/v1/cases/").json()), who
        steps = CaseStep.objects.count()
        r = client.post(url(cw.case, "state/"), {"state": "closed", "conclusion": "x"})
        assert r.status_code == 404, who
        assert client.post("/api/v1/cases/", {"title": "mine"}).status_code == 403, who
        assert client.delete(url(cw.case, "inspectorates/insp-us/")).status_code == 404, who
        assert CaseStep.objects.count() == steps
    del alert


@pytest.mark.django_db
def test_lists_cost_the_same_whatever_their_length(cw, api):
    """No query per row: the lists of cases and tips prefetch what each row shows."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from casework import cases, tips

    def count(path):
        with CaptureQueriesContext(connection) as queries:
            assert cw.treaty_api.get(path).status_code == 200
        return len(queries)

    user = cw.users["treaty"]
    tips.submit(None, {"text": "first", "serials": [], "attachments": []})
    few = count("/api/v1/cases/"), count("/api/v1/tips/")
    for i in range(6):
        case = cases.open_case(user, f"more {i}")
        cases.add_inspectorate(user, case, "insp-us")
        _, receipt = tips.submit(None, {"text": f"tip {i}", "serials": [], "attachments": []})
        tips.add(None, receipt, {"text": "more", "serials": [], "attachments": []})
    assert (count("/api/v1/cases/"), count("/api/v1/tips/")) == few


def test_tips_keypair_writes_a_private_key_that_opens_what_the_public_one_seals(tmp_path, settings):
    import io

    from django.core.management import call_command

    from casework import sealing

    path = tmp_path / "tips.key"
    out = io.StringIO()
    call_command("tips_keypair", str(path), stdout=out, stderr=io.StringIO())
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    settings.CHIPREG_TIPS_PUBLIC_KEY = out.getvalue().strip().split("=", 1)[1]
    settings.CHIPREG_TIPS_PRIVATE_KEY_FILE = str(path)
    assert sealing.open_sealed(sealing.seal({"text": "hello"})) == {"text": "hello"}


def test_a_closed_case_keeps_its_readers(cw, api):
    """Closed is final for who reads it too: an inspectorate on the case when it closed keeps its conclusion."""
    t, us = cw.treaty_api, api(cw.users["insp_us"])
    assert t.post(url(cw.case, "inspectorates/"), {"organisation": "insp-us"}).status_code in (200, 201)
    r = t.post(url(cw.case, "state/"), {"state": "closed", "conclusion": "No diversion found."})
    assert r.status_code == 200
    steps = CaseStep.objects.count()
    r = t.delete(url(cw.case, "inspectorates/insp-us/"))
    assert (r.status_code, r.json()["code"]) == (409, "case_closed")
    assert CaseStep.objects.count() == steps
    assert us.get(url(cw.case)).json()["conclusion"] == "No diversion found."
