"""Inventory and chip accountancy: facilities, campuses, placements, transfers, listings, reconciliation."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.models import AnyFinding, Campus, Declaration, Facility, Inspection, Placement, Transfer
from registry.models import Chip
from registry.registration import register_chips
from tests.factories import approved_export, chip_rows
from transparency.models import LogEventData, LogLeaf

NOW = timezone.now()


def iso(dt):
    return dt.isoformat().replace("+00:00", "Z")


def days_ago(n):
    return NOW - timedelta(days=n)


@pytest.fixture
def site(api, parties):
    """op-a runs US-VA-001 (two clusters) and US-VA-002; op-b runs DE-FRA-001."""
    a, b = api(parties.users["op_a_admin"]), api(parties.users["op_b"])
    for client, code, country, lat, lon in (
        (a, "US-VA-001", "US", 38.95, -77.45),
        (a, "US-TX-001", "US", 30.27, -97.74),
        (b, "DE-FRA-001", "DE", 50.11, 8.68),
    ):
        response = client.post(
            "/api/v1/facilities/",
            {"code": code, "name": code, "country": country, "latitude": lat, "longitude": lon, "power_mw": 40},
        )
        assert response.status_code == 201, response.content
    for code in ("c-east-1", "c-east-2"):
        response = a.post("/api/v1/clusters/", {"code": code, "facility": "US-VA-001", "interconnect_gbps": 400})
        assert response.status_code == 201, response.content
    parties.a, parties.b = a, b
    return parties


def ship_abroad(client, shipper, receiver, facility, chips, when):
    """A shipment across a border under an approved export authorisation: the response."""
    return client.post(
        "/api/v1/transfers/",
        {
            "receiver": receiver,
            "destination_facility": facility,
            "shipped_at": iso(when),
            "chips": chips,
            "export_authorisation": approved_export(shipper, receiver, chips, destination_facility=facility),
        },
    )


def declare(client, facility, when, chips):
    return client.post("/api/v1/declarations/", {"facility": facility, "as_of": iso(when), "chips": chips})


def test_facility_is_logged_and_visible_by_rule(api, site):
    assert LogEventData.objects.filter(event="facility.registered", object_id="US-VA-001").exists()
    codes = lambda user: {f["code"] for f in api(user).get("/api/v1/facilities/").json()["results"]}  # noqa: E731
    assert codes(site.users["op_a_member"]) == {"US-VA-001", "US-TX-001"}
    assert codes(site.users["op_b"]) == {"DE-FRA-001"}
    assert codes(site.users["insp_us"]) == {"US-VA-001", "US-TX-001"}
    assert codes(site.users["insp_fr"]) == set()
    assert codes(site.users["treaty"]) == {"US-VA-001", "US-TX-001", "DE-FRA-001"}
    # Another operator's facility is a 404, to read or to change.
    assert api(site.users["op_b"]).get("/api/v1/facilities/US-VA-001/").status_code == 404
    assert api(site.users["op_b"]).patch("/api/v1/facilities/US-VA-001/", {"name": "x"}).status_code == 404
    assert api(site.users["insp_us"]).patch("/api/v1/facilities/US-VA-001/", {"name": "x"}).status_code == 403
    assert (
        api(site.users["insp_us"])
        .post("/api/v1/facilities/", {"code": "X1", "name": "x", "country": "US", "latitude": 1, "longitude": 1})
        .status_code
        == 403
    )


def test_cluster_only_in_own_facility(site):
    response = site.b.post("/api/v1/clusters/", {"code": "sneaky", "facility": "US-VA-001"})
    assert response.status_code == 400
    assert response.json()["errors"]["facility"]


def test_split_facilities_end_up_in_one_campus(api, parties):
    """An operator splitting 20 H100s across two adjacent "facilities" is caught as one campus."""
    op = api(parties.users["op_a_admin"])
    register_chips(chip_rows("SPLIT", 20), parties.users["op_a_admin"])
    op.post(
        "/api/v1/facilities/", {"code": "SITE-A", "name": "A", "country": "US", "latitude": 39.0, "longitude": -77.0}
    )
    # 2 km east: another "facility" on the same site.
    op.post(
        "/api/v1/facilities/", {"code": "SITE-B", "name": "B", "country": "US", "latitude": 39.0, "longitude": -76.977}
    )
    # And another operator's building 3 km further: still the same site.
    api(parties.users["op_b"]).post(
        "/api/v1/facilities/", {"code": "SITE-C", "name": "C", "country": "US", "latitude": 39.0, "longitude": -76.942}
    )
    # Far away: its own site.
    op.post("/api/v1/facilities/", {"code": "FAR", "name": "F", "country": "US", "latitude": 45.0, "longitude": -100.0})
    chips = [f"nvidia:SPLIT{i:06d}" for i in range(20)]
    assert declare(op, "SITE-A", days_ago(1), chips[:10]).status_code == 201
    assert declare(op, "SITE-B", days_ago(1), chips[10:]).status_code == 201
    a, b, c, far = (Facility.objects.get(code=x) for x in ("SITE-A", "SITE-B", "SITE-C", "FAR"))
    assert a.campus is not None and a.campus == b.campus == c.campus
    assert far.campus is None
    campus = api(parties.users["treaty"]).get(f"/api/v1/campuses/{a.campus.code}/").json()
    assert set(campus["facilities"]) == {"SITE-A", "SITE-B", "SITE-C"}
    in_campus = Placement.objects.filter(valid_to__isnull=True, facility__campus=a.campus).count()
    assert in_campus == 20
    assert LogEventData.objects.filter(event="campus.proposed").exists()


def test_campus_distance_is_configurable(api, parties, settings):
    settings.CHIPREG_CAMPUS_DISTANCE_KM = 1.0
    op = api(parties.users["op_a_admin"])
    op.post("/api/v1/facilities/", {"code": "N-1", "name": "1", "country": "US", "latitude": 39.0, "longitude": -77.0})
    op.post(
        "/api/v1/facilities/", {"code": "N-2", "name": "2", "country": "US", "latitude": 39.0, "longitude": -76.977}
    )
    assert not Campus.objects.exists()


def test_point_in_time_questions(api, site):
    user = site.users["op_a_admin"]
    register_chips(chip_rows("PIT", 3), user)
    chips = [f"nvidia:PIT{i:06d}" for i in range(3)]
    declare(site.a, "US-VA-001", days_ago(10), [{"chip": c, "cluster": "c-east-1"} for c in chips])
    declare(site.a, "US-TX-001", days_ago(5), chips[:1])
    client = api(site.users["insp_us"])
    where = client.get(f"/api/v1/placements/?chip={chips[0]}&at={iso(days_ago(7))}").json()["results"]
    assert [(p["facility"], p["cluster"]) for p in where] == [("US-VA-001", "c-east-1")]
    where = client.get(f"/api/v1/placements/?chip={chips[0]}&at={iso(days_ago(1))}").json()["results"]
    assert [p["facility"] for p in where] == ["US-TX-001"]
    before = client.get(f"/api/v1/placements/?chip={chips[0]}&at={iso(days_ago(20))}").json()["results"]
    assert before == []
    held = client.get(f"/api/v1/facilities/US-VA-001/inventory/?at={iso(days_ago(7))}").json()["results"]
    assert sorted(p["chip"] for p in held) == chips
    day = days_ago(1).date().isoformat()
    held = client.get(f"/api/v1/facilities/US-VA-001/inventory/?at={day}").json()["results"]
    assert sorted(p["chip"] for p in held) == chips[1:]
    assert Chip.objects.get(serial="PIT000000").country == "US"
    assert client.get("/api/v1/placements/?at=yesterday").status_code == 400


def test_walk_one_chip_through_its_life(api, site):
    """Registration, shipment, receipt, installation, inspection, decommissioning: history and log."""
    op_a, op_b = site.users["op_a_admin"], site.users["op_b"]
    register_chips(chip_rows("LIFE", 1), op_a)
    chip_id = "nvidia:LIFE000000"
    assert declare(site.a, "US-VA-001", days_ago(30), [chip_id]).status_code == 201
    shipped = site.a.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-b",
            "origin_facility": "US-VA-001",
            "destination_facility": "DE-FRA-001",
            "shipped_at": iso(days_ago(20)),
            "chips": [chip_id],
            "export_authorisation": approved_export(
                op_a, "op-b", [chip_id], origin_facility="US-VA-001", destination_facility="DE-FRA-001"
            ),
        },
    )
    assert shipped.status_code == 201, shipped.content
    transfer = shipped.json()
    assert transfer["cross_border"] and transfer["origin_country"] == "US" and transfer["destination_country"] == "DE"
    assert Chip.objects.get(serial="LIFE000000").status == "in_transit"
    # Both countries' inspectorates see a cross-border transfer; others do not.
    de_inspector = site.insp_fr  # re-use: give the FR inspectorate DE too
    de_inspector.jurisdictions = ["DE"]
    de_inspector.save()
    for user in (site.users["insp_us"], site.users["insp_fr"], op_b):
        assert api(user).get(f"/api/v1/transfers/{transfer['id']}/").status_code == 200
    received = site.b.post(
        f"/api/v1/transfers/{transfer['id']}/receive/",
        {"received_at": iso(days_ago(15)), "facility": "DE-FRA-001", "chips": [chip_id]},
    )
    assert received.status_code == 200, received.content
    chip = Chip.objects.get(serial="LIFE000000")
    assert (chip.status, chip.custodian.code, chip.country) == ("installed", "op-b", "DE")
    inspected = api(site.users["insp_fr"]).post(
        "/api/v1/inspections/",
        {
            "facility": "DE-FRA-001",
            "performed_at": iso(days_ago(10)),
            "inspectors": ["J. Doe"],
            "seals_checked": ["SEAL-1"],
            "observed": [chip_id],
        },
    )
    assert inspected.status_code == 201, inspected.content
    assert inspected.json()["findings"] == {}
    chip.refresh_from_db()
    assert chip.last_verified_at == days_ago(10)
    from tests.factories import witnessed_disposal

    disposal = witnessed_disposal(op_b, site.users["treaty"], [chip_id])

    trail = [
        ("status", {"status": "in_transit"}),
        ("custody", {"custodian": "op-b"}),
        ("status", {"status": "installed"}),
        ("status", {"status": "decommissioned", "disposal": disposal.pk}),
    ]
    history = api(site.users["treaty"]).get(f"/api/v1/chips/{chip_id}/history/").json()["results"]
    assert [(e["kind"], e["after"]) for e in history] == trail
    # Its holder reads it from its receipt on: the shipper's time with it is the shipper's books.
    history = api(op_b).get(f"/api/v1/chips/{chip_id}/history/").json()["results"]
    assert [(e["kind"], e["after"]) for e in history] == trail[1:]
    # The treaty body sees the whole trail; op-b sees only the part in its own facility.
    assert len(api(op_b).get(f"/api/v1/placements/?chip={chip_id}").json()["results"]) == 1
    placements = api(site.users["treaty"]).get(f"/api/v1/placements/?chip={chip_id}").json()["results"]
    assert [(p["facility"], p["source"]) for p in placements] == [
        ("US-VA-001", "declaration"),
        ("DE-FRA-001", "transfer"),
    ]
    assert placements[0]["valid_to"] is not None and placements[1]["valid_to"] is None
    events = [
        "chip.registered",
        "declaration.recorded",
        "transfer.shipped",
        "transfer.received",
        "inspection.recorded",
        "disposal.requested",
        "disposal.accepted",  # the status change is logged under the witness's acceptance
    ]
    logged = list(LogEventData.objects.order_by("index").values_list("event", flat=True))
    positions = [logged.index(e) for e in events]
    assert positions == sorted(positions)  # in the log, in the order they happened
    for step in history:
        assert LogLeaf.objects.filter(index=step["log_index"]).exists()


def test_reconciliation_finds_exactly_the_planted_discrepancies(api, site):
    op = site.users["op_a_admin"]
    register_chips(chip_rows("REC", 100), op)
    register_chips(chip_rows("TRN", 3), site.users["op_b"])
    ids = [f"nvidia:REC{i:06d}" for i in range(100)]
    book = [{"chip": c, "cluster": "c-east-1" if i < 50 else "c-east-2"} for i, c in enumerate(ids)]
    assert declare(site.a, "US-VA-001", days_ago(10), book).status_code == 201
    # Planted: 3 missing from the inspection, 2 unexpected (registered elsewhere / unknown), 4 in the wrong cluster.
    observed = [dict(b) for b in book[3:]]
    for entry in observed[:4]:
        entry["cluster"] = "c-east-2"
    observed += [{"chip": "nvidia:TRN000002"}, {"chip": "nvidia:NEVERHEARDOF"}]
    inspected = api(site.users["insp_us"]).post(
        "/api/v1/inspections/", {"facility": "US-VA-001", "performed_at": iso(days_ago(2)), "observed": observed}
    )
    assert inspected.status_code == 201, inspected.content
    # And one shipment to this facility that never arrives.
    shipped = site.b.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-a",
            "destination_facility": "US-VA-001",
            "shipped_at": iso(days_ago(5)),
            "chips": ["nvidia:TRN000000"],
            "export_authorisation": approved_export(
                site.users["op_b"], "op-a", ["nvidia:TRN000000"], destination_facility="US-VA-001"
            ),
        },
    )
    assert shipped.status_code == 201, shipped.content

    body = api(site.users["insp_us"]).get(f"/api/v1/facilities/US-VA-001/reconciliation/?at={iso(days_ago(1))}").json()
    found = {(d["kind"], d["chip"], d["source"]) for d in body["discrepancies"]}
    expected = {("unaccounted", ids[i], "inspection") for i in range(3)}
    expected |= {("wrong_cluster", ids[i], "inspection") for i in range(3, 7)}
    expected |= {
        ("unexpected", "nvidia:TRN000002", "inspection"),
        ("unknown_chip", "nvidia:NEVERHEARDOF", "inspection"),
    }
    expected |= {("never_received", "nvidia:TRN000000", "transfer")}
    assert found == expected
    assert body["book"] == 100
    assert body["sources"]["declaration"]["unaccounted"] == 0
    assert body["sources"]["inspection"]["unaccounted"] == 3
    assert body["sources"]["inspection"]["wrong_cluster"] == 4
    # Every inspection discrepancy is a stored finding with its evidence.
    stored = AnyFinding.objects.filter(source="inspection")
    # (and op-b, whose chip TRN000002 the inspectors saw at op-a's site, is told: inventory.services.holders)
    assert {(f.kind, f.chip_ref) for f in stored} == {(k, c) for k, c, s in expected if s == "inspection"} | {
        ("other_operator", "nvidia:TRN000002")
    }
    assert stored.get(kind="other_operator").organisation.code == "op-b"
    wrong = stored.get(kind="wrong_cluster", chip_ref=ids[3])
    assert wrong.evidence["book_cluster"] == "c-east-1" and wrong.evidence["listed_cluster"] == "c-east-2"
    assert wrong.evidence["log_index"] == Inspection.objects.get().log_index
    # And as a CSV an inspector can download.
    response = api(site.users["insp_us"]).get(
        f"/api/v1/facilities/US-VA-001/reconciliation/?at={iso(days_ago(1))}&format=csv"
    )
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {(r["kind"], r["chip"]) for r in rows} == {(k, c) for k, c, _ in expected}


def test_declaration_omitting_a_chip_leaves_it_unaccounted(api, site):
    register_chips(chip_rows("OMIT", 4), site.users["op_a_admin"])
    ids = [f"nvidia:OMIT{i:06d}" for i in range(4)]
    declare(site.a, "US-VA-001", days_ago(5), ids)
    response = declare(site.a, "US-VA-001", days_ago(1), [*ids[:3], "nvidia:TOTALLYNEW1"])
    assert response.status_code == 201
    assert response.json()["findings"] == {"unaccounted": 1, "unknown_chip": 1}
    finding = AnyFinding.objects.get(kind="unaccounted")
    assert finding.chip_ref == ids[3] and finding.source == "declaration"


def test_shipper_receiver_differences_are_findings(api, site):
    register_chips(chip_rows("SHP", 4), site.users["op_b"])
    register_chips(chip_rows("XTRA", 1), site.users["op_b"])
    ids = [f"nvidia:SHP{i:06d}" for i in range(4)]
    transfer = site.b.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-a",
            "destination_facility": "US-VA-001",
            "shipped_at": iso(days_ago(3)),
            "chips": ids,
            "export_authorisation": approved_export(site.users["op_b"], "op-a", ids, destination_facility="US-VA-001"),
        },
    ).json()
    response = site.a.post(
        f"/api/v1/transfers/{transfer['id']}/receive/",
        {"received_at": iso(days_ago(1)), "facility": "US-TX-001", "chips": [*ids[:3], "nvidia:XTRA000000"]},
    )
    assert response.status_code == 200, response.content
    assert (response.json()["received"], response.json()["missing"], response.json()["unexpected"]) == (3, 1, 1)
    kinds = {(f.kind, f.chip_ref) for f in AnyFinding.objects.filter(source="transfer")}
    assert kinds == {
        ("never_received", ids[3]),
        ("received_not_shipped", "nvidia:XTRA000000"),
        ("received_elsewhere", ""),
    }
    assert Chip.objects.get(serial="SHP000003").status == "in_transit"
    assert Chip.objects.get(serial="XTRA000000").custodian.code == "op-b"  # not shipped, so not handed over
    assert Chip.objects.get(serial="SHP000000").custodian.code == "op-a"
    # Received once only.
    again = site.a.post(
        f"/api/v1/transfers/{transfer['id']}/receive/",
        {"received_at": iso(days_ago(1)), "facility": "US-TX-001", "chips": ids},
    )
    assert again.status_code == 409


def test_chips_of_others_a_receiver_lists_are_not_told_to_the_shipper(api, site):
    """The shipper reads `received_not_shipped` for a chip of its own the receiver lists (it left unlisted), not
    for another party's chip or an unknown one the receiver names: those are the receiver's listing alone, filed
    under it at its site (filed under the shipper, they told a manufacturer which rival chips the receiver named,
    and where: a client written from the README met it)."""
    from tests.factories import OrganisationFactory, UserFactory

    register_chips(chip_rows("SHQ", 2), site.users["op_b"])
    third = UserFactory(organisation=OrganisationFactory(code="op-c", kind="operator", country="US"), role="admin")
    register_chips(chip_rows("RIV", 1), third)
    ids = [f"nvidia:SHQ{i:06d}" for i in range(2)]
    transfer = ship_abroad(site.b, site.users["op_b"], "op-a", "US-VA-001", ids[:1], days_ago(3)).json()
    listed = [*ids, "nvidia:RIV000000", "nvidia:NOSUCH0001"]
    response = site.a.post(
        f"/api/v1/transfers/{transfer['id']}/receive/",
        {"received_at": iso(days_ago(1)), "facility": "US-VA-001", "chips": listed},
    )
    assert response.status_code == 200, response.content

    def seen(client):
        rows = client.get("/api/v1/findings/?kind=received_not_shipped").json()["results"]
        return {r["chip"] for r in rows}

    assert seen(site.b) == {ids[1]}  # its own chip, left unlisted with the shipment
    assert seen(site.a) == {ids[1], "nvidia:RIV000000", "nvidia:NOSUCH0001"}
    assert seen(api(site.users["treaty"])) == seen(site.a)
    rival = AnyFinding.objects.get(kind="received_not_shipped", chip_ref="nvidia:RIV000000")
    assert (rival.organisation.code, rival.other_organisation, rival.country) == ("op-a", None, "US")


def test_transfer_items_name_the_chips_the_server_resolved(api, site):
    """A transfer item's chip is not a foreign key the database checks (docs/scaling.md: transfer items stay
    on the coordinator): the server sets it from the chips it resolved, an unknown chip id stays without
    one, and a chip a transfer names cannot be deleted through the ORM (PROTECT), so no item is orphaned."""
    from django.db.models import ProtectedError

    from inventory.models import TransferItem

    register_chips(chip_rows("TIC", 2), site.users["op_b"])
    ids = [f"nvidia:TIC{i:06d}" for i in range(2)]
    transfer = site.b.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-a",
            "shipped_at": iso(days_ago(3)),
            "chips": ids,
            "export_authorisation": approved_export(site.users["op_b"], "op-a", ids),
        },
    ).json()
    response = site.a.post(
        f"/api/v1/transfers/{transfer['id']}/receive/",
        {"received_at": iso(days_ago(1)), "facility": "US-TX-001", "chips": [*ids, "nvidia:NOSUCHCHIP1"]},
    )
    assert response.status_code == 200, response.content
    items = {i.chip_ref: i for i in TransferItem.objects.filter(transfer_id=transfer["id"]).select_related("chip")}
    assert sorted(items) == sorted([*ids, "nvidia:NOSUCHCHIP1"])
    assert [items[ref].chip.public_id for ref in ids] == ids
    assert items["nvidia:NOSUCHCHIP1"].chip_id is None and items["nvidia:NOSUCHCHIP1"].received
    chip = items[ids[0]].chip
    with pytest.raises(ProtectedError) as refused:
        chip.delete()
    assert items[ids[0]] in refused.value.protected_objects
    assert Chip.objects.filter(pk=chip.pk).exists()


def test_silent_chips_are_findings(site, settings):
    from inventory.services.continuity import find_silent_chips

    register_chips(chip_rows("QUIET", 3), site.users["op_a_admin"])
    Chip.objects.filter(serial="QUIET000000").update(last_verified_at=days_ago(30))
    Chip.objects.filter(serial="QUIET000001").update(last_verified_at=days_ago(1))
    Chip.objects.filter(serial="QUIET000002").update(created_at=days_ago(9))
    assert find_silent_chips() == 2
    assert find_silent_chips() == 2  # the same silence is not reported twice
    found = AnyFinding.objects.filter(kind="silent_chip")
    assert sorted(f.chip_ref for f in found) == ["nvidia:QUIET000000", "nvidia:QUIET000002"]
    settings.CHIPREG_SILENCE_WINDOW_DAYS = 60
    assert find_silent_chips() == 0


class TestBadInput:
    def test_future_dates(self, api, site):
        register_chips(chip_rows("FUT", 1), site.users["op_a_admin"])
        future = iso(NOW + timedelta(days=2))
        response = declare(site.a, "US-VA-001", NOW + timedelta(days=2), ["nvidia:FUT000000"])
        assert response.status_code == 400 and response.json()["code"] == "future_date"
        shipped = site.a.post(
            "/api/v1/transfers/", {"receiver": "op-b", "shipped_at": future, "chips": ["nvidia:FUT000000"]}
        )
        assert shipped.status_code == 400
        inspected = api(site.users["insp_us"]).post(
            "/api/v1/inspections/", {"facility": "US-VA-001", "performed_at": future, "observed": []}
        )
        assert inspected.status_code == 400
        assert not Declaration.objects.exists() and not Transfer.objects.exists() and not Inspection.objects.exists()

    def test_transfer_of_chips_not_in_custody(self, api, site):
        register_chips(chip_rows("MINE", 2), site.users["op_a_admin"])
        register_chips(chip_rows("THEIRS", 1), site.users["op_b"])
        leaves = LogLeaf.objects.count()
        response = site.a.post(
            "/api/v1/transfers/",
            {
                "receiver": "op-b",
                "shipped_at": iso(days_ago(1)),
                "chips": ["nvidia:MINE000000", "nvidia:THEIRS000000", "nvidia:MINE000001"],
            },
        )
        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "not_in_custody" and body["chips"][0]["chip"] == "nvidia:THEIRS000000"
        assert not Transfer.objects.exists() and LogLeaf.objects.count() == leaves
        assert set(Chip.objects.filter(serial__startswith="MINE").values_list("status", flat=True)) == {"installed"}

    def test_chip_in_transit_cannot_ship_again(self, site):
        register_chips(chip_rows("TWICE", 1), site.users["op_a_admin"])
        licence = approved_export(site.users["op_a_admin"], "op-b", ["nvidia:TWICE000000"])
        body = {
            "receiver": "op-b",
            "shipped_at": iso(days_ago(1)),
            "chips": ["nvidia:TWICE000000"],
            "export_authorisation": licence,
        }
        assert site.a.post("/api/v1/transfers/", body).status_code == 201
        assert site.a.post("/api/v1/transfers/", body).status_code == 409

    def test_inspection_outside_jurisdiction(self, api, site):
        response = api(site.users["insp_us"]).post(
            "/api/v1/inspections/", {"facility": "DE-FRA-001", "performed_at": iso(days_ago(1)), "observed": []}
        )
        assert response.status_code == 404
        assert (
            api(site.users["op_a_admin"])
            .post("/api/v1/inspections/", {"facility": "US-VA-001", "performed_at": iso(days_ago(1)), "observed": []})
            .status_code
            == 403
        )
        assert not Inspection.objects.exists()

    @pytest.mark.parametrize(
        "body",
        [
            b"serial\nnvidia:ABC123\n",
            b'chip\n"nvidia:UNCLOSED\n',
            b"chip\nnvidia:ABC123,extra\n",
            b"chip\nnot a chip id\n",
            b"chip\nnvidia:ABC123\nnvidia:abc123\n",
            b"\xff\xfe\x00",
        ],
    )
    def test_malformed_csv(self, api, site, body):
        response = api(site.users["insp_us"]).post(
            f"/api/v1/inspections/?facility=US-VA-001&performed_at={iso(days_ago(1))}", body, content_type="text/csv"
        )
        assert 400 <= response.status_code < 500, response.content
        assert response["Content-Type"] == "application/problem+json"
        assert not Inspection.objects.exists()

    def test_csv_inspection_with_unknown_serials(self, api, site):
        register_chips(chip_rows("CSVI", 2), site.users["op_a_admin"])
        declare(site.a, "US-VA-001", days_ago(3), ["nvidia:CSVI000000", "nvidia:CSVI000001"])
        body = b"chip,cluster\nnvidia:CSVI000000,c-east-1\nnvidia:csvi000001,\nnvidia:GHOST001,\n"
        response = api(site.users["insp_us"]).post(
            f"/api/v1/inspections/?facility=US-VA-001&performed_at={iso(days_ago(1))}&inspectors=A,B&seals_checked=S1",
            body,
            content_type="text/csv",
        )
        assert response.status_code == 201, response.content
        assert response.json()["inspectors"] == ["A", "B"]
        assert response.json()["findings"] == {"unknown_chip": 1, "wrong_cluster": 1}

    def test_unknown_cluster_in_declaration(self, site):
        register_chips(chip_rows("UC", 1), site.users["op_a_admin"])
        response = declare(site.a, "US-VA-001", days_ago(1), [{"chip": "nvidia:UC000000", "cluster": "nope"}])
        assert response.status_code == 400 and response.json()["code"] == "unknown_cluster"
        assert not Declaration.objects.exists()

    def test_declaring_for_another_operators_facility(self, site):
        # The answer a code of no facility gets (README): nothing says whether it exists or whose it is.
        for code in ("US-VA-001", "NO-SUCH-001"):
            response = declare(site.b, code, days_ago(1), [])
            assert (response.status_code, response.json()["code"]) == (400, "invalid"), code
            assert response.json()["errors"] == {"facility": [f"You run no facility {code}."]}


def test_findings_visibility_and_resolution(api, site):
    register_chips(chip_rows("VIS", 1), site.users["op_a_admin"])
    declare(site.a, "US-VA-001", days_ago(1), ["nvidia:GHOST999"])
    finding = AnyFinding.objects.get()
    assert [f["id"] for f in api(site.users["op_a_member"]).get("/api/v1/findings/").json()["results"]] == [finding.pk]
    assert api(site.users["op_b"]).get("/api/v1/findings/").json()["results"] == []
    assert api(site.users["insp_fr"]).get("/api/v1/findings/").json()["results"] == []
    assert (
        api(site.users["op_a_admin"]).post(f"/api/v1/findings/{finding.pk}/resolve/", {"reason": "mine"}).status_code
        == 403
    )
    response = api(site.users["insp_us"]).post(f"/api/v1/findings/{finding.pk}/resolve/", {"reason": "typo in listing"})
    assert response.status_code == 200 and response.json()["resolution"] == "typo in listing"
    assert (
        api(site.users["insp_us"]).post(f"/api/v1/findings/{finding.pk}/resolve/", {"reason": "again"}).status_code
        == 409
    )


def test_a_resolution_without_a_reason_is_reason_required(api, site):
    """Missing, null, empty or blank: 400 reason_required, the code every decision that needs a reason answers."""
    register_chips(chip_rows("WHY", 1), site.users["op_a_admin"])
    declare(site.a, "US-VA-001", days_ago(1), ["nvidia:GHOST998"])
    finding = AnyFinding.objects.get()
    for body in ({}, {"reason": ""}, {"reason": " \t\n"}, {"reason": None}):
        response = api(site.users["insp_us"]).post(f"/api/v1/findings/{finding.pk}/resolve/", body)
        assert (response.status_code, response.json()["code"]) == (400, "reason_required"), body
    assert AnyFinding.objects.get().resolved_at is None


def test_nul_bytes_are_bad_input_not_a_crash(site):
    response = site.a.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-b",
            "destination_facility": "US\u0000",
            "shipped_at": iso(days_ago(1)),
            "chips": ["nvidia:X123"],
        },
    )
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"


def test_an_older_declaration_never_moves_a_chip_back(api, site):
    """A chip placed from D-1 is left where it is by news about D-5 (the later knowledge wins)."""
    from inventory.services.placements import place

    register_chips(chip_rows("OLD", 2), site.users["op_a_admin"])
    pks = list(Chip.objects.filter(serial__startswith="OLD").order_by("serial").values_list("pk", flat=True))
    assert declare(site.a, "US-TX-001", days_ago(1), ["nvidia:OLD000000", "nvidia:OLD000001"]).status_code == 201
    virginia = Facility.objects.get(code="US-VA-001")
    assert place({pks[0]: None, pks[1]: None}, virginia, days_ago(5), "declaration", "x") == (0, 0, 2)
    open_now = Placement.objects.filter(chip_id__in=pks, valid_to__isnull=True)
    assert sorted(open_now.values_list("facility__code", flat=True)) == ["US-TX-001", "US-TX-001"]
    # News about a later time does move them.
    assert place({pks[0]: None}, virginia, NOW - timedelta(hours=1), "declaration", "z") == (1, 0, 0)
    assert Placement.objects.get(chip_id=pks[0], valid_to__isnull=True).facility == virginia


def test_chips_that_changed_hands_after_their_listing_was_resolved_are_not_moved(api, site):
    """A declaration (or statement) resolves its chips before it takes the log's lock; a receipt or a loss report
    committed in between must not let the old holder's listing move chips it no longer holds at a placeable
    status: placements check custody and status again under the lock."""
    from inventory.chiprefs import resolve_chips
    from inventory.services.listings import record_declaration

    register_chips(chip_rows("RACE", 3), site.users["op_a_admin"])
    ids = [f"nvidia:RACE{i:06d}" for i in range(3)]
    assert declare(site.a, "US-TX-001", days_ago(3), ids).status_code == 201
    stale = resolve_chips(ids)  # op-a's, installed: what a listing about to be recorded read
    shipped = ship_abroad(site.a, site.users["op_a_admin"], "op-b", "DE-FRA-001", ids[:1], days_ago(2))
    assert shipped.status_code == 201, shipped.content
    received = site.b.post(
        f"/api/v1/transfers/{shipped.json()['id']}/receive/",
        {"received_at": iso(days_ago(1)), "facility": "DE-FRA-001", "chips": ids[:1]},
    )
    assert received.status_code == 200, received.content
    lost = site.a.patch(f"/api/v1/chips/{ids[1]}/", {"status": "lost", "reason": "gone from the rack"})
    assert lost.status_code == 200, lost.content

    virginia = Facility.objects.get(code="US-VA-001")
    rows = [(i, chip_id, None) for i, chip_id in enumerate(ids, 1)]
    _, summary = record_declaration(site.users["op_a_admin"], virginia, NOW, rows, resolved=stale)
    assert (summary["placed"], summary["unchanged"]) == (1, 2)
    where = dict(
        Placement.objects.filter(chip__serial__startswith="RACE", valid_to__isnull=True).values_list(
            "chip__serial", "facility__code"
        )
    )
    assert where == {"RACE000000": "DE-FRA-001", "RACE000001": "US-TX-001", "RACE000002": "US-VA-001"}
    assert Chip.objects.get(serial="RACE000000").country == "DE"


def test_a_shipment_never_confirmed_is_overdue_once(api, site, settings):
    """A shipment still in transit CHIPREG_TRANSIT_OVERDUE_DAYS after it shipped is a never_received finding for
    each chip still in it (once, however often the daily task runs), for both parties and both countries;
    a confirmed shipment, or one still young, raises nothing."""
    from inventory.services.transfers import find_overdue

    settings.CHIPREG_TRANSIT_OVERDUE_DAYS = 30
    register_chips(chip_rows("OVD", 3), site.users["op_b"])
    ids = [f"nvidia:OVD{i:06d}" for i in range(3)]

    def ship(chips, days):
        licence = approved_export(
            site.users["op_b"], "op-a", chips, destination_facility="US-VA-001", reference=f"LIC-{chips[0]}"
        )
        body = {"receiver": "op-a", "destination_facility": "US-VA-001", "shipped_at": iso(days_ago(days))}
        response = site.b.post("/api/v1/transfers/", {**body, "chips": chips, "export_authorisation": licence})
        assert response.status_code == 201, response.content
        return response.json()["id"]

    old, young = ship(ids[:2], 40), ship(ids[2:], 5)
    assert find_overdue() == 2
    assert find_overdue() == 2  # counted again, raised once
    overdue = AnyFinding.objects.filter(kind="never_received", source="transfer")
    assert sorted(overdue.values_list("chip_ref", flat=True)) == ids[:2]
    assert {f.source_id for f in overdue} == {f"{old}:overdue"} and young not in {f.source_id for f in overdue}
    first = overdue.first()
    assert (first.organisation.code, first.other_organisation.code) == ("op-b", "op-a")
    assert (first.country, first.other_country) == ("DE", "US") and "still in transit 40 days" in first.detail
    received = site.a.post(
        f"/api/v1/transfers/{old}/receive/",
        {"received_at": iso(days_ago(1)), "facility": "US-VA-001", "chips": ids[:2]},
    )
    assert received.status_code == 200, received.content
    assert find_overdue() == 0
