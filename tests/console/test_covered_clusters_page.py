"""The facility page shows the facility's declaration review and the covered clusters it is in, to those who
may see them (demo world: op-demo's Ashburn US-VA-001 and Abilene US-TX-001, op-other's Frankfurt)."""

from rest_framework.test import APIClient

from outbox.relay import drain_all


def _as(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_link_shows_its_covered_cluster_on_both_facility_pages(login, demo):
    response = _as(demo.users["operator"]).post(
        "/api/v1/links/",
        {"code": "va-tx", "a": {"facility": "US-VA-001"}, "b": {"facility": "US-TX-001"}, "bandwidth_gbps": 400},
        format="json",
    )
    assert response.status_code == 201, response.content
    drain_all()
    for user in ("operator", "inspector", "treaty"):
        for code in ("US-VA-001", "US-TX-001"):
            page = login(user).get(f"/facilities/{code}/").content.decode()
            assert "Covered clusters this facility is in" in page
            assert "US-TX-001 + US-VA-001" in page, (user, code)
            assert "Covered chip cluster" in page  # the preset measuring it
    # Frankfurt's page names nothing of op-demo's sites.
    page = login("other-operator").get("/facilities/DE-FRA-001/").content.decode()
    assert "US-VA-001" not in page and "US-TX-001" not in page


def test_the_facility_page_shows_the_treaty_bodys_decision(login, demo):
    response = _as(demo.users["treaty"]).post(
        "/api/v1/facilities/US-TX-001/refuse/", {"reason": "no inspector access"}, format="json"
    )
    assert response.status_code == 200, response.content
    page = login("operator").get("/facilities/US-TX-001/").content.decode()
    assert "Refused" in page and "no inspector access" in page
    assert "Declared, not yet reviewed" in login("operator").get("/facilities/US-VA-001/").content.decode()
