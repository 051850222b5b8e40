"""The README's rules on which answer comes first, held as a client written from it reads them: a NUL in a JSON
body is refused once the row it names is found in one's view (outside it, the 404 of a row that does not exist);
an action only one kind of party takes is refused to every other before any row is looked up."""

from tests.inventory.test_inventory import site  # noqa: F401 - a fixture, by this name


def test_a_nul_in_a_body_about_a_row_outside_ones_view_is_the_404_of_no_row(site):  # noqa: F811
    rival = site.b.patch("/api/v1/facilities/US-VA-001/", {"name": "a\x00b"})
    nothing = site.b.patch("/api/v1/facilities/NO-SUCH-1/", {"name": "a\x00b"})
    assert (rival.status_code, nothing.status_code) == (404, 404)
    assert rival.json() == nothing.json()
    own = site.a.patch("/api/v1/facilities/US-VA-001/", {"name": "a\x00b"})
    assert own.status_code == 400 and own.json()["code"] == "invalid", own.content


def test_a_treaty_bodys_decision_is_refused_to_others_before_any_facility_is_looked_up(site):  # noqa: F811
    answers = [
        site.b.post(f"/api/v1/facilities/{code}/accept/", {}) for code in ("US-VA-001", "DE-FRA-001", "NO-SUCH-1")
    ]
    assert {(r.status_code, r.json()["code"]) for r in answers} == {(403, "treaty_body_only")}
    assert len({r.json()["detail"] for r in answers}) == 1
