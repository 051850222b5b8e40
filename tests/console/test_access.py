"""Every page against every role: the console's access rules are the API's."""

import pytest
from django.utils.html import escape

from tests.console.helpers import alert_for, text

VA, TX, DE = "US-VA-001", "US-TX-001", "DE-FRA-001"
H100_0 = "nvidia:1653824019000"
MI300X_0 = "amd:MI300X-DE-000"

PAGES = [
    "/",
    "/map/",
    "/map/?view=fit",
    "/facilities/",
    "/alerts/",
    "/alerts/?state=open&severity=high&kind=threshold",
    "/inspections/",
    "/submissions/",
    "/keys/",
    "/search/",
]

# Which facilities each role may open (everything else is 404).
FACILITIES_SEEN = {
    "treaty": {VA, TX, DE},
    "admin": {VA, TX, DE},
    "inspector": {VA, TX},
    "inspector-de": {DE},
    "operator": {VA, TX},
    "other-operator": {DE},
}


def test_every_page_needs_a_login(client, demo):
    for url in [
        *PAGES,
        f"/facilities/{VA}/",
        f"/chips/{H100_0}/",
        "/inspections/new/",
        f"/facilities/{VA}/reconciliation/",
    ]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next="), url


def test_login_and_logout(client, demo):
    page = client.get("/login/")
    assert page.status_code == 200 and b"csrfmiddlewaretoken" in page.content
    response = client.post("/login/", {"username": "inspector", "password": "chipreg-demo"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.get("/logout/").status_code == 405  # logging out is a POST, with its CSRF token
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused(client, demo):
    response = client.post("/login/", {"username": "inspector", "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct" in response.content


@pytest.mark.parametrize("username", sorted(FACILITIES_SEEN))
def test_pages_open_for_every_role(login, username):
    c = login(username)
    for url in PAGES:
        response = c.get(url)
        assert response.status_code == 200, (username, url, response.status_code)


@pytest.mark.parametrize("username", sorted(FACILITIES_SEEN))
@pytest.mark.parametrize("code", [VA, TX, DE])
def test_facility_pages_follow_restrict(login, username, code):
    c = login(username)
    expected = 200 if code in FACILITIES_SEEN[username] else 404
    for url in (
        f"/facilities/{code}/",
        f"/facilities/{code}/reconciliation/",
        f"/facilities/{code}/reconciliation/?fragment=1",
        f"/facilities/{code}/?format=csv&table=inventory",
    ):
        response = c.get(url)
        assert response.status_code == expected, (username, url)
        if expected == 404:
            # A hidden facility looks exactly like a missing one.
            assert escape(f"No facility {code!r} in your view.") in text(response)


def test_operator_sees_only_its_own(login):
    c = login("operator")
    for url in ("/", "/facilities/", "/map/", "/alerts/", "/submissions/"):
        page = text(c.get(url))
        assert DE not in page and "op-other" not in page, url
    assert VA in text(c.get("/facilities/"))
    assert c.get(f"/chips/{MI300X_0}/").status_code == 404
    other = login("other-operator")
    page = text(other.get("/facilities/"))
    assert DE in page and VA not in page and TX not in page
    assert other.get(f"/chips/{H100_0}/").status_code == 404


def test_inspector_sees_only_its_jurisdiction(login):
    c = login("inspector")
    assert DE not in text(c.get("/map/"))
    assert c.get(f"/chips/{MI300X_0}/").status_code == 404
    assert c.get(f"/chips/{H100_0}/").status_code == 200
    de = login("inspector-de")
    assert c.get(f"/alerts/{alert_for('Covered chip cluster').pk}/").status_code == 200
    assert de.get(f"/alerts/{alert_for('Covered chip cluster').pk}/").status_code == 404
    # Nor its evidence bundle: another country's inspectorate gets the same 404 page.
    assert c.get(f"/alerts/{alert_for('Covered chip cluster').pk}/bundle/").status_code == 200
    assert de.get(f"/alerts/{alert_for('Covered chip cluster').pk}/bundle/").status_code == 404
    assert de.get(f"/chips/{MI300X_0}/").status_code == 200
    assert VA not in text(de.get("/alerts/"))


def test_treaty_body_sees_everything(login):
    page = text(login("treaty").get("/map/"))
    assert all(code in page for code in (VA, TX, DE))


def test_hidden_alert_inspection_and_chip_list_are_404(login):
    from inventory.models import Inspection

    inspection = Inspection.objects.get(facility__code=VA)
    alert = alert_for("Covered chip cluster")
    c = login("other-operator")
    for url in (
        f"/alerts/{alert.pk}/",
        f"/alerts/{alert.pk}/chips/",
        f"/alerts/{alert.pk}/bundle/",
        f"/inspections/{inspection.pk}/",
        f"/inspections/{inspection.pk}/csv/",
    ):
        assert c.get(url).status_code == 404, url


def test_read_only_user_sees_no_write_buttons_and_cannot_post(login, readonly_operator, demo):
    from attestations.models import SigningKey

    c = login(readonly_operator)
    assert c.get("/facilities/US-VA-001/").status_code == 200
    keys = text(c.get("/keys/"))
    assert "Register key" not in keys and ">Retire<" not in keys and ">Revoke<" not in keys
    key = SigningKey.objects.filter(organisation=demo.users["operator"].organisation).first()
    alert = alert_for("Covered chip cluster")
    for url, data in (
        ("/keys/", {"pem": "x"}),
        (f"/keys/{key.keyid}/retire/", {}),
        (f"/keys/{key.keyid}/revoke/", {"since": "2026-01-01T00:00", "reason": "x"}),
        (f"/alerts/{alert.pk}/acknowledge/", {"reason": "x"}),
        ("/inspections/new/", {}),
    ):
        response = c.post(url, data)
        assert response.status_code == 403, url
    key.refresh_from_db()
    assert key.retired_at is None and key.revoked_since is None


def test_read_only_inspector_cannot_handle_alerts(login, demo):
    from registry.models import User

    viewer = User.objects.create(
        username="insp-viewer", organisation=demo.users["inspector"].organisation, role="read-only"
    )
    alert = alert_for("Covered chip cluster")
    c = login(viewer)
    page = text(c.get(f"/alerts/{alert.pk}/"))
    assert "Acknowledge" not in page and "Handle this alert" not in page
    assert c.post(f"/alerts/{alert.pk}/acknowledge/", {"reason": "looked"}).status_code == 403
    assert "Record an inspection" not in text(c.get("/inspections/"))


def test_security_headers_and_no_inline_script(login):
    c = login("treaty")
    for url in ("/", "/map/", "/facilities/US-VA-001/", f"/chips/{H100_0}/", "/alerts/", "/keys/", "/login/"):
        response = c.get(url)
        assert response["X-Frame-Options"] == "DENY", url
        assert "script-src 'self'" in response["Content-Security-Policy"], url
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"], url
        page = text(response).lower()
        for handler in (" onclick=", " onload=", " onsubmit=", " onchange=", "javascript:", " style="):
            assert handler not in page, (url, handler)
        assert page.count("<script") == page.count("<script src="), url
