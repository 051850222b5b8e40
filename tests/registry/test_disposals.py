"""Chips leave the books only with evidence (issue #19): disposal requests and their witness, lost and
stolen chips on the watch list and seen again, manufacturers' reports."""

import base64
import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from compliance.models import Aggregate, Alert
from inventory.chiprefs import parse_listing
from inventory.models import AnyFinding, Facility
from inventory.services.continuity import find_silent_chips
from inventory.services.listings import record_declaration, record_inspection
from inventory.services.watch import find_unreported
from outbox.relay import drain_all
from registry.models import Chip, DisposalRequest
from registry.registration import register_chips
from tests.attestations.conftest import World
from tests.factories import approved_export, chip_rows
from transparency.models import LogEventData

PDF = b"%PDF-1.4 certificate of destruction"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def b64(data):
    return base64.b64encode(data).decode()


def ids(prefix, n):
    return [f"nvidia:{prefix}{i:06d}" for i in range(n)]


@pytest.fixture
def books(api, parties):
    """op-a holds 20 H100s declared in US-VA-001 (US); op-b (DE) holds 5 of its own."""
    op = parties.users["op_a_admin"]
    fac = Facility.objects.create(
        code="US-VA-001", name="VA", operator=parties.op_a, country="US", latitude=38.95, longitude=-77.45
    )
    register_chips(chip_rows("D", 20), op)
    register_chips(chip_rows("OB", 5), parties.users["op_b"])
    record_declaration(op, fac, timezone.now() - timedelta(days=1), parse_listing(ids("D", 20), 1_000_000))
    drain_all()
    parties.fac = fac
    return parties


def ask(client, chips, kind="destroyed", attachments=None, **extra):
    body = {
        "kind": kind,
        "chips": chips,
        "method": "shredded",
        "place": "Recycler Inc., Ashburn VA",
        "date": timezone.localdate().isoformat(),
        "attachments": attachments
        if attachments is not None
        else [
            {"name": "certificate.pdf", "content_type": "application/pdf", "content": b64(PDF)},
            {"name": "photo.png", "content_type": "image/png", "content": b64(PNG)},
        ],
        **extra,
    }
    return client.post("/api/v1/disposals/", body)


def facility_total(fac):
    return Aggregate.objects.get(scope="facility", subject_key=str(fac.pk)).chip_count


def test_direct_status_to_destroyed_is_refused(api, books):
    op = api(books.users["op_a_admin"])
    for status in ("destroyed", "decommissioned"):
        response = op.patch("/api/v1/chips/nvidia:D000000/", {"status": status, "reason": "gone"})
        assert response.status_code == 409 and response.json()["code"] == "disposal_by_request"
    assert Chip.objects.get(serial="D000000").status == "installed"


def test_unwitnessed_destruction_leaves_chips_in_every_total(api, books):
    op = api(books.users["op_a_admin"])
    assert facility_total(books.fac) == 20
    response = ask(op, ids("D", 10))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "pending" and body["chip_count"] == 10 and body["country"] == "US"
    assert [a["sha256"] for a in body["attachments"]] == [
        hashlib.sha256(PDF).hexdigest(),
        hashlib.sha256(PNG).hexdigest(),
    ]
    drain_all()
    # Nothing left the books: status, facility and operator-country totals, the silence check.
    assert set(Chip.objects.filter(serial__startswith="D").values_list("status", flat=True)) == {"installed"}
    assert facility_total(books.fac) == 20
    assert Aggregate.objects.get(scope="operator_country", subject_key=f"{books.op_a.pk}:US").chip_count == 20
    Chip.objects.filter(serial__startswith="D").update(last_verified_at=timezone.now() - timedelta(days=30))
    find_silent_chips()
    silent = set(AnyFinding.objects.filter(kind="silent_chip").values_list("chip_ref", flat=True))
    assert set(ids("D", 10)) <= silent
    # The request is logged, committing to the chips and the attachments' digests.
    event = LogEventData.objects.get(event="disposal.requested")
    assert event.index == body["log_index"]
    assert f'"{hashlib.sha256(PDF).hexdigest()}"' in event.data_jcs
    # A chip in a pending request is not asked for twice.
    again = ask(op, ids("D", 1))
    assert again.status_code == 409 and again.json()["code"] == "already_requested"
    # It is on the witnesses' queue: the US inspectorate's and the treaty body's, not France's.
    pending = lambda user: [r["id"] for r in api(user).get("/api/v1/disposals/?state=pending").json()["results"]]  # noqa: E731
    assert pending(books.users["insp_us"]) == [body["id"]]
    assert pending(books.users["treaty"]) == [body["id"]]
    assert pending(books.users["insp_fr"]) == []
    assert pending(books.users["op_b"]) == []


def test_witnessed_destruction_removes_chips_with_evidence_reachable(api, books):
    op = api(books.users["op_a_admin"])
    request = ask(op, ids("D", 10)).json()
    insp = api(books.users["insp_us"])
    response = insp.post(f"/api/v1/disposals/{request['id']}/accept/", {"reason": "witnessed on site"})
    assert response.status_code == 200, response.content
    decided = response.json()
    assert decided["state"] == "accepted" and decided["decided_by_organisation"] == "insp-us"
    drain_all()
    assert Chip.objects.filter(serial__in=[c.split(":")[1] for c in ids("D", 10)], status="destroyed").count() == 10
    assert facility_total(books.fac) == 10
    # From the chip's history: the change names the request and the log entry of the acceptance.
    history = op.get("/api/v1/chips/nvidia:D000000/history/").json()["results"]
    last = history[-1]
    assert last["after"] == {"status": "destroyed", "disposal": request["id"]}
    assert last["log_index"] == decided["decision_log_index"]
    # From the request: its evidence, byte for byte.
    got = op.get(f"/api/v1/disposals/{request['id']}/attachments/0/")
    assert got.status_code == 200 and got.content == PDF
    assert got["Content-Type"] == "application/octet-stream"
    # From the log: the acceptance commits to the request's log entry and its attachments' digests.
    event = LogEventData.objects.get(index=decided["decision_log_index"])
    assert event.event == "disposal.accepted"
    assert hashlib.sha256(PNG).hexdigest() in event.data_jcs
    assert f'"requested_log_index":{request["log_index"]}' in event.data_jcs
    # Decided once.
    again = insp.post(f"/api/v1/disposals/{request['id']}/refuse/", {"reason": "no"})
    assert again.status_code == 409 and again.json()["code"] == "already_decided"


def test_a_chip_disposed_of_already_or_listed_twice_is_refused_and_nothing_logged(api, books):
    """A request to destroy a destroyed chip could never be accepted (its witness would find it changed): refused
    as the transition it is, before anything is written or logged; a chip listed twice is a row error, as in a
    shipment's list, not merged without a word (clients written from the README met both)."""
    op, insp = api(books.users["op_a_admin"]), api(books.users["insp_us"])
    request = ask(op, ids("D", 2)).json()
    assert insp.post(f"/api/v1/disposals/{request['id']}/accept/", {"reason": "seen"}).status_code == 200
    before = (DisposalRequest.objects.count(), LogEventData.objects.count())
    again = ask(op, ids("D", 1))
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition", again.content
    assert "destroyed already" in again.json()["detail"]
    twice = ask(op, [ids("D", 5)[4], ids("D", 5)[3], ids("D", 5)[4]], kind="decommissioned")
    assert twice.status_code == 400 and twice.json()["code"] == "invalid_rows", twice.content
    assert twice.json()["errors"] == [{"row": 3, "message": "nvidia:D000004 is listed twice."}]
    assert (DisposalRequest.objects.count(), LogEventData.objects.count()) == before


def test_refused_request_leaves_chips_and_needs_a_reason(api, books):
    op = api(books.users["op_a_admin"])
    request = ask(op, ids("D", 2), kind="decommissioned").json()
    treaty = api(books.users["treaty"])
    missing = treaty.post(f"/api/v1/disposals/{request['id']}/refuse/", {})
    assert missing.status_code == 400 and missing.json()["code"] == "reason_required"
    response = treaty.post(f"/api/v1/disposals/{request['id']}/refuse/", {"reason": "photos show other serials"})
    assert response.status_code == 200 and response.json()["state"] == "refused"
    assert set(Chip.objects.filter(serial__in=["D000000", "D000001"]).values_list("status", flat=True)) == {"installed"}
    assert LogEventData.objects.filter(event="disposal.refused").exists()
    # Refused, the chips may be asked for again.
    assert ask(op, ids("D", 2), kind="decommissioned").status_code == 201


def test_request_needs_evidence_and_good_files(api, books):
    op = api(books.users["op_a_admin"])
    none = ask(op, ids("D", 1), attachments=[])
    assert none.status_code == 400 and none.json()["code"] == "evidence_required"
    fake = ask(
        op, ids("D", 1), attachments=[{"name": "c.pdf", "content_type": "application/pdf", "content": b64(b"MZ")}]
    )
    assert fake.status_code == 400 and fake.json()["code"] == "attachment_type"
    assert not DisposalRequest.objects.exists()


def test_attack_another_operator_requests_destruction_of_chips_it_does_not_hold(api, books):
    intruder = api(books.users["op_b"])
    response = ask(intruder, ["nvidia:D000000", "nvidia:NOSUCH000001"])
    assert response.status_code == 400 and response.json()["code"] == "unknown_chips"
    # The refusal reads the same for a chip another holds and for one that does not exist.
    assert "You hold no chip" in response.json()["detail"]
    assert not DisposalRequest.objects.exists()
    # Inspectors and the treaty body hold no chips: they do not ask either; read-only users write nothing.
    for user in ("insp_us", "treaty", "op_a_readonly"):
        assert ask(api(books.users[user]), ids("D", 1)).status_code == 403


def test_attack_witnesses_of_another_country_or_of_its_own_request(api, books):
    op = api(books.users["op_a_admin"])
    request = ask(op, ids("D", 3)).json()
    path = f"/api/v1/disposals/{request['id']}/accept/"
    # France's inspectorate does not see a US request: the same 404 as none.
    assert api(books.users["insp_fr"]).post(path, {}).status_code == 404
    assert api(books.users["insp_fr"]).get(f"/api/v1/disposals/{request['id']}/").status_code == 404
    # The requester (and its colleagues) never witness their own word.
    for user in ("op_a_admin", "op_a_member"):
        response = api(books.users[user]).post(path, {})
        assert response.status_code == 403 and response.json()["code"] == "not_witness"
    # Another operator sees nothing of it.
    assert api(books.users["op_b"]).post(path, {}).status_code == 404
    assert api(books.users["op_b"]).get(f"/api/v1/disposals/{request['id']}/attachments/0/").status_code == 404
    assert DisposalRequest.objects.get().state == "pending"
    assert Chip.objects.get(serial="D000000").status == "installed"


def test_lost_chip_is_alerted_and_on_the_watch_list(api, books):
    op = api(books.users["op_a_admin"])
    response = op.patch("/api/v1/chips/nvidia:D000005/", {"status": "stolen", "reason": "truck hijacked"})
    assert response.status_code == 200
    finding = AnyFinding.objects.get(kind="lost_or_stolen")
    assert finding.chip_ref == "nvidia:D000005" and finding.country == "US" and finding.organisation == books.op_a
    drain_all()
    alert = Alert.objects.get(group__startswith="lost_or_stolen:")
    assert alert.severity == "high" and alert.country == "US"
    # Its subject named by the party and country, not the organisation's row id ("3:US").
    assert (alert.subject_label, alert.title) == ("op-a in US", "1 finding(s) at op-a in US: Reported lost or stolen")
    assert api(books.users["insp_us"]).get(f"/api/v1/alerts/{alert.pk}/").status_code == 200
    assert api(books.users["treaty"]).get(f"/api/v1/alerts/{alert.pk}/").status_code == 200
    watch = lambda user: [e["id"] for e in api(user).get("/api/v1/watchlist/").json()["results"]]  # noqa: E731
    assert watch(books.users["op_a_member"]) == ["nvidia:D000005"]
    assert watch(books.users["insp_us"]) == ["nvidia:D000005"]
    assert watch(books.users["treaty"]) == ["nvidia:D000005"]
    entry = api(books.users["treaty"]).get("/api/v1/watchlist/nvidia:D000005/").json()
    assert entry["status"] == "stolen" and entry["log_index"] is not None
    # Stolen chips still count nowhere they are not: the alert is what keeps them in view.
    # Attack: another operator and another country's inspectorate read nothing of it.
    assert watch(books.users["op_b"]) == []
    assert watch(books.users["insp_fr"]) == []
    assert api(books.users["op_b"]).get("/api/v1/watchlist/nvidia:D000005/").status_code == 404
    assert api(books.users["insp_fr"]).get("/api/v1/watchlist/nvidia:D000005/").status_code == 404


def test_lost_chip_sighted_by_an_inspection_is_critical(api, books):
    api(books.users["op_a_admin"]).patch("/api/v1/chips/nvidia:D000001/", {"status": "lost", "reason": "missing"})
    record_inspection(
        books.users["insp_us"],
        books.fac,
        timezone.now() - timedelta(minutes=1),
        parse_listing(["nvidia:D000001"], 1_000_000),
    )
    found = AnyFinding.objects.get(kind="lost_chip_sighted")
    assert found.organisation == books.op_a and found.country == "US" and found.source == "inspection"
    drain_all()
    assert Alert.objects.get(group__startswith="lost_chip_sighted:").severity == "critical"


@pytest.fixture
def world(api, parties):
    return World(api, parties)


def test_stolen_chip_seen_in_another_operators_statement(api, world, parties):
    """op-b's chip, reported stolen in Germany, turns up in op-a's statement in the US: a critical finding for
    op-b and both countries' inspectorates; op-a learns only `other_operator`, as for any chip not its own."""
    op_b = world.op_b
    assert op_b.patch("/api/v1/chips/nvidia:B000000/", {"status": "stolen", "reason": "burglary"}).status_code == 200
    response, _ = world.submit(world.op_a, world.location(["nvidia:B000000", "nvidia:A000000"]))
    assert response.status_code == 201, response.content
    assert response.json()["flags"] == {"other_operator": 1}
    sighted = AnyFinding.objects.filter(kind="lost_chip_sighted")
    assert {f.country for f in sighted} == {"US", "DE"}
    assert {f.organisation_id for f in sighted} == {parties.op_b.pk}
    assert all(f.other_organisation_id is None for f in sighted)
    drain_all()
    alerts = Alert.objects.filter(group__startswith="lost_chip_sighted:")
    assert {a.country for a in alerts} == {"US", "DE"} and {a.severity for a in alerts} == {"critical"}
    kinds = lambda user: {f["kind"] for f in api(user).get("/api/v1/findings/").json()["results"]}  # noqa: E731
    assert "lost_chip_sighted" in kinds(parties.users["op_b"])
    assert "lost_chip_sighted" in kinds(parties.users["insp_us"])
    assert "lost_chip_sighted" in kinds(parties.users["treaty"])
    # The reporter reads nothing of the stolen chip: no finding, no alert, no watch list entry.
    assert "lost_chip_sighted" not in kinds(parties.users["op_a_admin"])
    assert "lost_or_stolen" not in kinds(parties.users["op_a_admin"])
    op_a_alerts = {a["id"] for a in world.op_a.get("/api/v1/alerts/").json()["results"]}
    assert not op_a_alerts & set(alerts.values_list("pk", flat=True))
    assert world.op_a.get("/api/v1/watchlist/").json()["results"] == []
    # The holder learns the country and the time, not whose facility.
    detail = AnyFinding.objects.get(kind="lost_chip_sighted", country="DE")
    assert "US-VA-001" not in detail.detail and "op-a" not in detail.detail
    assert detail.facility_id is None


def test_manufacturer_reports_resolve_unreported_findings(api, parties):
    op = parties.users["op_a_admin"]
    register_chips(chip_rows("MR", 3), op)
    # No manufacturer reports yet: nobody is a reporting party, and nothing is a finding (the fixtures'
    # chips of makers outside chipreg's reporting are not suspects).
    assert find_unreported(grace_days=0) == 0
    maker = api(parties.users["nvidia"])
    response = maker.post("/api/v1/manufacturer-reports/", {"serials": ["mr000000", "OTHER-1"]})
    assert response.status_code == 201 and response.json()["added"] == 2
    assert LogEventData.objects.get(index=response.json()["log_index"]).event == "chips.manufacturer_reported"
    # Now nvidia reports: its chips registered by others and never reported are findings.
    assert find_unreported(grace_days=0) == 2
    assert set(AnyFinding.objects.filter(kind="unreported_chip").values_list("chip_ref", flat=True)) == {
        "nvidia:MR000001",
        "nvidia:MR000002",
    }
    # Its later report resolves them.
    assert maker.post("/api/v1/manufacturer-reports/", {"serials": ["MR000001"]}).status_code == 201
    open_refs = AnyFinding.objects.filter(kind="unreported_chip", resolved_at__isnull=True)
    assert set(open_refs.values_list("chip_ref", flat=True)) == {"nvidia:MR000002"}
    # Reported again: kept, not repeated.
    again = maker.post("/api/v1/manufacturer-reports/", {"serials": ["MR000001"]})
    assert again.status_code == 200 and again.json()["added"] == 0
    # Attack: only a manufacturer reports, and only its own make; others read nothing of its reports.
    for user in ("op_a_admin", "insp_us", "treaty"):
        denied = api(parties.users[user]).post("/api/v1/manufacturer-reports/", {"serials": ["X12345"]})
        assert denied.status_code == 403
    assert api(parties.users["op_a_admin"]).get("/api/v1/manufacturer-reports/").json()["results"] == []
    assert len(api(parties.users["treaty"]).get("/api/v1/manufacturer-reports/").json()["results"]) == 3


def test_console_witness_accepts_and_the_watch_list_shows_lost_chips(api, books, client):
    """The console's pages: the US inspector sees the request awaiting witness with its evidence and accepts
    it; France's sees neither the request nor the watch list entry; the holder has no accept form."""
    op = api(books.users["op_a_admin"])
    request = ask(op, ids("D", 2)).json()
    op.patch("/api/v1/chips/nvidia:D000009/", {"status": "lost", "reason": "missing"})
    client.force_login(books.users["op_a_admin"])
    page = client.get("/disposals/").content.decode()
    assert "shredded" in page and "Witnessed: accept" not in page
    assert client.post(f"/disposals/{request['id']}/accept/", {"reason": "mine"}).status_code == 403
    assert "nvidia:D000009" in client.get("/watchlist/").content.decode()
    client.force_login(books.users["insp_fr"])
    assert "shredded" not in client.get("/disposals/").content.decode()
    assert "nvidia:D000009" not in client.get("/watchlist/").content.decode()
    assert client.post(f"/disposals/{request['id']}/accept/", {"reason": "x"}).status_code == 404
    client.force_login(books.users["insp_us"])
    page = client.get("/disposals/").content.decode()
    assert "Witnessed: accept" in page and "certificate.pdf" in page
    statuses = {c.status for c in Chip.objects.filter(serial__in=["D000000", "D000001"])}
    assert f"2 {statuses.pop()}" in page and not statuses  # the witness is told what the chips were when asked
    assert client.get(f"/disposals/{request['id']}/attachments/0/").content == PDF
    response = client.post(f"/disposals/{request['id']}/accept/", {"reason": "seen shredded"})
    assert response.status_code == 302
    assert DisposalRequest.objects.get().state == "accepted"
    assert set(Chip.objects.filter(serial__in=["D000000", "D000001"]).values_list("status", flat=True)) == {"destroyed"}


def test_chip_reported_lost_in_transit_then_received_is_a_sighting(api, books):
    """op-a ships a chip to op-b and reports it lost on the way; op-b's receipt lists it: the receiver has
    seen a lost chip (critical), and custody does not move to op-b by a stale confirmation."""
    Facility.objects.create(
        code="DE-FRA-001", name="FRA", operator=books.op_b, country="DE", latitude=50.11, longitude=8.68
    )
    op_a, op_b = api(books.users["op_a_admin"]), api(books.users["op_b"])
    now = timezone.now()
    licence = approved_export(
        books.users["op_a_admin"], "op-b", ["nvidia:D000007"], "US-VA-001", "DE-FRA-001", reference="US-LIC-7"
    )
    transfer = op_a.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-b",
            "origin_facility": "US-VA-001",
            "destination_facility": "DE-FRA-001",
            "shipped_at": (now - timedelta(hours=3)).isoformat(),
            "chips": ["nvidia:D000007"],
            "export_authorisation": licence,  # a cross-border shipment (inventory.services.exports)
        },
    )
    assert transfer.status_code == 201, transfer.content
    assert op_a.patch("/api/v1/chips/nvidia:D000007/", {"status": "lost", "reason": "fell off"}).status_code == 200
    received = op_b.post(
        f"/api/v1/transfers/{transfer.json()['id']}/receive/",
        {"received_at": (now - timedelta(hours=1)).isoformat(), "facility": "DE-FRA-001", "chips": ["nvidia:D000007"]},
    )
    assert received.status_code == 200, received.content
    sighted = AnyFinding.objects.filter(kind="lost_chip_sighted", chip_ref="nvidia:D000007")
    assert {f.country for f in sighted} == {"US", "DE"} and {f.organisation_id for f in sighted} == {books.op_a.pk}
    assert Chip.objects.get(serial="D000007").custodian_id == books.op_a.pk


def test_lists_query_count_is_constant(api, books, django_assert_max_num_queries):
    op = api(books.users["op_a_admin"])
    for i in range(4):
        assert ask(op, [f"nvidia:D{i:06d}"]).status_code == 201
        op.patch(f"/api/v1/chips/nvidia:D{10 + i:06d}/", {"status": "lost", "reason": "gone"})
    treaty = api(books.users["treaty"])
    with django_assert_max_num_queries(8):
        assert len(treaty.get("/api/v1/disposals/").json()["results"]) == 4
    with django_assert_max_num_queries(8):
        assert len(treaty.get("/api/v1/watchlist/").json()["results"]) == 4


def test_chips_shipped_after_the_request_cannot_be_accepted(api, books):
    """Asked destroyed, then shipped: the shipment waits for the witness (409 disposal_pending:
    tests/registry/test_disposal_custody.py); and chips the books say are on their way elsewhere (as earlier data,
    or a lost report, may have them) the witness cannot accept."""
    op = api(books.users["op_a_admin"])
    request = ask(op, ids("D", 1)).json()
    licence = approved_export(books.users["op_a_admin"], "op-b", ids("D", 1), "US-VA-001", reference="US-LIC-8")
    shipped = op.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-b",
            "origin_facility": "US-VA-001",
            "shipped_at": (timezone.now() - timedelta(hours=1)).isoformat(),
            "chips": ids("D", 1),
            "export_authorisation": licence,  # op-b is abroad (inventory.services.exports)
        },
    )
    assert shipped.status_code == 409 and shipped.json()["code"] == "disposal_pending", shipped.content
    Chip.objects.filter(serial="D000000").update(status="in_transit")  # on its way, as shipped before the rule
    response = api(books.users["treaty"]).post(f"/api/v1/disposals/{request['id']}/accept/", {})
    assert response.status_code == 409 and response.json()["code"] == "chips_changed"
    assert Chip.objects.get(serial="D000000").status == "in_transit"
    assert DisposalRequest.objects.get().state == "pending"


def test_a_request_with_every_attachment_at_its_largest_is_accepted(api, books, settings):
    """The body limit of the endpoint admits what its own limits allow: the most files, each the largest."""
    most, largest = settings.CHIPREG_DISPOSAL_ATTACHMENTS_MAX, settings.CHIPREG_DISPOSAL_ATTACHMENT_MAX_BYTES
    files = [
        {
            "name": f"photo{i}.pdf",
            "content_type": "application/pdf",
            "content": b64(PDF + b"\x00" * (largest - len(PDF))),
        }
        for i in range(most)
    ]
    response = ask(api(books.users["op_a_admin"]), ids("D", 1), attachments=files)
    assert response.status_code == 201, response.content[:300]
    assert len(response.json()["attachments"]) == most
    # One byte more in one file is that file's refusal, not the body's.
    files[0]["content"] = b64(PDF + b"\x00" * (largest + 1 - len(PDF)))
    refused = ask(api(books.users["op_a_admin"]), ids("D", 2)[1:], attachments=files)
    assert (refused.status_code, refused.json()["code"]) == (413, "attachment_too_large")
