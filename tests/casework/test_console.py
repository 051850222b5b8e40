"""The console's tip inbox and cases (issue 19): the treaty body reads a tip, triages it into a case, lets an
inspectorate read the case and closes it; the pages say when a tip cannot be read here."""

import pytest
from django.test import Client

from casework import tips
from casework.models import Case, Tip

SECRET = "Console: 512 chips behind the loading dock"


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def tip(db):
    row, _ = tips.submit(None, {"text": SECRET, "serials": ["nvidia:DOCK1"], "attachments": []})
    return row


@pytest.mark.django_db
def test_treaty_body_walks_a_tip_into_a_closed_case(parties, tip):
    treaty = signed_in(parties.users["treaty"])
    inbox = treaty.get("/tips/")
    assert inbox.status_code == 200 and str(tip.ref)[:8].encode() in inbox.content
    assert SECRET.encode() not in inbox.content  # the inbox lists time, size and state only
    page = treaty.get(f"/tips/{tip.ref}/")
    assert page.status_code == 200 and SECRET.encode() in page.content and b"nvidia:DOCK1" in page.content
    r = treaty.post(f"/tips/{tip.ref}/triage/", {"action": "new_case", "title": "Loading dock"})
    assert r.status_code == 302
    case = Case.objects.get(title="Loading dock")
    assert r["Location"] == f"/cases/{case.code}/" and Tip.objects.get(pk=tip.pk).state == "in_case"
    r = treaty.post(f"/cases/{case.code}/add-inspectorate/", {"organisation": "insp-us"})
    assert r.status_code == 302
    us = signed_in(parties.users["insp_us"])
    page = us.get(f"/cases/{case.code}/")
    assert page.status_code == 200 and b"case.inspectorate_added" in page.content
    assert SECRET.encode() not in page.content and b"add-inspectorate" not in page.content  # no forms for it
    assert us.post(f"/cases/{case.code}/state/", {"state": "under_inspection"}).status_code == 403
    assert us.get(f"/tips/{tip.ref}/").status_code == 404 and us.get("/tips/").status_code == 403
    assert treaty.post(f"/cases/{case.code}/state/", {"state": "under_inspection"}).status_code == 302
    r = treaty.post(f"/cases/{case.code}/state/", {"state": "closed"})
    assert r.status_code == 400 and b"conclusion" in r.content
    r = treaty.post(f"/cases/{case.code}/state/", {"state": "closed", "conclusion": "Chips declared."})
    assert r.status_code == 302
    page = treaty.get(f"/cases/{case.code}/").content
    for text in (b"case.opened", b"case.linked", b"case.state_changed", b"case.closed", b"Chips declared."):
        assert text in page, text
    assert Case.objects.get(pk=case.pk).state == "closed"
    # Other parties: no case, no tip.
    for who in ("op_a_admin", "insp_fr"):
        client = signed_in(parties.users[who])
        assert client.get(f"/cases/{case.code}/").status_code == 404
        assert case.code.encode() not in client.get("/cases/").content


@pytest.mark.django_db
def test_without_the_private_key_the_tip_page_says_it_cannot_be_read(parties, tip, settings):
    settings.CHIPREG_TIPS_PRIVATE_KEY_FILE = ""
    treaty = signed_in(parties.users["treaty"])
    assert b"does not hold the treaty body" in treaty.get("/tips/").content
    page = treaty.get(f"/tips/{tip.ref}/")
    assert page.status_code == 200 and b"cannot be read here" in page.content and SECRET.encode() not in page.content
    # Triage still works without reading.
    r = treaty.post(f"/tips/{tip.ref}/triage/", {"action": "dismiss", "reason": "Duplicate of an earlier one."})
    assert r.status_code == 302 and Tip.objects.get(pk=tip.pk).state == "dismissed"
