"""A declaration dated back under a later inspection rewrites what the inspection reconciled (hostile review of
facility inventories).

A declaration places its chips from its `as_of`, closing their open placements then, however long ago. An
inspectorate inspected op-a's US-VA-001 two days ago and did not find one chip the books placed there: an
`unaccounted` finding, and the facility's reconciliation at the inspection says so. Today op-a declares its other
facility, US-TX-001, "as of" five days ago, listing that chip: the books now had it in Texas since before the
inspection, and US-VA-001's reconciliation at the inspection no longer shows it missing. The inspectors' count was
explained away after the fact, by the operator's word alone, with no finding. The same declaration turns an
inspector's `unexpected` chip (seen where the books did not have it) into one the books always had there.

A listing (an inspection, a declaration, a complete statement) reconciled the books of a facility at its date: a
declaration cannot move chips into or out of it from before that date (409 `declared_before_listing`, with the
`latest` such listing; nothing recorded). Dated after it, the declaration moves them as before.
"""

from datetime import timedelta

from django.utils import timezone

from inventory.models import Declaration, Placement
from registry.registration import register_chips
from tests.factories import chip_rows
from tests.inventory.test_inventory import days_ago, declare, iso, site  # noqa: F401
from transparency.models import LogLeaf

IDS = [f"nvidia:INSP{i:06d}" for i in range(4)]


def _inspect(api, site, facility, when, observed):  # noqa: F811
    response = api(site.users["insp_us"]).post(
        "/api/v1/inspections/", {"facility": facility, "performed_at": iso(when), "observed": observed}
    )
    assert response.status_code == 201, response.content
    return response


def _missing_at(client, facility, when):
    body = client.get(f"/api/v1/facilities/{facility}/reconciliation/", {"at": iso(when)}).json()
    return sorted(d["chip"] for d in body["discrepancies"] if d["source"] == "inspection")


def test_a_declaration_dated_back_under_an_inspection_cannot_explain_its_count_away(api, site):  # noqa: F811
    register_chips(chip_rows("INSP", 4), site.users["op_a_admin"])
    assert declare(site.a, "US-VA-001", days_ago(10), IDS).status_code == 201
    inspected = _inspect(api, site, "US-VA-001", days_ago(2), IDS[:3])
    assert inspected.json()["findings"] == {"unaccounted": 1}
    inspector = api(site.users["insp_us"])
    assert _missing_at(inspector, "US-VA-001", days_ago(2)) == [IDS[3]]

    leaves, declarations = LogLeaf.objects.count(), Declaration.objects.count()
    refused = declare(site.a, "US-TX-001", days_ago(5), [IDS[3]])
    assert (refused.status_code, refused.json().get("code")) == (409, "declared_before_listing"), refused.content
    latest = timezone.datetime.fromisoformat(refused.json()["latest"].replace("Z", "+00:00"))
    assert abs(latest - days_ago(2)) < timedelta(seconds=1)
    assert LogLeaf.objects.count() == leaves and Declaration.objects.count() == declarations
    assert Placement.objects.get(chip__serial="INSP000003", valid_to=None).facility.code == "US-VA-001"
    # The inspection's count stands.
    assert _missing_at(inspector, "US-VA-001", days_ago(2)) == [IDS[3]]

    # Dated after the inspection, the move is the operator's word about now: recorded.
    moved = declare(site.a, "US-TX-001", days_ago(1), [IDS[3]])
    assert moved.status_code == 201, moved.content
    assert Placement.objects.get(chip__serial="INSP000003", valid_to=None).facility.code == "US-TX-001"
    assert _missing_at(inspector, "US-VA-001", days_ago(2)) == [IDS[3]]


def test_a_declaration_dated_back_cannot_place_a_chip_an_inspector_saw_elsewhere(api, site):  # noqa: F811
    """The other side: the inspector saw a chip at US-TX-001 that the books had at US-VA-001 (`unexpected`)."""
    register_chips(chip_rows("INSP", 4), site.users["op_a_admin"])
    assert declare(site.a, "US-VA-001", days_ago(10), IDS).status_code == 201
    assert _inspect(api, site, "US-TX-001", days_ago(2), [IDS[0]]).json()["findings"] == {"unexpected": 1}
    refused = declare(site.a, "US-TX-001", days_ago(5), [IDS[0]])
    assert (refused.status_code, refused.json().get("code")) == (409, "declared_before_listing"), refused.content
    assert _missing_at(api(site.users["insp_us"]), "US-TX-001", days_ago(2)) == [IDS[0]]


def test_a_declaration_dated_back_under_the_operators_own_later_declaration_is_refused(api, site):  # noqa: F811
    """op-a's own complete listing of US-VA-001 yesterday had the chip there; a declaration of US-TX-001 dated
    before it cannot take it out from under it."""
    register_chips(chip_rows("INSP", 4), site.users["op_a_admin"])
    assert declare(site.a, "US-VA-001", days_ago(10), IDS).status_code == 201
    assert declare(site.a, "US-VA-001", days_ago(1), IDS).status_code == 201
    refused = declare(site.a, "US-TX-001", days_ago(5), [IDS[3]])
    assert (refused.status_code, refused.json().get("code")) == (409, "declared_before_listing"), refused.content


def test_a_declaration_dated_back_that_moves_nothing_under_a_listing_is_recorded(api, site):  # noqa: F811
    """The control: dated before an inspection, a declaration that changes nothing the inspection reconciled (the
    chips where the books had them, or at a facility nobody listed since) is recorded as before."""
    register_chips(chip_rows("INSP", 4), site.users["op_a_admin"])
    assert declare(site.a, "US-VA-001", days_ago(10), IDS).status_code == 201
    _inspect(api, site, "US-VA-001", days_ago(2), IDS)
    assert declare(site.a, "US-VA-001", days_ago(5), IDS).status_code == 201
    register_chips(chip_rows("FRESH", 1), site.users["op_a_admin"])
    assert declare(site.a, "US-TX-001", days_ago(5), ["nvidia:FRESH000000"]).status_code == 201
