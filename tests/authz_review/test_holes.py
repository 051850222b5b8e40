"""Issue 15, reviewed as a hostile party after the fixes were merged: each test performs an attack the
fixes missed, with the attacker's own real token, and fails on the code as it was merged."""

from datetime import timedelta

import pytest
from django.utils import timezone

from registry.models import Chip
from registry.registration import register_chips
from tests.factories import OrganisationFactory, UserFactory, approved_export, chip_rows

ASHBURN, RESTON, FRANKFURT = (39.04, -77.49), (38.96, -77.36), (50.11, 8.68)


def iso(dt):
    return dt.isoformat().replace("+00:00", "Z")


def ago(**kw):
    return iso(timezone.now() - timedelta(**kw))


def register(client, code, point, country):
    response = client.post(
        "/api/v1/facilities/",
        {"code": code, "name": code, "country": country, "latitude": point[0], "longitude": point[1]},
    )
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def world(api, parties):
    """op-a (US) with a facility and one H100 placed in it; op-b (DE) and op-c (US) with a facility each."""
    parties.op_c = OrganisationFactory(code="op-c", kind="operator", country="US")
    parties.users["op_c"] = UserFactory(organisation=parties.op_c, role="admin")
    parties.a, parties.b, parties.c = (api(parties.users[u]) for u in ("op_a_admin", "op_b", "op_c"))
    register(parties.a, "A-ASH", ASHBURN, "US")
    register(parties.b, "B-FRA", FRANKFURT, "DE")
    register(parties.c, "C-RES", RESTON, "US")
    register_chips(chip_rows("HOLE", 1), parties.users["op_a_admin"])
    parties.chip = "nvidia:HOLE000000"
    response = parties.a.post(
        "/api/v1/declarations/", {"facility": "A-ASH", "as_of": ago(days=3), "chips": [parties.chip]}
    )
    assert response.status_code == 201, response.content
    return parties


def ship(client, receiver, facility, chip, when, export=False):
    body = {"receiver": receiver, "destination_facility": facility, "shipped_at": when, "chips": [chip]}
    if export:  # to another country: under an approved export authorisation
        body["export_authorisation"] = approved_export(client.user, receiver, [chip], destination_facility=facility)
    response = client.post("/api/v1/transfers/", body)
    assert response.status_code == 201, response.content
    return response.json()["id"]


class TestChipInTransit:
    """A chip in transit belongs to its transfer: the shipper cannot take it back by PATCHing its status,
    ship it again to a third party, and let the first receiver's confirmation pull it out of the third
    party's custody (nor can anyone put a chip "in transit" without a transfer, out of every count)."""

    def test_the_shipper_cannot_patch_a_chip_out_of_transit(self, world):
        ship(world.a, "op-b", "B-FRA", world.chip, ago(days=2), export=True)
        for status in ("installed", "manufactured"):
            response = world.a.patch(f"/api/v1/chips/{world.chip}/", {"status": status, "reason": "changed my mind"})
            assert response.status_code == 409, response.content
            assert response.json()["code"] == "transit_by_transfer"
        assert Chip.objects.get(serial="HOLE000000").status == "in_transit"

    def test_no_chip_goes_in_transit_without_a_transfer(self, world):
        response = world.a.patch(f"/api/v1/chips/{world.chip}/", {"status": "in_transit", "reason": "hide it"})
        assert response.status_code == 409, response.content
        assert response.json()["code"] == "transit_by_transfer"
        assert Chip.objects.get(serial="HOLE000000").status == "installed"

    def test_a_stale_receipt_does_not_take_a_chip_from_its_later_custodian(self, world):
        first = ship(world.a, "op-b", "B-FRA", world.chip, ago(days=2), export=True)
        # The shipper calls it lost in transit, then found again (both allowed), and ships it to op-c.
        for status in ("lost", "installed"):
            response = world.a.patch(f"/api/v1/chips/{world.chip}/", {"status": status, "reason": "lost, found"})
            assert response.status_code == 200, response.content
        second = ship(world.a, "op-c", "C-RES", world.chip, ago(hours=30))
        received = world.c.post(
            f"/api/v1/transfers/{second}/receive/",
            {"received_at": ago(hours=20), "facility": "C-RES", "chips": [world.chip]},
        )
        assert received.status_code == 200, received.content
        assert Chip.objects.get(serial="HOLE000000").custodian.code == "op-c"
        # op-b now confirms the first shipment, listing the chip as arrived: it stays op-c's.
        stale = world.b.post(
            f"/api/v1/transfers/{first}/receive/",
            {"received_at": ago(hours=10), "facility": "B-FRA", "chips": [world.chip]},
        )
        assert stale.status_code == 200, stale.content
        assert stale.json()["received"] == 0
        chip = Chip.objects.get(serial="HOLE000000")
        assert (chip.custodian.code, chip.status) == ("op-c", "installed")
        assert not chip.placements.filter(facility__code="B-FRA").exists()


class TestInspectionVouchesOnlyForItsJurisdiction:
    """An inspection is an inspectorate's word about its own territory. Listing chips that the books place in
    another country (op-b's chip in Frankfurt, at a US site) is a finding at that site; it must not mark the
    German chip as verified, which keeps it from ever looking silent to the German side."""

    def test_a_us_inspection_does_not_verify_a_chip_held_in_germany(self, api, world):
        register_chips(chip_rows("BDE", 1), world.users["op_b"])
        response = world.b.post(
            "/api/v1/declarations/", {"facility": "B-FRA", "as_of": ago(days=3), "chips": ["nvidia:BDE000000"]}
        )
        assert response.status_code == 201, response.content
        german = Chip.objects.get(serial="BDE000000")
        assert german.country == "DE" and german.last_verified_at is None
        inspected = api(world.users["insp_us"]).post(
            "/api/v1/inspections/",
            {"facility": "A-ASH", "performed_at": ago(hours=1), "observed": [world.chip, "nvidia:BDE000000"]},
        )
        assert inspected.status_code == 201, inspected.content
        german.refresh_from_db()
        assert german.last_verified_at is None
        # The chip the books place at the inspected site is verified, as before.
        assert Chip.objects.get(serial="HOLE000000").last_verified_at is not None


class TestUsageCountsOnlyForItsHolder:
    """op-b may only speak about its own facility now, but it may still name op-a's chips there. Its usage
    records of them counted in op-a's cluster and op-a's operator-country compute windows (those follow the
    chip, not the facility): op-b could push op-a over a post-training threshold from its own site."""

    def test_another_operators_usage_of_a_chip_does_not_count_for_its_holder(self, api, parties):
        from compliance import aggregates
        from compliance.choices import Scope
        from compliance.evaluation import compute_in_window
        from compliance.models import ThresholdRule
        from inventory.models import Cluster
        from tests.attestations.conftest import World, now

        world = World(api, parties)
        response = world.op_a.post(
            "/api/v1/declarations/",
            {
                "facility": "US-VA-001",
                "as_of": ago(days=1),
                "chips": [{"chip": "nvidia:A000000", "cluster": "c-east-1"}],
            },
        )
        assert response.status_code == 201, response.content
        end = now() - timedelta(minutes=5)
        start = end - timedelta(hours=1)
        rows = [{"chip": "nvidia:A000000", "active_s": 3600, "utilization": 1.0, "energy_j": 2.5e6}]
        statement = world.usage(rows, start, end, facility="DE-FRA-001", operator="op-b")
        response, _ = world.submit(world.op_b, statement, world.key_b)
        assert response.status_code == 201, response.content

        since = end - timedelta(days=1)
        cluster = Cluster.objects.get(facility__code="US-VA-001", code="c-east-1")
        op_a_us = f"{parties.op_a.pk}:US"
        assert aggregates.usage(Scope.CLUSTER, since, timedelta(days=1), "fp16").get(str(cluster.pk), 0.0) == 0.0
        assert aggregates.usage(Scope.OPERATOR_COUNTRY, since, timedelta(days=1), "fp16").get(op_a_us, 0.0) == 0.0
        rule = ThresholdRule(metric="compute_window", window_days=2, basis="fp16")
        assert compute_in_window(rule, Scope.CLUSTER, str(cluster.pk), now()) == 0.0
        assert compute_in_window(rule, Scope.OPERATOR_COUNTRY, op_a_us, now()) == 0.0
        # op-b's own facility still carries what op-b said happened there.
        facility = parties.op_b.facilities.get(code="DE-FRA-001")
        assert aggregates.usage(Scope.FACILITY, since, timedelta(days=1), "fp16")[str(facility.pk)] > 0


class TestRetirementIsNotARetroactiveRevocation:
    """Retiring a key at a past instant, after statements it signed were accepted, made those statements
    look signed by a retired key to anyone re-checking the log: the operator disowned them silently, with
    none of a revocation's flags and findings for the inspectors."""

    def test_a_key_cannot_be_retired_before_a_statement_it_signed(self, api, parties):
        from attestations.models import SigningKey
        from tests.attestations import independent as ind
        from tests.attestations.conftest import World, now, ts

        world = World(api, parties)
        response, _ = world.submit(world.op_a, world.location(["nvidia:A000000"], facility="US-VA-001"))
        assert response.status_code == 201, response.content
        keyid = ind.keyid(world.key_a)
        backdated = world.op_a.post(f"/api/v1/keys/{keyid}/retire/", {"at": ts(now() - timedelta(hours=1))})
        assert backdated.status_code == 409, backdated.content
        assert backdated.json()["code"] == "key_used_after"
        assert SigningKey.objects.get(keyid=keyid).retired_at is None
        # Retiring it from now on is what retirement is for.
        assert world.op_a.post(f"/api/v1/keys/{keyid}/retire/", {}).status_code == 200


class TestChipsLeavingACountryWithoutATransfer:
    """Issue 15 item 3's class: an operator moved its chips out of one inspectorate's view into another's.
    Through a facility's country that is now logged for both; through a declaration (or a location statement)
    at its own facility across the border, the chips left the US inspectorate's view with nothing it could
    read: the declaration's event and findings named only the new country."""

    def test_the_old_countrys_inspectorate_sees_the_chips_leave(self, api, world):
        insp_us = api(world.users["insp_us"])
        assert [c["id"] for c in insp_us.get("/api/v1/chips/").json()["results"]] == [world.chip]

        def declare(facility, hours):
            response = world.a.post(
                "/api/v1/declarations/", {"facility": facility, "as_of": ago(hours=hours), "chips": [world.chip]}
            )
            assert response.status_code == 201, response.content

        # A move within the country raises nothing.
        register(world.a, "A-ASH2", (39.05, -77.48), "US")
        declare("A-ASH2", 3)
        assert insp_us.get("/api/v1/findings/?kind=left_country").json()["results"] == []
        register(world.a, "A-FRA", FRANKFURT, "DE")
        declare("A-FRA", 2)
        assert Chip.objects.get(serial="HOLE000000").country == "DE"
        assert insp_us.get("/api/v1/chips/").json()["results"] == []
        seen = insp_us.get("/api/v1/findings/?kind=left_country").json()["results"]
        assert len(seen) == 1, seen
        assert (seen[0]["facility"], seen[0]["country"], seen[0]["other_country"]) == ("A-FRA", "DE", "US")
        assert "1 chip" in seen[0]["detail"]
        assert api(world.users["op_a_admin"]).get("/api/v1/findings/?kind=left_country").json()["results"] == seen
        assert api(world.users["op_b"]).get("/api/v1/findings/?kind=left_country").json()["results"] == []


class TestATransferNamesTheCountryItsChipsLeave:
    """A transfer's origin country decides which inspectorate sees it (and its log events). It came from the
    origin facility the shipper named, or the shipper's home country: op-a named its German site as the
    origin of a chip that lay in Virginia, and the US inspectorate never saw the chip leave."""

    def _ship(self, world, body):
        response = world.a.post(
            "/api/v1/transfers/", {"receiver": "op-b", "shipped_at": ago(hours=5), "chips": [world.chip], **body}
        )
        return response

    def test_an_origin_facility_elsewhere_is_refused(self, api, world):
        register(world.a, "A-FRA", FRANKFURT, "DE")
        response = self._ship(world, {"origin_facility": "A-FRA", "destination_facility": "B-FRA"})
        assert response.status_code == 400, response.content
        assert response.json()["code"] == "origin_mismatch"

    def test_without_an_origin_facility_the_chips_country_is_the_origin(self, api, world):
        # op-b (home DE) holds a chip at a site it runs in the US, and ships it home naming no origin.
        register(world.b, "B-RES", (38.95, -77.35), "US")
        register_chips(chip_rows("BUS", 1), world.users["op_b"])
        response = world.b.post(
            "/api/v1/declarations/", {"facility": "B-RES", "as_of": ago(days=1), "chips": ["nvidia:BUS000000"]}
        )
        assert response.status_code == 201, response.content
        response = world.b.post(
            "/api/v1/transfers/",
            {
                "receiver": "op-b",
                "destination_facility": "B-FRA",
                "shipped_at": ago(hours=5),
                "chips": ["nvidia:BUS000000"],
                "export_authorisation": approved_export(
                    world.users["op_b"], "op-b", ["nvidia:BUS000000"], destination_facility="B-FRA"
                ),
            },
        )
        assert response.status_code == 201, response.content
        assert (response.json()["origin_country"], response.json()["destination_country"]) == ("US", "DE")
        seen = api(world.users["insp_us"]).get("/api/v1/transfers/").json()["results"]
        assert [t["id"] for t in seen] == [response.json()["id"]]


class TestAnotherOperatorsSightingDoesNotIndictTheHolder:
    """op-b lists op-a's chip in a location statement at op-b's own site. That claim is recorded once, as a
    finding for op-a. But every later honest statement of op-a about its own chip was then judged against
    op-b's sighting: flagged as impossible travel (a high alert against op-a), on op-b's word alone."""

    def test_the_holders_next_statement_is_not_flagged_by_a_third_partys_claim(self, api, parties):
        from attestations.models import Attestation
        from tests.attestations.conftest import World, now

        world = World(api, parties)
        t = now()

        def located(client, statement, *keys):
            response, _ = world.submit(client, statement, *keys)
            assert response.status_code == 201, response.content
            return response.json()

        first = located(world.op_a, world.location(["nvidia:A000000"], observed=t - timedelta(minutes=40)))
        assert first["flags"] == {}
        claim = world.location(
            ["nvidia:A000000"], facility="DE-FRA-001", operator="op-b", observed=t - timedelta(minutes=30)
        )
        assert located(world.op_b, claim, world.key_b)["flags"] == {"other_operator": 1}
        again = located(world.op_a, world.location(["nvidia:A000000"], observed=t - timedelta(minutes=20)))
        assert again["flags"] == {}
        assert not Attestation.objects.get(pk=again["id"]).flagged


class TestAReopenedCampusAlertFollowsItsCampus:
    """A campus alert raised while op-a ran every facility of the campus is op-a's to see. When it crossed
    again after op-b had built next door, it reopened with fresh evidence (op-b's chips among those counted)
    but still under op-a: op-a read op-b's chip ids and totals out of it."""

    def test_op_a_reads_nothing_of_op_b_from_a_reopened_campus_alert(self, api, parties):
        from compliance.models import Alert, AlertEvidence
        from outbox.relay import drain_all
        from tests.inventory.test_authority import campus_rule

        campus_rule(parties.users["treaty"])
        a, b, treaty = (api(parties.users[u]) for u in ("op_a_admin", "op_b", "treaty"))
        register(a, "A-W", (39.0, -77.0), "US")
        register(a, "A-E", (39.0, -76.98), "US")
        register_chips(chip_rows("ACAMP", 20), parties.users["op_a_admin"])
        chips = [f"nvidia:ACAMP{i:06d}" for i in range(20)]
        for facility, listed in (("A-W", chips[:10]), ("A-E", chips[10:])):
            response = a.post("/api/v1/declarations/", {"facility": facility, "as_of": ago(days=2), "chips": listed})
            assert response.status_code == 201, response.content
        drain_all()
        alert = Alert.objects.get(rule__key="treaty-covered-cluster-campus")
        assert alert.operator_id == parties.op_a.pk
        response = treaty.post(f"/api/v1/alerts/{alert.pk}/resolve/", {"reason": "declared research campus"})
        assert response.status_code == 200, response.content
        from tests.factories import witnessed_disposal

        # below the line again (a witnessed decommissioning): the alert clears
        witnessed_disposal(parties.users["op_a_admin"], parties.users["treaty"], chips[10:])
        drain_all()
        alert.refresh_from_db()
        assert alert.cleared_at is not None

        register(b, "B-NEAR", (39.0, -76.99), "US")
        register_chips(chip_rows("BNEAR", 10), parties.users["op_b"])
        response = b.post(
            "/api/v1/declarations/",
            {"facility": "B-NEAR", "as_of": ago(days=1), "chips": [f"nvidia:BNEAR{i:06d}" for i in range(10)]},
        )
        assert response.status_code == 201, response.content
        drain_all()
        alert.refresh_from_db()
        assert alert.state == "open" and alert.reopened == 1
        visible = [x["id"] for x in a.get("/api/v1/alerts/").json()["results"]]
        leaked = AlertEvidence.objects.filter(alert_id__in=visible, chips__contains="BNEAR")
        assert not leaked.exists()
        # The treaty body and the US inspectorate still have it.
        assert alert.pk in [x["id"] for x in treaty.get("/api/v1/alerts/").json()["results"]]
        assert alert.pk in [x["id"] for x in api(parties.users["insp_us"]).get("/api/v1/alerts/").json()["results"]]


class TestTheCountryChipsArriveInSeesTheirTransfer:
    """A transfer named the receiver's home as its destination country when no destination facility was
    given; received at a site in a third country, the chips appeared there (by placement) while that
    country's inspectorate could read neither the transfer nor its receipt."""

    def test_the_receiving_sites_country_sees_the_transfer_and_its_receipt(self, api, world):
        from transparency.models import LogEventData

        register(world.a, "A-FRA", FRANKFURT, "DE")
        response = world.a.post(
            "/api/v1/declarations/", {"facility": "A-FRA", "as_of": ago(days=2), "chips": [world.chip]}
        )
        assert response.status_code == 201, response.content
        register(world.c, "C-PAR", (48.85, 2.35), "FR")
        response = world.a.post(
            "/api/v1/transfers/",
            {
                "receiver": "op-c",
                "shipped_at": ago(hours=5),
                "chips": [world.chip],
                "export_authorisation": approved_export(world.users["op_a_admin"], "op-c", [world.chip]),
            },
        )
        assert response.status_code == 201, response.content
        transfer = response.json()["id"]
        assert (response.json()["origin_country"], response.json()["destination_country"]) == ("DE", "US")
        received = world.c.post(
            f"/api/v1/transfers/{transfer}/receive/",
            {"received_at": ago(hours=1), "facility": "C-PAR", "chips": [world.chip]},
        )
        assert received.status_code == 200, received.content
        assert Chip.objects.get(serial="HOLE000000").country == "FR"
        insp_fr = api(world.users["insp_fr"])
        assert [t["id"] for t in insp_fr.get("/api/v1/transfers/").json()["results"]] == [transfer]
        receipt = LogEventData.objects.get(event="transfer.received")
        assert insp_fr.get(f"/api/v1/log/entries/{receipt.index}").status_code == 200


def test_only_the_receiver_confirms_whatever_facility_another_party_names(world, api):
    """A client written from the README, 2026-12-07: the shipper, the treaty body or an inspectorate naming a
    facility in a receipt was told "No facility ... in your view" (404), false for the treaty body, which sees
    every facility; the same receipt naming none answered that only the receiver confirms. One answer now, asked
    first: 403, whatever the facility, and nothing received."""
    transfer = ship(world.a, "op-c", "C-RES", world.chip, ago(hours=30))
    treaty = api(world.users["treaty"])
    for client in (world.a, treaty, world.b):
        for facility in ("C-RES", "A-ASH", "NO-SUCH-SITE", None):
            body = {"received_at": ago(hours=20), "chips": [world.chip]}
            if facility is not None:
                body["facility"] = facility
            response = client.post(f"/api/v1/transfers/{transfer}/receive/", body)
            if client is world.b:  # no party to it: the transfer is not in its view
                assert response.status_code == 404, response.content
                continue
            assert response.status_code == 403, (facility, response.content)
            assert response.json()["detail"] == "Only the receiver confirms a transfer.", response.content
    assert Chip.objects.get(serial="HOLE000000").status == "in_transit"
