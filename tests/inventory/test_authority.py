"""Issue 15 in the inventory, each attack performed as the hostile party with its own real token.

- item 6: a squatter merges another operator's sites into a campus, walks away, and reads the campus;
- item 2: errors that told a party who runs a facility, or that a facility code exists;
- item 7: finding resolutions without a log event, and Django admin edits to inventory records;
- robustness: the receiver of a transfer could not see the findings about it; hand-made cursors.
"""

import base64
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from compliance.models import Aggregate, Alert
from inventory.models import AnyFinding, Campus, Facility, Inspection, Placement, Transfer
from outbox.relay import drain_all
from registry.models import Chip
from registry.registration import register_chips
from tests.factories import OrganisationFactory, UserFactory, approved_export, chip_rows
from transparency.models import LogEventData, LogLeaf

# Two sites of op-a 8 km apart (not one campus at 5 km), and the spot midway where op-b squats.
A_WEST, A_EAST, MIDWAY = (39.0, -77.0), (39.0, -76.9075), (39.0, -76.95375)
KANSAS = (39.0, -94.4)  # about 1,500 km west


def iso(dt):
    return dt.isoformat().replace("+00:00", "Z")


def register(client, code, point, country="US"):
    lat, lon = point
    response = client.post(
        "/api/v1/facilities/", {"code": code, "name": code, "country": country, "latitude": lat, "longitude": lon}
    )
    assert response.status_code == 201, response.content
    return response.json()


def declare(client, facility, chips):
    when = iso(timezone.now() - timedelta(hours=1))
    response = client.post("/api/v1/declarations/", {"facility": facility, "as_of": when, "chips": chips})
    assert response.status_code == 201, response.content


def log_bodies(client):
    """Every log event this client may read, as the API serves them."""
    bodies = []
    for index in LogEventData.objects.order_by("index").values_list("index", flat=True):
        response = client.get(f"/api/v1/log/entries/{index}")
        if response.status_code == 200:
            bodies.append(json.dumps(response.json()["data"]))
    return bodies


@pytest.fixture
def sites(api, parties):
    """op-a runs A-SITE-W and A-SITE-E (8 km apart), 10 H100s in each; the treaty's campus line is 16 H100s."""
    campus_rule(parties.users["treaty"])
    parties.a, parties.b = api(parties.users["op_a_admin"]), api(parties.users["op_b"])
    register(parties.a, "A-SITE-W", A_WEST)
    register(parties.a, "A-SITE-E", A_EAST)
    register_chips(chip_rows("ASITE", 20), parties.users["op_a_admin"])
    chips = [f"nvidia:ASITE{i:06d}" for i in range(20)]
    declare(parties.a, "A-SITE-W", chips[:10])
    declare(parties.a, "A-SITE-E", chips[10:])
    drain_all()
    assert not Campus.objects.filter(facilities__isnull=False).exists()
    return parties


def campus_rule(treaty):
    """The draft treaty's line on campuses alone (the preset now measures covered clusters, campuses among
    them: tests/compliance/test_covered_clusters.py)."""
    from datetime import UTC, datetime

    from compliance import services

    services.declare(
        treaty,
        "treaty-covered-cluster-campus",
        name="Covered chip cluster (campus)",
        metric="tpp",
        scope="campus",
        comparison="gt",
        value=253_440,
        severity="high",
        effective_from=datetime(2025, 1, 1, tzinfo=UTC),
    )


def campus_alerts():
    return Alert.objects.filter(rule__key="treaty-covered-cluster-campus")


class TestCampusSquatting:
    def test_a_squatter_merges_nothing_for_longer_than_it_stays_and_learns_no_codes(self, api, sites):
        a_codes = ("A-SITE-W", "A-SITE-E")
        register(sites.b, "B-SQUAT", MIDWAY)
        west, east, squat = (Facility.objects.get(code=c) for c in (*a_codes, "B-SQUAT"))
        assert west.campus_id and west.campus_id == east.campus_id == squat.campus_id
        campus = west.campus
        drain_all()
        # A site of several operators is the treaty's and the inspectorates' concern, not an alert against op-a.
        alert = campus_alerts().get(subject_key=str(campus.pk))
        assert alert.operator_id is None
        assert api(sites.users["op_a_admin"]).get("/api/v1/alerts/").json()["results"] == []
        assert [x["id"] for x in api(sites.users["treaty"]).get("/api/v1/alerts/").json()["results"]] == [alert.pk]

        # The squatter sees its own facility in the campus, and nothing of op-a's: not in the API, not in the code,
        # not in any log event it may read.
        listed = sites.b.get("/api/v1/campuses/").json()["results"]
        assert [(c["code"], c["facilities"]) for c in listed] == [(campus.code, ["B-SQUAT"])]
        assert sites.b.get(f"/api/v1/campuses/{campus.code}/").json()["facilities"] == ["B-SQUAT"]
        assert not any(code in campus.code or code in campus.name for code in a_codes)
        seen_by_b = log_bodies(sites.b)
        assert any("B-SQUAT" in body and campus.code in body for body in seen_by_b)
        assert not [body for body in seen_by_b if any(code in body for code in a_codes)]
        # op-a sees its two facilities in it, not the squatter's; the treaty body sees all three.
        assert api(sites.users["op_a_admin"]).get(f"/api/v1/campuses/{campus.code}/").json()["facilities"] == [
            "A-SITE-E",
            "A-SITE-W",
        ]
        everything = api(sites.users["treaty"]).get(f"/api/v1/campuses/{campus.code}/").json()["facilities"]
        assert everything == ["A-SITE-E", "A-SITE-W", "B-SQUAT"]

        # The squatter walks away 1,500 km: op-a's sites are two sites again, and the campus alert clears.
        response = sites.b.patch("/api/v1/facilities/B-SQUAT/", {"latitude": KANSAS[0], "longitude": KANSAS[1]})
        assert response.status_code == 200, response.content
        assert response.json()["campus"] is None
        assert set(Facility.objects.filter(code__in=[*a_codes, "B-SQUAT"]).values_list("campus", flat=True)) == {None}
        drain_all()
        assert Aggregate.objects.get(scope="campus", subject_key=str(campus.pk)).chip_count == 0
        alert.refresh_from_db()
        assert alert.cleared_at is not None
        assert sites.b.get("/api/v1/campuses/").json()["results"] == []
        assert not [body for body in log_bodies(sites.b) if any(code in body for code in a_codes)]
        # The treaty body can prove what happened: the campus was dissolved, with what it held.
        dissolved = LogEventData.objects.get(event="campus.dissolved", object_id=campus.code)
        assert json.loads(dissolved.data_jcs)["before"] == ["A-SITE-E", "A-SITE-W", "B-SQUAT"]
        assert dissolved.parties == [] and dissolved.countries == ["US"]

    def test_moving_next_to_a_site_and_away_again_leaves_an_own_campus_whole(self, api, sites):
        """op-a's own adjacent buildings stay one campus when a third party comes and goes."""
        register(sites.a, "A-SITE-W2", (39.0, -76.98))  # 1.7 km from A-SITE-W
        campus = Facility.objects.get(code="A-SITE-W").campus
        assert campus is not None and Facility.objects.get(code="A-SITE-W2").campus == campus
        register(sites.b, "B-SQUAT", MIDWAY)
        assert set(Campus.objects.get(pk=campus.pk).facilities.values_list("code", flat=True)) == {
            "A-SITE-W",
            "A-SITE-W2",
            "A-SITE-E",
            "B-SQUAT",
        }
        response = sites.b.patch("/api/v1/facilities/B-SQUAT/", {"latitude": KANSAS[0], "longitude": KANSAS[1]})
        assert response.status_code == 200, response.content
        assert set(Campus.objects.get(pk=campus.pk).facilities.values_list("code", flat=True)) == {
            "A-SITE-W",
            "A-SITE-W2",
        }
        assert Facility.objects.get(code="A-SITE-E").campus is None
        # op-a hears of its own facilities only, in events that name it.
        mine = [json.loads(b) for b in log_bodies(sites.a) if '"campus"' in b and "operator" in b]
        assert mine and all(set(e["facilities"]) <= {"A-SITE-W", "A-SITE-W2", "A-SITE-E"} for e in mine)
        assert not [b for b in log_bodies(sites.a) if "B-SQUAT" in b]


class TestErrorsSayNoMoreThanNotYours:
    @pytest.fixture
    def world(self, api, parties):
        parties.op_c = OrganisationFactory(code="op-c", kind="operator", country="US")
        parties.a, parties.b = api(parties.users["op_a_admin"]), api(parties.users["op_b"])
        register(parties.a, "US-VA-001", (38.95, -77.45))
        register(parties.b, "DE-FRA-001", (50.11, 8.68), "DE")
        register_chips(chip_rows("BSHIP", 1), parties.users["op_b"])
        return parties

    def test_a_transfer_error_does_not_tell_who_runs_a_facility(self, world):
        def ship(destination):
            body = {
                "receiver": "op-c",
                "destination_facility": destination,
                "shipped_at": iso(timezone.now() - timedelta(hours=1)),
                "chips": ["nvidia:BSHIP000000"],
            }
            return world.b.post("/api/v1/transfers/", body)

        someone_elses, nobodys = ship("US-VA-001"), ship("NO-SUCH-SITE")
        assert someone_elses.status_code == nobodys.status_code == 400
        assert someone_elses.json()["code"] == nobodys.json()["code"] == "unknown_facility"
        assert "op-a" not in someone_elses.content.decode()
        assert someone_elses.json()["detail"].replace("US-VA-001", "X") == nobodys.json()["detail"].replace(
            "NO-SUCH-SITE", "X"
        )
        assert not Transfer.objects.exists()
        assert Chip.objects.get(serial="BSHIP000000").status != "in_transit"

    def test_a_cluster_error_does_not_tell_which_facility_codes_exist(self, world):
        someone_elses = world.b.post("/api/v1/clusters/", {"code": "k", "facility": "US-VA-001"})
        nobodys = world.b.post("/api/v1/clusters/", {"code": "k", "facility": "NO-SUCH-SITE"})
        assert someone_elses.status_code == nobodys.status_code == 400
        assert someone_elses.json()["errors"]["facility"] == [
            e.replace("NO-SUCH-SITE", "US-VA-001") for e in nobodys.json()["errors"]["facility"]
        ]

    def test_listings_and_inspections_of_anothers_facility_look_like_no_facility(self, api, world):
        when = iso(timezone.now() - timedelta(hours=1))
        for facility in ("US-VA-001", "NO-SUCH-SITE"):
            response = world.b.post("/api/v1/declarations/", {"facility": facility, "as_of": when, "chips": []})
            # The README's answer for a declaration: 400 invalid, "You run no facility ...".
            assert (response.status_code, response.json()["code"]) == (400, "invalid")
            assert response.json()["detail"] == f"facility: You run no facility {facility}."
            response = api(world.users["insp_fr"]).post(
                "/api/v1/inspections/", {"facility": facility, "performed_at": when, "observed": []}
            )
            assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_the_receiver_sees_the_findings_about_its_transfer(api, parties):
    a, b = api(parties.users["op_a_admin"]), api(parties.users["op_b"])
    register(a, "US-VA-001", (38.95, -77.45))
    register(b, "DE-FRA-001", (50.11, 8.68), "DE")
    register_chips(chip_rows("LOST", 2), parties.users["op_b"])
    ids = ["nvidia:LOST000000", "nvidia:LOST000001"]
    shipped = b.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-a",
            "destination_facility": "US-VA-001",
            "shipped_at": iso(timezone.now() - timedelta(days=2)),
            "chips": ids,
            "export_authorisation": approved_export(
                parties.users["op_b"], "op-a", ids, destination_facility="US-VA-001"
            ),
        },
    )
    assert shipped.status_code == 201, shipped.content
    received = a.post(
        f"/api/v1/transfers/{shipped.json()['id']}/receive/",
        {"received_at": iso(timezone.now() - timedelta(days=1)), "facility": "US-VA-001", "chips": ids[:1]},
    )
    assert received.status_code == 200, received.content
    never = AnyFinding.objects.get(kind="never_received")
    for party in (a, b):
        listed = party.get("/api/v1/findings/?kind=never_received").json()["results"]
        assert [(f["id"], f["chip"]) for f in listed] == [(never.pk, ids[1])]
    # A third operator sees nothing of it.
    outsider = api(UserFactory(organisation=OrganisationFactory(code="op-c", kind="operator")))
    assert outsider.get("/api/v1/findings/").json()["results"] == []


def test_resolving_a_finding_is_a_log_event_its_parties_and_inspectorates_read(api, parties):
    a = api(parties.users["op_a_admin"])
    register(a, "US-VA-001", (38.95, -77.45))
    declare(a, "US-VA-001", ["nvidia:GHOST000001"])
    finding = AnyFinding.objects.get(kind="unknown_chip")
    leaves = LogLeaf.objects.count()
    response = api(parties.users["insp_us"]).post(f"/api/v1/findings/{finding.pk}/resolve/", {"reason": "a typo"})
    assert response.status_code == 200, response.content
    assert LogLeaf.objects.count() == leaves + 1
    event = LogEventData.objects.get(event="finding.resolved", object_id=f"finding:{finding.pk}")
    data = json.loads(event.data_jcs)
    assert (data["reason"], data["facility"], data["by_organisation"]) == ("a typo", "US-VA-001", "insp-us")
    for reader in ("op_a_member", "insp_us", "treaty"):
        assert api(parties.users[reader]).get(f"/api/v1/log/entries/{event.index}").status_code == 200, reader
    for outsider in ("op_b", "insp_fr"):
        assert api(parties.users[outsider]).get(f"/api/v1/log/entries/{event.index}").status_code == 403, outsider
    # Refused resolutions leave no event.
    assert (
        api(parties.users["insp_us"]).post(f"/api/v1/findings/{finding.pk}/resolve/", {"reason": "again"}).status_code
        == 409
    )
    assert a.post(f"/api/v1/findings/{finding.pk}/resolve/", {"reason": "mine"}).status_code == 403
    assert LogLeaf.objects.count() == leaves + 1


def test_the_findings_list_pages_findings_of_both_tables_in_id_order(api, parties):
    """A finding about a chip and one about no registered chip are stored apart (docs/scaling.md, "Rows without a
    chip"); the list shows both, one id sequence, page by page, and either resolves in its own table."""
    from inventory.models import ChiplessFinding, Finding

    a = api(parties.users["op_a_admin"])
    register(a, "US-VA-001", (38.95, -77.45))
    register_chips(chip_rows("PAGE", 2), parties.users["op_a_admin"])
    declare(a, "US-VA-001", ["nvidia:PAGE000000", "nvidia:PAGE000001"])
    declare(a, "US-VA-001", ["nvidia:PAGE000001", "nvidia:GHOST000001"])  # PAGE000000 unaccounted, a ghost
    chip_finding = Finding.objects.get(kind="unaccounted")
    chipless = ChiplessFinding.objects.get(kind="unknown_chip")
    assert chip_finding.chip.serial == "PAGE000000" and chipless.chip_ref == "nvidia:GHOST000001"
    inspector = api(parties.users["insp_us"])
    seen, url = [], "/api/v1/findings/?limit=1"
    while url:
        page = inspector.get(url).json()
        seen += [(f["id"], f["kind"], f["chip"]) for f in page["results"]]
        url = page["next"]
    assert seen == sorted(
        [(chip_finding.pk, "unaccounted", "nvidia:PAGE000000"), (chipless.pk, "unknown_chip", "nvidia:GHOST000001")]
    )
    for finding in (chip_finding, chipless):
        resolved = inspector.post(f"/api/v1/findings/{finding.pk}/resolve/", {"reason": "counted again"})
        assert resolved.status_code == 200, resolved.content
        assert (
            resolved.json()["id"] == finding.pk and resolved.json()["resolved_by"] == parties.users["insp_us"].username
        )
        finding.refresh_from_db()
        assert finding.resolution == "counted again"
    assert inspector.get("/api/v1/findings/?open=true").json()["results"] == []


def test_cluster_changes_are_logged_with_what_they_were(api, parties):
    a = api(parties.users["op_a_admin"])
    register(a, "US-VA-001", (38.95, -77.45))
    created = a.post("/api/v1/clusters/", {"code": "k1", "facility": "US-VA-001", "interconnect_gbps": 400})
    assert created.status_code == 201, created.content
    leaves = LogLeaf.objects.count()
    assert a.patch(f"/api/v1/clusters/{created.json()['id']}/", {"interconnect_gbps": 400}).status_code == 200
    assert LogLeaf.objects.count() == leaves  # nothing changed, nothing logged
    response = a.patch(f"/api/v1/clusters/{created.json()['id']}/", {"interconnect_gbps": 3200, "purpose": "training"})
    assert response.status_code == 200, response.content
    event = LogEventData.objects.get(event="cluster.updated")
    data = json.loads(event.data_jcs)
    assert (data["before"]["interconnect_gbps"], data["interconnect_gbps"], data["purpose"]) == (400, 3200, "training")
    assert event.parties == ["op-a"] and event.countries == ["US"]
    b = api(parties.users["op_b"])
    assert b.patch(f"/api/v1/clusters/{created.json()['id']}/", {"interconnect_gbps": 1}).status_code == 404


class TestDjangoAdminIsReadOnly:
    """A superuser's admin edit would change a record inspectors rely on without a log event: admin refuses."""

    @pytest.fixture
    def admin(self, api, parties):
        a = api(parties.users["op_a_admin"])
        register(a, "US-VA-001", (38.95, -77.45))
        register(api(parties.users["op_b"]), "DE-FRA-001", (50.11, 8.68), "DE")
        register_chips(chip_rows("ADM", 1), parties.users["op_a_admin"])
        declare(a, "US-VA-001", ["nvidia:ADM000000", "nvidia:GHOST000002"])
        b = api(parties.users["op_b"])
        register_chips(chip_rows("ADMB", 1), parties.users["op_b"])
        shipped = b.post(
            "/api/v1/transfers/",
            {
                "receiver": "op-a",
                "shipped_at": iso(timezone.now() - timedelta(hours=2)),
                "chips": ["nvidia:ADMB000000"],
                "export_authorisation": approved_export(parties.users["op_b"], "op-a", ["nvidia:ADMB000000"]),
            },
        )
        assert shipped.status_code == 201, shipped.content
        inspected = api(parties.users["insp_us"]).post(
            "/api/v1/inspections/",
            {"facility": "US-VA-001", "performed_at": iso(timezone.now() - timedelta(hours=1)), "observed": []},
        )
        assert inspected.status_code == 201, inspected.content
        root = UserFactory(username="root", organisation=None, is_superuser=True, is_staff=True)
        client = Client()
        client.force_login(root)
        return client

    @pytest.mark.parametrize(
        "model,lookup,edit",
        [
            ("facility", lambda: Facility.objects.get(code="US-VA-001"), {"country": "CA", "name": "moved"}),
            ("inspection", lambda: Inspection.objects.get(), {"notes": "rewritten", "observed_count": 0}),
            ("anyfinding", lambda: AnyFinding.objects.first(), {"resolution": "gone", "kind": "unexpected"}),
            ("placement", lambda: Placement.objects.first(), {"source_id": "forged"}),
            ("transfer", lambda: Transfer.objects.get(), {"status": "received"}),
        ],
    )
    def test_change_add_and_delete_are_refused(self, admin, model, lookup, edit):
        row = lookup()
        before = {k: getattr(row, k) for k in edit}
        leaves = LogLeaf.objects.count()
        base = f"/admin/inventory/{model}/"
        assert admin.get(base).status_code == 200  # looking is fine
        assert admin.get(f"{base}{row.pk}/change/").status_code == 200
        assert admin.post(f"{base}{row.pk}/change/", edit).status_code == 403
        assert admin.post(f"{base}{row.pk}/delete/", {"post": "yes"}).status_code == 403
        assert admin.post(f"{base}add/", edit).status_code == 403
        bulk = admin.post(base, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"})
        assert bulk.status_code in (200, 302)
        row.refresh_from_db()
        assert {k: getattr(row, k) for k in edit} == before
        assert type(row).objects.filter(pk=row.pk).exists()
        assert LogLeaf.objects.count() == leaves


@pytest.mark.parametrize(
    "path", ["/api/v1/transfers/", "/api/v1/placements/", "/api/v1/facilities/US-VA-001/inventory/"]
)
# Not values of the ordering field (an integer id; a transfer's UUID): DRF put them in the query as they
# stood (500). The fix is core.pagination's (i15-robust); these are the inventory's lists, UUID-keyed included.
@pytest.mark.parametrize("position", ["abc", "1e5", "9" * 30, "00000000-0000-0000-0000-00000000000g"])
def test_hand_made_cursors_are_bad_requests(api, parties, path, position):
    register(api(parties.users["op_a_admin"]), "US-VA-001", (38.95, -77.45))
    client = api(parties.users["op_a_admin"])
    client.client.raise_request_exception = False
    cursor = base64.b64encode(f"o=0&p={position}".encode()).decode()
    response = client.get(f"{path}?cursor={cursor}")
    assert response.status_code == 400, (response.status_code, response.content[:200])
    assert response["Content-Type"] == "application/problem+json"
