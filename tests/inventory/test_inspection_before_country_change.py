"""Hostile review (session 14): an inspectorate records an inspection of a facility for a time when that facility lay
outside its jurisdictions. `record_inspection` (inventory/services/listings.py) checks the facility's country
as it is NOW, while the inspection's `performed_at` may be any past instant; the book inventory it is
reconciled against (`facility_at(facility, performed_at)`) is the facility's as it stood then, in the other
country, and the findings it raises are filed under the facility's present country."""

from django.utils import timezone

from inventory.models import AnyFinding, Facility, Inspection
from outbox.relay import drain_all
from registry.registration import register_chips
from tests.factories import chip_rows
from tests.inventory.test_inventory import days_ago, declare, iso, site  # noqa: F401  (fixture)


def test_an_inspection_dated_before_a_facility_changed_country_is_not_the_new_countrys_to_record(api, site):  # noqa: F811
    op_b = site.users["op_b"]
    register_chips(chip_rows("FRA", 3), op_b)
    chips = [f"nvidia:FRA{i:06d}" for i in range(3)]
    assert declare(site.b, "DE-FRA-001", days_ago(20), chips).status_code == 201
    drain_all()

    # Ten days ago the facility stood in Frankfurt, Germany. Today op-b declares it moved to Paris, France.
    moved = site.b.patch("/api/v1/facilities/DE-FRA-001/", {"country": "FR", "latitude": 48.8566, "longitude": 2.3522})
    assert moved.status_code == 200, moved.content
    assert Facility.objects.get(code="DE-FRA-001").country == "FR"

    # France's inspectorate records an "inspection" of the facility performed ten days ago, in Germany,
    # that saw none of its chips.
    response = api(site.users["insp_fr"]).post(
        "/api/v1/inspections/",
        {"facility": "DE-FRA-001", "performed_at": iso(days_ago(10)), "inspectors": ["X"], "observed": []},
    )
    findings = list(AnyFinding.objects.filter(source="inspection").values_list("kind", "country"))
    assert response.status_code == 403, (
        f"insp-fr recorded an inspection of a German site ({response.status_code}); findings: {findings}"
    )
    assert response.json()["code"] == "outside_jurisdiction"
    assert not Inspection.objects.exists()


def test_an_inspection_after_the_change_is_the_new_countrys(api, site):  # noqa: F811
    """The control: inspected after the move, the facility is France's to inspect."""
    moved = site.b.patch("/api/v1/facilities/DE-FRA-001/", {"country": "FR", "latitude": 48.8566, "longitude": 2.3522})
    assert moved.status_code == 200, moved.content
    response = api(site.users["insp_fr"]).post(
        "/api/v1/inspections/",
        {"facility": "DE-FRA-001", "performed_at": iso(timezone.now()), "inspectors": ["X"], "observed": []},
    )
    assert response.status_code == 201, response.content
