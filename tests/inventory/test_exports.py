"""Exports (issue 19): a cross-border transfer ships only under an export authorisation the exporting country's
inspectorate approved; a receipt across a border without one is recorded all the same, with findings and
alerts for both countries; the treaty body's destination rules forbid approvals and flag receipts."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from compliance.models import Alert, DestinationRule
from inventory.models import AnyFinding, ExportAuthorisation, Transfer
from outbox.relay import drain_all
from registry.models import Chip
from registry.registration import register_chips
from tests.factories import OrganisationFactory, UserFactory, chip_rows
from transparency.models import LogEventData, LogLeaf

US_SITE, DE_SITE, B_US_SITE, FR_SITE = "A-ASH", "B-FRA", "B-RES", "B-PAR"


def ago(**kw):
    return (timezone.now() - timedelta(**kw)).isoformat()


@pytest.fixture
def world(api, parties):
    """op-a (US) holds 3 chips at its Ashburn site; op-b (DE) runs sites in Frankfurt, Reston (US) and Paris;
    op-c is a third operator; insp-de is Germany's inspectorate."""
    parties.insp_de = OrganisationFactory(code="insp-de", kind="inspectorate", country="DE", jurisdictions=["DE"])
    parties.op_c = OrganisationFactory(code="op-c", kind="operator", country="US")
    parties.users["insp_de"] = UserFactory(organisation=parties.insp_de, role="member")
    parties.users["op_c"] = UserFactory(organisation=parties.op_c, role="admin")
    parties.a, parties.b = api(parties.users["op_a_admin"]), api(parties.users["op_b"])
    for client, code, country, lat, lon in (
        (parties.a, US_SITE, "US", 39.04, -77.49),
        (parties.b, DE_SITE, "DE", 50.11, 8.68),
        (parties.b, B_US_SITE, "US", 38.95, -77.35),
        (parties.b, FR_SITE, "FR", 48.85, 2.35),
    ):
        response = client.post(
            "/api/v1/facilities/",
            {"code": code, "name": code, "country": country, "latitude": lat, "longitude": lon},
        )
        assert response.status_code == 201, response.content
    register_chips(chip_rows("EXP", 3), parties.users["op_a_admin"])
    parties.chips = [f"nvidia:EXP{i:06d}" for i in range(3)]
    response = parties.a.post(
        "/api/v1/declarations/", {"facility": US_SITE, "as_of": ago(days=2), "chips": parties.chips}
    )
    assert response.status_code == 201, response.content
    return parties


def request(world, chips=None, facility=DE_SITE, reference="US-BIS-2026-0042"):
    return world.a.post(
        "/api/v1/export-authorisations/",
        {"receiver": "op-b", "destination_facility": facility, "reference": reference, "chips": chips or world.chips},
    )


def requested(world, **kw):
    response = request(world, **kw)
    assert response.status_code == 201, response.content
    return response.json()


def approved(api, world, **kw):
    """Approved, a day before the shipments of these tests (shipped five hours ago): one shipped before its
    approval is an export_unauthorised finding (test_a_shipment_dated_before_its_approval_is_unauthorised)."""
    auth = requested(world, **kw)
    response = api(world.users["insp_us"]).post(f"/api/v1/export-authorisations/{auth['id']}/approve/", {})
    assert response.status_code == 200, response.content
    body = response.json()
    decided = timezone.datetime.fromisoformat(body["decided_at"]) - timedelta(days=1)
    ExportAuthorisation.objects.filter(pk=body["id"]).update(decided_at=decided)
    return {**body, "decided_at": decided.isoformat()}


def ship(world, facility=DE_SITE, licence=None, chips=None):
    body = {"receiver": "op-b", "destination_facility": facility, "shipped_at": ago(hours=5)}
    body["chips"] = chips or world.chips
    if licence:
        body["export_authorisation"] = licence
    return world.a.post("/api/v1/transfers/", body)


def receive(world, transfer, facility):
    response = world.b.post(
        f"/api/v1/transfers/{transfer}/receive/",
        {"received_at": ago(hours=1), "facility": facility, "chips": world.chips},
    )
    assert response.status_code == 200, response.content
    return response.json()


def seen(api, user, path):
    return {row["id"] for row in api(user).get(path).json()["results"]}


# --- the request, and who decides it ----------------------------------------------------------------


def test_a_request_is_logged_for_both_sides_and_decided_by_the_exporting_inspectorate(api, world):
    auth = requested(world)
    assert (auth["status"], auth["origin_country"], auth["destination_country"]) == ("requested", "US", "DE")
    assert auth["chip_models"] == ["nvidia-h100-sxm5-80gb"]
    event = LogEventData.objects.get(event="export.requested", object_id=f"export:{auth['id']}")
    assert (event.parties, event.countries) == (["op-a", "op-b"], ["DE", "US"])
    for role in ("op_a_admin", "op_b", "insp_us", "insp_de", "treaty"):
        assert event.visible_to(world.users[role]), role
    assert not event.visible_to(world.users["op_c"]) and not event.visible_to(world.users["insp_fr"])
    # The US inspectorate's queue holds it; Germany's does not (it sees it, it does not decide it).
    assert auth["id"] in seen(api, world.users["insp_us"], "/api/v1/export-authorisations/?status=requested")
    assert auth["id"] in seen(api, world.users["insp_de"], "/api/v1/export-authorisations/")

    response = api(world.users["insp_us"]).post(
        f"/api/v1/export-authorisations/{auth['id']}/approve/", {"reason": "licence checked"}
    )
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["decided_by_organisation"]) == ("approved", "insp-us")
    decided = LogEventData.objects.get(event="export.approved", object_id=f"export:{auth['id']}")
    assert (decided.parties, decided.countries) == (["op-a", "op-b"], ["DE", "US"])
    # Decided once.
    again = api(world.users["insp_us"]).post(f"/api/v1/export-authorisations/{auth['id']}/refuse/", {"reason": "x"})
    assert (again.status_code, again.json()["code"]) == (409, "already_decided")


def test_an_operator_cannot_approve_its_own_export(api, world):
    auth = requested(world)
    leaves = LogLeaf.objects.count()
    for user in ("op_a_admin", "op_b"):  # the exporter, and the receiver
        response = api(world.users[user]).post(f"/api/v1/export-authorisations/{auth['id']}/approve/", {})
        assert (response.status_code, response.json()["code"]) == (403, "not_exporting_inspectorate"), user
    assert ExportAuthorisation.objects.get(pk=auth["id"]).status == "requested"
    assert LogLeaf.objects.count() == leaves


def test_the_destination_inspectorate_and_the_treaty_body_cannot_approve(api, world):
    auth = requested(world)
    for user in ("insp_de", "treaty"):
        response = api(world.users[user]).post(f"/api/v1/export-authorisations/{auth['id']}/approve/", {})
        assert (response.status_code, response.json()["code"]) == (403, "not_exporting_inspectorate"), user
    assert ExportAuthorisation.objects.get(pk=auth["id"]).status == "requested"


def test_an_inspectorate_of_another_country_cannot_approve_nor_learn_the_export_exists(api, world):
    auth = requested(world)
    insp_fr = api(world.users["insp_fr"])
    response = insp_fr.post(f"/api/v1/export-authorisations/{auth['id']}/approve/", {})
    nothing = insp_fr.post("/api/v1/export-authorisations/00000000-0000-0000-0000-000000000000/approve/", {})
    assert response.status_code == nothing.status_code == 404
    assert response.json()["detail"] == nothing.json()["detail"]
    assert ExportAuthorisation.objects.get(pk=auth["id"]).status == "requested"
    # Even one that also holds the destination's jurisdiction decides nothing: only the origin's.
    world.insp_fr.jurisdictions = ["FR", "DE"]
    world.insp_fr.save()
    response = insp_fr.post(f"/api/v1/export-authorisations/{auth['id']}/approve/", {})
    assert (response.status_code, response.json()["code"]) == (403, "not_exporting_inspectorate")


def test_a_third_operator_cannot_see_the_authorisation(api, world):
    auth = requested(world)
    op_c = api(world.users["op_c"])
    mine = op_c.get(f"/api/v1/export-authorisations/{auth['id']}/")
    none = op_c.get("/api/v1/export-authorisations/00000000-0000-0000-0000-000000000000/")
    assert mine.status_code == none.status_code == 404
    assert (mine.json()["code"], mine.json()["detail"]) == (none.json()["code"], none.json()["detail"])
    assert seen(api, world.users["op_c"], "/api/v1/export-authorisations/") == set()
    assert seen(api, world.users["insp_fr"], "/api/v1/export-authorisations/") == set()


def test_only_the_custodian_requests_and_only_exports(api, world):
    # op-b asks to export op-a's chips: refused, naming no custodian.
    response = api(world.users["op_b"]).post(
        "/api/v1/export-authorisations/",
        {"receiver": "op-c", "reference": "X", "chips": world.chips},
    )
    assert (response.status_code, response.json()["code"]) == (409, "not_in_custody")
    assert "op-a" not in response.content.decode()
    # A transfer within the US is no export.
    response = world.a.post(
        "/api/v1/export-authorisations/",
        {"receiver": "op-b", "destination_facility": B_US_SITE, "reference": "X", "chips": world.chips},
    )
    assert (response.status_code, response.json()["code"]) == (400, "not_an_export")
    # No licence number, missing, null, empty or blank: the documented 400 reference_required, nothing requested
    # (missing or null answered `invalid`, found by a client written from the README).
    for blank in ("", "   ", None):
        response = request(world, reference=blank)
        assert (response.status_code, response.json()["code"]) == (400, "reference_required"), response.content
    response = world.a.post("/api/v1/export-authorisations/", {"receiver": "op-b", "chips": world.chips})
    assert (response.status_code, response.json()["code"]) == (400, "reference_required"), response.content
    for user in ("insp_us", "treaty"):
        response = api(world.users[user]).post(
            "/api/v1/export-authorisations/", {"receiver": "op-b", "reference": "X", "chips": world.chips}
        )
        assert response.status_code == 403, user
    assert not ExportAuthorisation.objects.exists()


# --- shipping -----------------------------------------------------------------------------------------


def test_a_cross_border_shipment_needs_an_approved_authorisation(api, world):
    leaves = LogLeaf.objects.count()
    response = ship(world)
    assert (response.status_code, response.json()["code"]) == (409, "export_not_authorised")
    pending = requested(world)
    response = ship(world, licence=pending["id"])  # requested, not approved
    assert (response.status_code, response.json()["code"]) == (409, "export_not_authorised")
    assert not Transfer.objects.exists()
    assert set(Chip.objects.filter(serial__startswith="EXP").values_list("status", flat=True)) == {"installed"}
    assert LogLeaf.objects.count() == leaves + 1  # the request's event only

    licence = approved(api, world)
    # Not for chips it does not name, nor for another destination.
    extra = ship(world, licence=licence["id"], chips=[*world.chips, "nvidia:EXP999999"])
    assert extra.status_code == 409
    elsewhere = ship(world, facility=FR_SITE, licence=licence["id"])
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (409, "export_not_authorised")
    shipped = ship(world, licence=licence["id"])
    assert shipped.status_code == 201, shipped.content
    assert shipped.json()["export_authorisation"] == licence["id"]
    event = LogEventData.objects.get(event="transfer.shipped")
    assert f'"export_authorisation":"{licence["id"]}"' in event.data_jcs
    # One authorisation, one shipment: received and shipped back, the same chips need a new one.
    received = receive(world, shipped.json()["id"], DE_SITE)
    assert received["received"] == 3
    assert not AnyFinding.objects.filter(kind__startswith="export_").exists()
    assert ExportAuthorisation.objects.get(pk=licence["id"]).transfer_id is not None


def test_a_domestic_shipment_needs_none(world):
    response = ship(world, facility=B_US_SITE)
    assert response.status_code == 201, response.content
    assert response.json()["export_authorisation"] is None


def test_a_domestic_shipment_naming_an_authorisation_is_refused_not_shipped_without_it(api, world):
    """The README: the shipment that names an authorisation ships under it only if it is for this receiver,
    route and destination facility, "else 409 export_not_authorised and nothing ships". A domestic shipment
    naming an export licence is not its route: shipping it anyway, the licence silently dropped, left the
    shipper believing it was used and the licence still open for another shipment."""
    licence = approved(api, world)  # op-a's export to op-b's Frankfurt site
    leaves = LogLeaf.objects.count()
    response = ship(world, facility=B_US_SITE, licence=licence["id"])  # to op-b's US site instead
    assert (response.status_code, response.json()["code"]) == (409, "export_not_authorised"), response.content
    # Its message says what is wrong with it, not that a transfer from US to US needs an approval.
    assert response.json()["detail"].startswith("A transfer within US needs no export authorisation, and one it names")
    assert not Transfer.objects.exists()
    assert set(Chip.objects.filter(serial__startswith="EXP").values_list("status", flat=True)) == {"installed"}
    assert LogLeaf.objects.count() == leaves
    assert ExportAuthorisation.objects.get(pk=licence["id"]).transfer_id is None


def test_another_partys_authorisation_is_no_licence(api, world):
    # A has an approved export to op-b; op-b names it for its own shipment of its own chip to A.
    licence = approved(api, world)
    register_chips(chip_rows("BEX", 1), world.users["op_b"])
    response = world.b.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-a",
            "destination_facility": US_SITE,
            "shipped_at": ago(hours=2),
            "chips": ["nvidia:BEX000000"],
            "export_authorisation": licence["id"],
        },
    )
    assert (response.status_code, response.json()["code"]) == (409, "export_not_authorised")
    assert licence["id"] not in response.content.decode()


# --- receipts without one -------------------------------------------------------------------------


def test_an_unauthorised_export_is_received_with_a_finding_and_an_alert(api, world):
    """Shipped within the US (no authorisation needed), received in Frankfurt: the chips moved, the books
    say so, and both countries' inspectorates and the treaty body get a finding and an alert."""
    shipped = ship(world, facility=B_US_SITE)
    assert shipped.status_code == 201, shipped.content
    received = receive(world, shipped.json()["id"], DE_SITE)
    assert received["received"] == 3
    chip = Chip.objects.get(serial="EXP000000")
    assert (chip.custodian.code, chip.country, chip.status) == ("op-b", "DE", "installed")

    findings = AnyFinding.objects.filter(kind="export_unauthorised")
    assert sorted(findings.values_list("country", "organisation__code")) == [("DE", "op-b"), ("US", "op-a")]
    finding_path = "/api/v1/findings/?kind=export_unauthorised"
    assert len(seen(api, world.users["insp_us"], finding_path)) == 1
    assert len(seen(api, world.users["insp_de"], finding_path)) == 1
    assert len(seen(api, world.users["treaty"], finding_path)) == 2
    assert seen(api, world.users["op_c"], finding_path) == set()

    drain_all()
    alerts = Alert.objects.filter(group__startswith="export_unauthorised:")
    assert sorted(alerts.values_list("country", "severity")) == [("DE", "high"), ("US", "high")]
    alert_path = "/api/v1/alerts/"
    ids = {str(a.pk) for a in alerts}
    as_text = lambda rows: {str(r) for r in rows}  # noqa: E731
    assert len(as_text(seen(api, world.users["treaty"], alert_path)) & ids) == 2
    assert len(as_text(seen(api, world.users["insp_us"], alert_path)) & ids) == 1
    assert len(as_text(seen(api, world.users["insp_de"], alert_path)) & ids) == 1
    assert as_text(seen(api, world.users["insp_fr"], alert_path)) & ids == set()


def test_a_receipt_outside_the_authorised_country_is_unauthorised(api, world):
    licence = approved(api, world)
    shipped = ship(world, licence=licence["id"])
    assert shipped.status_code == 201, shipped.content
    receive(world, shipped.json()["id"], FR_SITE)  # authorised to Germany, arrived in France
    found = {f.country: f for f in AnyFinding.objects.filter(kind="export_unauthorised")}
    assert sorted(found) == ["FR", "US"]
    # The exporting side's finding names the licence; France's inspectorate, which the licence never named and
    # which cannot read it, learns only that nothing authorised the chips to France.
    assert licence["id"] in found["US"].detail and found["US"].evidence["authorisation"] == licence["id"]
    assert found["FR"].detail.endswith("without an export authorisation for FR.")
    leaked = (licence["id"], licence["reference"], "DE")
    assert not any(s in found["FR"].detail or s in str(found["FR"].evidence) for s in leaked)
    for path in ("/api/v1/findings/?kind=export_unauthorised", "/api/v1/alerts/"):
        drain_all()
        body = api(world.users["insp_fr"]).get(path).content.decode()
        assert "export_unauthorised" in body and not any(s in body for s in leaked[:2])


def test_the_arrival_inspectorate_reads_the_transfer_not_the_licence_it_shipped_under(api, world):
    """The finding points France at the transfer, which it reads (received there); the transfer names the
    licence only to those who may read the licence."""
    licence = approved(api, world)
    shipped = ship(world, licence=licence["id"])
    assert shipped.status_code == 201, shipped.content
    assert shipped.json()["export_authorisation"] == licence["id"]  # the shipper reads its own licence
    tid = shipped.json()["id"]
    received = receive(world, tid, FR_SITE)
    assert received["export_authorisation"] == licence["id"]  # so does the receiver
    fr = api(world.users["insp_fr"])
    assert fr.get(f"/api/v1/export-authorisations/{licence['id']}/").status_code == 404
    transfer = fr.get(f"/api/v1/transfers/{tid}/")
    assert transfer.status_code == 200 and transfer.json()["export_authorisation"] is None
    assert licence["id"] not in fr.get("/api/v1/transfers/").content.decode()
    for reader in ("insp_us", "insp_de", "treaty"):
        assert api(world.users[reader]).get(f"/api/v1/transfers/{tid}/").json()["export_authorisation"] == licence["id"]


# --- destination rules --------------------------------------------------------------------------------


def declare_rule(api, world, **extra):
    body = {
        "key": "embargo-de",
        "name": "No accelerators to DE",
        "destinations": ["DE"],
        "effective_from": ago(days=1),
        **extra,
    }
    response = api(world.users["treaty"]).post("/api/v1/destination-rules/", body)
    assert response.status_code == 201, response.content
    return response.json()


def test_destination_rules_are_versioned_logged_and_declared_by_the_treaty_body_only(api, world):
    for user in ("insp_us", "op_a_admin"):
        response = api(world.users[user]).post(
            "/api/v1/destination-rules/",
            {"key": "x", "name": "x", "destinations": ["DE"], "effective_from": ago(days=1)},
        )
        assert response.status_code == 403, user
        assert response.json()["detail"] == "Only treaty bodies declare destination rules.", response.content
    first = declare_rule(api, world)
    second = declare_rule(api, world, destinations=["DE", "FR"], origins=["US"])
    assert (first["version"], second["version"]) == (1, 2)
    assert DestinationRule.objects.get(pk=first["id"]).superseded_at is not None
    assert second["destinations"] == ["DE", "FR"] and second["origins"] == ["US"]
    events = LogEventData.objects.filter(event="destination_rule.declared").order_by("index")
    assert [e.object_id for e in events] == ["destination_rule:embargo-de"] * 2
    assert [r["version"] for r in api(world.users["op_c"]).get("/api/v1/destination-rules/").json()["results"]] == [2]
    bad = api(world.users["treaty"]).post(
        "/api/v1/destination-rules/", {"key": "y", "name": "y", "destinations": ["XX"], "effective_from": ago(days=1)}
    )
    assert bad.status_code == 400
    # A model slug the catalog does not have is refused as a country code is: such a rule would forbid nothing.
    leaves = LogLeaf.objects.count()
    typo = api(world.users["treaty"]).post(
        "/api/v1/destination-rules/", {"key": "y", "name": "y", "destinations": ["FR"], "chip_models": ["h100-typo"]}
    )
    assert (typo.status_code, typo.json()["code"]) == (400, "invalid") and "h100-typo" in typo.content.decode()
    assert LogLeaf.objects.count() == leaves and not DestinationRule.objects.filter(key="y").exists()


def test_a_forbidden_destination_cannot_be_approved(api, world):
    declare_rule(api, world)
    auth = requested(world)
    leaves = LogLeaf.objects.count()
    response = api(world.users["insp_us"]).post(f"/api/v1/export-authorisations/{auth['id']}/approve/", {})
    assert (response.status_code, response.json()["code"]) == (409, "destination_forbidden")
    assert response.json()["rules"] == [{"key": "embargo-de", "version": 1}]
    assert ExportAuthorisation.objects.get(pk=auth["id"]).status == "requested"
    assert LogLeaf.objects.count() == leaves
    # It may still be refused, with a reason.
    response = api(world.users["insp_us"]).post(f"/api/v1/export-authorisations/{auth['id']}/refuse/", {})
    assert response.status_code == 400
    response = api(world.users["insp_us"]).post(
        f"/api/v1/export-authorisations/{auth['id']}/refuse/", {"reason": "embargo-de"}
    )
    assert (response.status_code, response.json()["status"]) == (200, "refused")
    assert LogEventData.objects.filter(event="export.refused").count() == 1
    # Decided, it is that, whatever rule is in force: an approval of it now is already_decided, as with no rule
    # (it answered destination_forbidden while the rule stood).
    response = api(world.users["insp_us"]).post(f"/api/v1/export-authorisations/{auth['id']}/approve/", {})
    assert (response.status_code, response.json()["code"]) == (409, "already_decided")


def test_a_rule_for_other_models_or_origins_does_not_bind(api, world):
    declare_rule(api, world, chip_models=["amd-instinct-mi300x"])
    declare_rule(api, world, key="embargo-fr-origin", origins=["FR"])
    declare_rule(api, world, key="embargo-big", min_tpp=1e9)  # no chip is that large
    approved(api, world)


def test_a_rule_declared_after_the_approval_stops_the_shipment(api, world):
    """An approval is no licence to ship into a destination the treaty body has forbidden since: 409
    destination_forbidden, naming the rule, and nothing shipped (the authorisation stays unused)."""
    licence = approved(api, world)
    rule = declare_rule(api, world, effective_from=ago(minutes=5))
    refused = ship(world, licence=licence["id"])
    assert (refused.status_code, refused.json()["code"]) == (409, "destination_forbidden"), refused.content
    assert refused.json()["rules"] == [{"key": "embargo-de", "version": 1}]
    assert not Transfer.objects.exists()
    assert ExportAuthorisation.objects.get(pk=licence["id"]).transfer_id is None
    assert set(Chip.objects.filter(serial__startswith="EXP").values_list("custodian__code", "status")) == {
        ("op-a", "installed")
    }
    # Once the rule is retired, and with a rule that binds other chips, it ships.
    assert api(world.users["treaty"]).delete(f"/api/v1/destination-rules/{rule['id']}/").status_code == 204
    declare_rule(api, world, key="embargo-other", chip_models=["amd-instinct-mi300x"])
    assert ship(world, licence=licence["id"]).status_code == 201


def test_a_receipt_in_a_forbidden_destination_is_a_critical_finding(api, world):
    # Approved before the rule; the rule in force at the receipt still flags it.
    licence = approved(api, world)
    shipped = ship(world, licence=licence["id"])
    assert shipped.status_code == 201, shipped.content
    declare_rule(api, world, effective_from=ago(hours=3))
    receive(world, shipped.json()["id"], DE_SITE)
    drain_all()
    found = AnyFinding.objects.filter(kind="export_forbidden")
    assert sorted(found.values_list("country", flat=True)) == ["DE", "US"]
    assert found.first().evidence["rules"][0]["key"] == "embargo-de"
    alerts = Alert.objects.filter(group__startswith="export_forbidden:")
    assert sorted(alerts.values_list("country", "severity")) == [("DE", "critical"), ("US", "critical")]
    # Authorised, so no export_unauthorised finding.
    assert not AnyFinding.objects.filter(kind="export_unauthorised").exists()


# --- the console ------------------------------------------------------------------------------------------


def test_the_console_queue_is_the_exporting_inspectorates_to_decide(world):
    from django.test import Client

    auth = requested(world, reference="US-BIS-CONSOLE-7")
    us, de = Client(), Client()
    us.force_login(world.users["insp_us"])
    de.force_login(world.users["insp_de"])
    page = us.get("/exports/").content.decode()
    assert "US-BIS-CONSOLE-7" in page and f"/exports/{auth['id']}/approve/" in page
    # Germany sees the export (it is coming its way) but has nothing to decide.
    page = de.get("/exports/").content.decode()
    assert "US-BIS-CONSOLE-7" in page and f"/exports/{auth['id']}/approve/" not in page
    assert de.post(f"/exports/{auth['id']}/approve/", {"reason": ""}).status_code == 403
    # A refusal must say why; an approval is recorded and logged.
    assert us.post(f"/exports/{auth['id']}/refuse/", {"reason": ""}).status_code == 400
    response = us.post(f"/exports/{auth['id']}/approve/", {"reason": "licence on file"})
    assert response.status_code == 302
    assert ExportAuthorisation.objects.get(pk=auth["id"]).status == "approved"
    assert LogEventData.objects.filter(event="export.approved").count() == 1
    # Nothing pending any more; a third operator's page shows nothing of it.
    assert f"/exports/{auth['id']}/approve/" not in us.get("/exports/").content.decode()
    other = Client()
    other.force_login(world.users["op_c"])
    assert "US-BIS-CONSOLE-7" not in other.get("/exports/").content.decode()
    assert other.post(f"/exports/{auth['id']}/refuse/", {"reason": "x"}).status_code == 404


def test_the_list_costs_the_same_queries_for_one_row_or_many(api, world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries():
        client = api(world.users["treaty"])
        with CaptureQueriesContext(connection) as captured:
            rows = client.get("/api/v1/export-authorisations/").json()["results"]
        return len(captured), rows

    requested(world, chips=world.chips[:1])
    one, rows = queries()
    assert rows[0]["chip_count"] == 1 and "chips" not in rows[0]
    for i in range(1, 3):
        licence = approved(api, world, chips=[world.chips[i]])
        assert licence["chips"] == [world.chips[i]]
    many, rows = queries()
    assert len(rows) == 3 and many == one


def test_an_authorisation_naming_its_origin_facility_ships_from_there_only(api, world):
    """The inspectorate approved an export from one site: another of the shipper's sites is another export."""
    other = world.a.post(
        "/api/v1/facilities/",
        {"code": "US-VA-OTHER", "name": "Other", "country": "US", "latitude": 38.9, "longitude": -77.2},
    )
    assert other.status_code == 201, other.content
    body = {"receiver": "op-b", "destination_facility": DE_SITE, "reference": "US-BIS-7", "chips": world.chips}
    auth = world.a.post("/api/v1/export-authorisations/", {**body, "origin_facility": US_SITE}).json()
    assert (
        api(world.users["insp_us"]).post(f"/api/v1/export-authorisations/{auth['id']}/approve/", {}).status_code == 200
    )
    shipment = {"receiver": "op-b", "destination_facility": DE_SITE, "shipped_at": ago(hours=5), "chips": world.chips}
    # Moved to the other site after the approval, the chips do not leave from there under it.
    declare = lambda code, hours: world.a.post(  # noqa: E731
        "/api/v1/declarations/", {"facility": code, "as_of": ago(hours=hours), "chips": world.chips}
    )
    assert declare("US-VA-OTHER", 12).status_code == 201
    elsewhere = world.a.post(
        "/api/v1/transfers/", {**shipment, "origin_facility": "US-VA-OTHER", "export_authorisation": auth["id"]}
    )
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (409, "export_not_authorised")
    # Nor by naming the approved site they are not at (test_origin_facility_where_the_chips_are_not).
    named = world.a.post(
        "/api/v1/transfers/", {**shipment, "origin_facility": US_SITE, "export_authorisation": auth["id"]}
    )
    assert (named.status_code, named.json()["code"]) == (400, "origin_mismatch")
    assert not Transfer.objects.exists()
    # Back at the approved site, they ship under it.
    assert declare(US_SITE, 8).status_code == 201
    named = world.a.post(
        "/api/v1/transfers/", {**shipment, "origin_facility": US_SITE, "export_authorisation": auth["id"]}
    )
    assert named.status_code == 201, named.content


# --- a licence for a time, and withdrawn ----------------------------------------------------------------------


def test_an_approval_lapses(api, world, settings):
    """An approval is valid until its `valid_until` (the default term when the inspectorate names none): after
    it, judged by the registry's clock, the shipment is refused, whatever `shipped_at` the shipper claims."""
    settings.CHIPREG_EXPORT_VALIDITY_DAYS = 30
    insp = api(world.users["insp_us"])
    default = approved(api, world)
    decided = ExportAuthorisation.objects.get(pk=default["id"]).decision_log_index
    event = LogEventData.objects.get(index=decided)
    logged = json.loads(event.data_jcs)
    assert timezone.datetime.fromisoformat(logged["valid_until"]) == timezone.datetime.fromisoformat(
        logged["decided_at"]
    ) + timedelta(days=30)
    event = LogEventData.objects.filter(event="export.approved").latest("pk")
    logged = timezone.datetime.fromisoformat(json.loads(event.data_jcs)["valid_until"])
    assert logged == timezone.datetime.fromisoformat(default["valid_until"])

    pending = requested(world, reference="US-BIS-2026-0043")
    for bad in (ago(hours=1), (timezone.now() + timedelta(days=31)).isoformat()):
        refused = insp.post(f"/api/v1/export-authorisations/{pending['id']}/approve/", {"valid_until": bad})
        assert refused.status_code == 400, refused.content
    assert ExportAuthorisation.objects.get(pk=pending["id"]).status == "requested"
    soon = (timezone.now() + timedelta(days=2)).isoformat()
    short = insp.post(f"/api/v1/export-authorisations/{pending['id']}/approve/", {"valid_until": soon}).json()
    assert short["status"] == "approved"

    ExportAuthorisation.objects.filter(pk=short["id"]).update(valid_until=timezone.now() - timedelta(minutes=1))
    response = ship(world, licence=short["id"])  # shipped_at five hours ago, before it lapsed: no matter
    assert (response.status_code, response.json()["code"]) == (409, "export_not_authorised")
    assert "lapsed" in response.json()["detail"]
    assert not Transfer.objects.exists()
    assert ship(world, licence=default["id"]).status_code == 201


def test_the_exporting_inspectorate_revokes_an_unused_approval(api, world):
    licence = approved(api, world)
    path = f"/api/v1/export-authorisations/{licence['id']}/revoke/"
    for user, status, code in (
        ("op_a_admin", 403, "not_exporting_inspectorate"),  # the exporter keeps no say over its licence
        ("op_b", 403, "not_exporting_inspectorate"),
        ("insp_de", 403, "not_exporting_inspectorate"),  # the destination's inspectorate
        ("treaty", 403, "not_exporting_inspectorate"),
        ("op_c", 404, None),  # a third party does not learn it exists
    ):
        response = api(world.users[user]).post(path, {"reason": "sanctioned"})
        assert response.status_code == status, (user, response.content)
        assert code is None or response.json()["code"] == code
    insp = api(world.users["insp_us"])
    assert insp.post(path, {}).status_code == 400  # a revocation says why
    assert ExportAuthorisation.objects.get(pk=licence["id"]).status == "approved"

    revoked = insp.post(path, {"reason": "receiver sanctioned since"})
    assert revoked.status_code == 200, revoked.content
    body = revoked.json()
    assert (body["status"], body["revoked_by_organisation"], body["revocation_reason"]) == (
        "revoked",
        "insp-us",
        "receiver sanctioned since",
    )
    event = LogEventData.objects.get(event="export.revoked")
    assert "receiver sanctioned since" in event.data_jcs
    assert body["revocation_log_index"] == event.index
    response = ship(world, licence=licence["id"])
    assert (response.status_code, response.json()["code"]) == (409, "export_not_authorised")
    again = insp.post(path, {"reason": "twice"})
    assert (again.status_code, again.json()["code"]) == (409, "not_revocable")


def test_a_refusal_or_revocation_without_a_reason_is_reason_required(api, world):
    """Missing, null, empty or blank: 400 reason_required, as the service answers (the refusal's serializer
    answered `invalid` before the service saw it); nothing is decided or revoked."""
    insp = api(world.users["insp_us"])
    pending = requested(world)
    licence = approved(api, world, reference="US-BIS-2026-0045")
    for path in (f"{pending['id']}/refuse/", f"{licence['id']}/revoke/"):
        for body in ({}, {"reason": ""}, {"reason": " \t\n"}, {"reason": None}):
            response = insp.post(f"/api/v1/export-authorisations/{path}", body)
            assert (response.status_code, response.json()["code"]) == (400, "reason_required"), (path, body)
    assert ExportAuthorisation.objects.get(pk=pending["id"]).status == "requested"
    assert ExportAuthorisation.objects.get(pk=licence["id"]).status == "approved"
    assert not LogEventData.objects.filter(event__in=["export.refused", "export.revoked"]).exists()


def test_a_used_or_undecided_authorisation_is_not_revoked(api, world):
    insp = api(world.users["insp_us"])
    pending = requested(world)
    response = insp.post(f"/api/v1/export-authorisations/{pending['id']}/revoke/", {"reason": "no"})
    assert (response.status_code, response.json()["code"]) == (409, "not_revocable")
    licence = approved(api, world, reference="US-BIS-2026-0044")
    assert ship(world, licence=licence["id"]).status_code == 201
    response = insp.post(f"/api/v1/export-authorisations/{licence['id']}/revoke/", {"reason": "too late"})
    assert (response.status_code, response.json()["code"]) == (409, "not_revocable")
    assert ExportAuthorisation.objects.get(pk=licence["id"]).status == "approved"


def test_a_shipment_dated_before_its_approval_is_unauthorised(api, world):
    """(Review of session 12.) op-a's chips left for Germany; days later it asks for an authorisation, the US
    inspectorate approves it, and op-a records the shipment with its true `shipped_at`, before the approval
    existed. The registry records what happened (the shipment stands, under that licence), but a licence granted
    after the fact does not authorise the crossing: the exporting side gets an export_unauthorised finding (the
    US inspectorate's, the treaty body's alert). Shipped after the approval, none."""
    auth = requested(world)
    response = api(world.users["insp_us"]).post(f"/api/v1/export-authorisations/{auth['id']}/approve/", {})
    licence = response.json()
    decided = timezone.datetime.fromisoformat(licence["decided_at"])
    body = {
        "receiver": "op-b",
        "destination_facility": DE_SITE,
        "shipped_at": (decided - timedelta(days=1)).isoformat(),  # after the chips were declared
        "chips": world.chips,
        "export_authorisation": licence["id"],
    }
    shipped = world.a.post("/api/v1/transfers/", body)
    assert shipped.status_code == 201, shipped.content
    drain_all()
    [finding] = AnyFinding.objects.filter(kind="export_unauthorised")
    assert (finding.country, finding.organisation.code, finding.other_organisation.code) == ("US", "op-a", "op-b")
    assert "before authorisation" in finding.detail and licence["id"] in finding.detail
    assert Alert.objects.filter(kind="finding", country="US").exists()
    # The receipt under it, in the authorised country, adds nothing more.
    receive(world, shipped.json()["id"], DE_SITE)
    assert AnyFinding.objects.filter(kind__startswith="export_").count() == 1


# --- the chips' models as the registry has them now (review r1) ------------------------------------------

H100, H20 = "nvidia-h100-sxm5-80gb", "nvidia-h20"


def correct_model(api, world, user, model):
    for chip in world.chips:
        response = api(world.users[user]).patch(f"/api/v1/chips/{chip}/", {"model": model, "reason": "review"})
        assert response.status_code == 200, response.content


def test_an_approval_judges_the_chips_models_as_corrected_since_the_request(api, world):
    """(Review r1.) op-a's H100s carry the H20 label when it asks to export them to Germany, where a rule forbids
    H100s: the request names h20. NVIDIA corrects the chips to H100 before the US inspectorate decides. The
    approval judges the chips as the registry has them now, not the label the request froze: 409
    destination_forbidden, nothing logged, and the authorisation stays requested."""
    correct_model(api, world, "treaty", H20)  # as if op-a had registered them as H20s
    declare_rule(api, world, chip_models=[H100])
    auth = requested(world)
    assert auth["chip_models"] == [H20]
    correct_model(api, world, "nvidia", H100)
    leaves = LogLeaf.objects.count()
    response = api(world.users["insp_us"]).post(f"/api/v1/export-authorisations/{auth['id']}/approve/", {})
    assert (response.status_code, response.json()["code"]) == (409, "destination_forbidden"), response.content
    assert ExportAuthorisation.objects.get(pk=auth["id"]).status == "requested"
    assert LogLeaf.objects.count() == leaves


def test_a_shipment_judges_the_chips_models_as_corrected_since_the_approval(api, world):
    """(Review r1.) Approved while the chips were labelled H20; NVIDIA corrects them to H100, which a rule in force
    forbids to Germany: the shipment is refused (409 destination_forbidden, nothing shipped), as it is for a rule
    declared since the approval."""
    correct_model(api, world, "treaty", H20)
    declare_rule(api, world, chip_models=[H100])
    licence = approved(api, world)
    assert licence["chip_models"] == [H20]
    correct_model(api, world, "nvidia", H100)
    refused = ship(world, licence=licence["id"])
    assert (refused.status_code, refused.json()["code"]) == (409, "destination_forbidden"), refused.content
    assert refused.json()["rules"] == [{"key": "embargo-de", "version": 1}]
    assert not Transfer.objects.exists()
    assert ExportAuthorisation.objects.get(pk=licence["id"]).transfer_id is None


def test_an_approval_records_the_models_it_judged(api, world):
    """(Review r1.) The approval's log event names the models the rules were checked against: those the chips have
    at the approval, beside those the request named."""
    correct_model(api, world, "treaty", H20)
    auth = requested(world)
    correct_model(api, world, "nvidia", H100)
    response = api(world.users["insp_us"]).post(f"/api/v1/export-authorisations/{auth['id']}/approve/", {})
    assert response.status_code == 200, response.content
    assert response.json()["chip_models"] == sorted([H20, H100])
    event = LogEventData.objects.get(event="export.approved")
    assert json.loads(event.data_jcs)["chip_models"] == sorted([H20, H100])


def test_a_party_that_exports_nothing_learns_nothing_of_a_receivers_facilities(api, world):
    """(Review r1.) France's inspectorate may not see op-b's facilities in the US or Germany. Asking for an export
    to op-b naming a facility code, it is refused as a party that exports nothing, the same whether op-b runs a
    facility of that code or none does: not 400 `unknown_facility` for one and 403 for the other."""
    insp_fr = api(world.users["insp_fr"])
    answers = []
    for code in (B_US_SITE, DE_SITE, "NO-SUCH-SITE"):
        response = insp_fr.post(
            "/api/v1/export-authorisations/",
            {"receiver": "op-b", "destination_facility": code, "reference": "X", "chips": world.chips},
        )
        answers.append((response.status_code, response.json()["code"], response.json()["detail"].replace(code, "")))
    assert answers[0][0] == 403, answers
    assert answers[0] == answers[1] == answers[2], answers
    assert not ExportAuthorisation.objects.exists()


def test_a_party_that_ships_nothing_learns_nothing_of_a_receivers_facilities(api, world):
    """(Review r1.) The same probe through a shipment: France's inspectorate ships nothing, and is refused alike
    whether op-b runs the facility it names or none does (not 409 `not_in_custody` for one and 400
    `unknown_facility` for the other)."""
    insp_fr = api(world.users["insp_fr"])
    answers = []
    for code in (B_US_SITE, DE_SITE, "NO-SUCH-SITE"):
        response = insp_fr.post(
            "/api/v1/transfers/",
            {"receiver": "op-b", "destination_facility": code, "shipped_at": ago(hours=5), "chips": world.chips},
        )
        answers.append((response.status_code, response.json()["code"], response.json()["detail"].replace(code, "")))
    assert answers[0][0] == 403, answers
    assert answers[0] == answers[1] == answers[2], answers
    assert not Transfer.objects.exists()
