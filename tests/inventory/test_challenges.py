"""Challenge inspections (issue 19): who requests, who answers, the clocks, the record, seals."""

from datetime import timedelta

import pytest
from django.utils import timezone

from compliance.challenge_alerts import escalate_challenges, sync
from compliance.models import Alert
from inventory.models import AnyFinding, ChallengeInspection
from outbox.relay import drain_all
from registry.registration import register_chips
from tests.factories import OrganisationFactory, UserFactory, chip_rows
from transparency.models import LogEventData

LYON = {"latitude": 45.76, "longitude": 4.84}  # no registered facility; France


def iso(dt):
    return dt.isoformat().replace("+00:00", "Z")


@pytest.fixture
def world(api, parties):
    a = api(parties.users["op_a_admin"])
    for client, code, country, lat, lon in (
        (a, "US-VA-001", "US", 38.95, -77.45),
        (api(parties.users["op_b"]), "DE-FRA-001", "DE", 50.11, 8.68),
    ):
        response = client.post(
            "/api/v1/facilities/", {"code": code, "name": code, "country": country, "latitude": lat, "longitude": lon}
        )
        assert response.status_code == 201, response.content
    parties.insp_de = OrganisationFactory(code="insp-de", kind="inspectorate", country="DE", jurisdictions=["DE"])
    parties.users["insp_de"] = UserFactory(organisation=parties.insp_de, role="member")
    parties.a = a
    parties.as_ = lambda role: api(parties.users[role])
    return parties


def _request(client, **body):
    return client.post("/api/v1/challenge-inspections/", {"reason": "a tip says so", "case": "CASE-1", **body})


def _events(pk):
    return list(
        LogEventData.objects.filter(object_id=f"challenge:{pk}").order_by("index").values_list("event", flat=True)
    )


def test_a_request_without_a_reason_is_reason_required(world):
    """Missing, null, empty or blank: 400 reason_required, the code every decision that needs a reason answers."""
    for reason in ({}, {"reason": ""}, {"reason": " \t\n"}, {"reason": None}):
        response = world.as_("treaty").post("/api/v1/challenge-inspections/", {"facility": "US-VA-001", **reason})
        assert (response.status_code, response.json()["code"]) == (400, "reason_required"), reason
    assert not ChallengeInspection.objects.exists()


def test_treaty_requests_a_facility_and_the_clocks_follow_the_cwc(world, settings):
    response = _request(world.as_("treaty"), facility="US-VA-001")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["state"], body["operator"], body["country"], body["case_ref"]) == (
        "requested",
        "op-a",
        "US",
        "CASE-1",
    )
    row = ChallengeInspection.objects.get(pk=body["id"])
    assert row.acknowledge_by - row.requested_at == timedelta(hours=12)
    assert row.access_by - row.requested_at == timedelta(hours=12 + 108)
    assert body["clock"]["step"] == "acknowledge" and not body["clock"]["overdue"]
    assert 11.9 * 3600 < body["clock"]["seconds_left"] <= 12 * 3600
    # Notified: a log event the operator reads, and an alert it sees (raised from the outbox event).
    event = LogEventData.objects.get(object_id=f"challenge:{row.pk}", event="challenge.requested")
    assert event.visible_to(world.users["op_a_member"]) and event.visible_to(world.users["insp_us"])
    assert not event.visible_to(world.users["op_b"]) and not event.visible_to(world.users["insp_fr"])
    [notice] = sync(row.pk)
    assert notice.kind == "challenge" and notice.operator_id == world.op_a.pk
    alerts = world.as_("op_a_member").get("/api/v1/alerts/").json()["results"]
    assert notice.pk in [a["id"] for a in alerts]
    assert sync(row.pk) == []  # once


def test_who_may_request(world):
    # An operator never requests; an inspectorate only as the treaty body's rule allows.
    assert _request(world.a, facility="DE-FRA-001").status_code == 403
    refused = _request(world.as_("insp_de"), **LYON)
    assert (refused.status_code, refused.json()["code"]) == (403, "not_allowed_by_rule")
    assert world.as_("insp_us").post("/api/v1/challenge-rules/", {"allowed": []}).status_code == 403
    rule = world.as_("treaty").post(
        "/api/v1/challenge-rules/", {"allowed": [{"inspectorate": "insp-de", "countries": ["FR"]}], "reason": "r"}
    )
    assert rule.status_code == 201, rule.content
    assert rule.json()["version"] == 1
    assert LogEventData.objects.filter(event="challenge_rule.declared").count() == 1
    allowed = _request(world.as_("insp_de"), **LYON)
    assert allowed.status_code == 201, allowed.content
    assert (allowed.json()["country"], allowed.json()["operator"], allowed.json()["rule_version"]) == ("FR", None, 1)
    # Not in the US: a US facility is one it is not told exists; nor may another inspectorate request.
    assert _request(world.as_("insp_de"), facility="US-VA-001").status_code == 404
    assert _request(world.as_("insp_de"), facility="NO-SUCH").status_code == 404
    assert _request(world.as_("insp_fr"), **LYON).status_code == 403
    # A new version without insp-de takes the right away.
    world.as_("treaty").post("/api/v1/challenge-rules/", {"allowed": []})
    assert _request(world.as_("insp_de"), **LYON).status_code == 403
    assert ChallengeInspection.objects.count() == 1


def test_only_the_party_concerned_answers_and_third_parties_see_nothing(world):
    pk = _request(world.as_("treaty"), facility="US-VA-001").json()["id"]
    url = f"/api/v1/challenge-inspections/{pk}/"
    # Another operator, a manufacturer, another country's inspectorate: as if it did not exist.
    for role in ("op_b", "nvidia", "insp_fr"):
        assert world.as_(role).get(url).status_code == 404
        assert world.as_(role).get("/api/v1/challenge-inspections/").json()["results"] == []
        assert world.as_(role).post(url + "acknowledge/", {}).status_code == 404
        assert world.as_(role).get("/api/v1/challenge-inspections/999999/").status_code == 404
    # The host inspectorate and the requester see it but do not answer for the operator; nor does read-only.
    assert world.as_("insp_us").get(url).status_code == 200
    assert world.as_("insp_us").post(url + "acknowledge/", {}).status_code == 403
    assert world.as_("treaty").post(url + "access/", {"decision": "granted"}).status_code == 403
    assert world.as_("op_a_readonly").post(url + "acknowledge/", {}).status_code == 403
    assert ChallengeInspection.objects.get(pk=pk).state == "requested"
    done = world.as_("op_a_member").post(url + "acknowledge/", {"note": "team welcome"})
    assert done.status_code == 200 and done.json()["state"] == "acknowledged"
    assert done.json()["clock"]["step"] == "access"
    assert world.as_("op_a_member").post(url + "acknowledge/", {}).status_code == 409
    # The operator does not record the inspection; nothing is recorded before access.
    record = {"performed_at": iso(timezone.now()), "observed": []}
    assert world.a.post(url + "record/", record).status_code == 403
    assert world.as_("treaty").post(url + "record/", record).json()["code"] == "access_not_granted"
    assert _events(pk) == ["challenge.requested", "challenge.acknowledged"]


def test_acknowledgement_deadline_passed_escalates_once(world):
    pk = _request(world.as_("treaty"), facility="US-VA-001").json()["id"]
    row = ChallengeInspection.objects.get(pk=pk)
    assert escalate_challenges(now=row.acknowledge_by - timedelta(minutes=1)) == [
        a.pk for a in Alert.objects.filter(group=f"challenge:{pk}:requested")
    ]  # before the deadline: only the notice (its outbox event not relayed in this test)
    late = row.acknowledge_by + timedelta(minutes=1)
    raised = escalate_challenges(now=late)
    alert = Alert.objects.get(group=f"challenge:{pk}:acknowledge")
    assert raised == [alert.pk]
    assert (alert.kind, alert.severity, alert.operator_id, alert.country) == ("challenge", "high", world.op_a.pk, "US")
    row.refresh_from_db()
    assert (row.acknowledge_overdue_at, row.acknowledge_alert_id) == (late, alert.pk)
    assert escalate_challenges(now=late + timedelta(hours=1)) == []
    overdue = LogEventData.objects.get(object_id=f"challenge:{pk}", event="challenge.overdue")
    assert overdue.visible_to(world.users["op_a_member"]) and overdue.visible_to(world.users["insp_us"])
    # The operator's page shows it overdue; a late acknowledgement is still taken and marked late.
    shown = world.as_("op_a_member").get(f"/api/v1/challenge-inspections/{pk}/").json()
    assert shown["acknowledge_overdue_at"] is not None
    # Past the access deadline too (never acknowledged): the second clock escalates as well.
    escalate_challenges(now=row.access_by + timedelta(minutes=1))
    assert Alert.objects.filter(group=f"challenge:{pk}:access").exists()


def test_refusal_is_an_alert_to_the_treaty_body(world):
    pk = _request(world.as_("treaty"), facility="US-VA-001").json()["id"]
    url = f"/api/v1/challenge-inspections/{pk}/access/"
    assert world.a.post(url, {"decision": "refused"}).json()["code"] == "reason_required"
    refused = world.a.post(url, {"decision": "refused", "reason": "not today"})
    assert refused.status_code == 200 and refused.json()["state"] == "access_refused"
    sync(pk)
    alert = Alert.objects.get(group=f"challenge:{pk}:refused")
    assert alert.severity == "critical"
    assert alert.pk in [a["id"] for a in world.as_("treaty").get("/api/v1/alerts/").json()["results"]]
    assert _events(pk) == ["challenge.requested", "challenge.access_refused"]


def test_serials_at_an_unregistered_site_are_findings_against_their_holders(world):
    register_chips(chip_rows("HID", 2), world.users["op_a_admin"])
    chips = ["nvidia:HID000000", "nvidia:HID000001"]
    assert (
        world.a.post(
            "/api/v1/declarations/",
            {"facility": "US-VA-001", "as_of": iso(timezone.now() - timedelta(days=2)), "chips": chips},
        ).status_code
        == 201
    )
    world.as_("treaty").post("/api/v1/challenge-rules/", {"allowed": [{"inspectorate": "insp-de", "countries": []}]})
    de = world.as_("insp_de")
    pk = _request(de, **LYON).json()["id"]
    url = f"/api/v1/challenge-inspections/{pk}/"
    # The host country's inspectorate answers for an unregistered site; no operator can.
    assert world.a.post(url + "acknowledge/", {}).status_code == 404
    assert world.as_("insp_fr").post(url + "access/", {"decision": "granted"}).status_code == 200
    recorded = de.post(
        url + "record/",
        {"performed_at": iso(timezone.now()), "observed": [*chips, "nvidia:NOTREG000001"], "seals": []},
    )
    assert recorded.status_code == 201, recorded.content
    assert recorded.json()["state"] == "recorded" and recorded.json()["observed"] == 3
    assert b"op-a" not in recorded.content  # the requester is not told whose chips it saw
    seen = AnyFinding.objects.filter(source="challenge", source_id=str(pk), kind="seen_unregistered_site")
    assert sorted(seen.values_list("chip_ref", flat=True)) == chips
    assert set(seen.values_list("organisation__code", "country")) == {("op-a", "US")}
    unknown = AnyFinding.objects.get(source="challenge", source_id=str(pk), kind="unknown_chip")
    assert (unknown.chip_ref, unknown.country) == ("nvidia:NOTREG000001", "FR")

    def kinds(role):
        found = world.as_(role).get("/api/v1/findings/?limit=1000").json()["results"]
        return sorted(f["kind"] for f in found if f["source"] == "challenge")

    assert kinds("op_a_member") == ["seen_unregistered_site"] * 2
    assert kinds("insp_us") == ["seen_unregistered_site"] * 2
    assert kinds("treaty") == ["seen_unregistered_site"] * 2 + ["unknown_chip"]
    assert kinds("insp_de") == []  # the requester sees no holder's finding outside its jurisdiction
    assert kinds("op_b") == []
    assert _events(pk) == [
        "challenge.requested",
        "challenge.access_granted",
        "challenge.recorded",
    ]
    recorded_event = LogEventData.objects.get(object_id=f"challenge:{pk}", event="challenge.recorded")
    assert "op-a" not in recorded_event.data_jcs and recorded_event.visible_to(world.users["insp_de"])


def test_a_changed_broken_or_missing_seal_is_a_finding(world):
    us = world.as_("insp_us")
    first = us.post(
        "/api/v1/inspections/",
        {
            "facility": "US-VA-001",
            "performed_at": iso(timezone.now() - timedelta(days=3)),
            "observed": [],
            "seals_checked": ["S-1@rack 1", "S-2@rack 2", "S-3@rack 3"],
        },
    )
    assert first.status_code == 201, first.content
    assert not AnyFinding.objects.filter(kind__startswith="seal_").exists()  # nothing to compare with yet
    pk = _request(world.as_("treaty"), facility="US-VA-001").json()["id"]
    url = f"/api/v1/challenge-inspections/{pk}/"
    assert world.a.post(url + "access/", {"decision": "granted"}).status_code == 200
    recorded = world.as_("treaty").post(
        url + "record/",
        {
            "performed_at": iso(timezone.now()),
            "observed": [],
            "seals": [{"seal": "S-9", "where": "rack 1"}, {"seal": "S-2", "where": "rack 2", "intact": False}],
        },
    )
    assert recorded.status_code == 201, recorded.content
    assert [s["seal"] for s in recorded.json()["seals"]] == ["S-9", "S-2"]
    inspection = recorded.json()["inspection"]
    found = AnyFinding.objects.filter(source="inspection", source_id=str(inspection), kind__startswith="seal_")
    assert sorted(found.values_list("kind", "chip_ref")) == [
        ("seal_broken", "seal:S-2"),
        ("seal_changed", "seal:S-1"),
        ("seal_missing", "seal:S-3"),
    ]
    assert set(found.values_list("organisation__code", "country")) == {("op-a", "US")}
    # Reconciliation reads it as the facility's latest inspection, like any.
    recon = us.get(f"/api/v1/facilities/US-VA-001/reconciliation/?at={iso(timezone.now())}")
    assert recon.status_code == 200 and recon.json()["sources"]["inspection"]["id"] == str(inspection)
    # The same seals at the same places at the next routine inspection raise no new seal finding.
    again = us.post(
        "/api/v1/inspections/",
        {
            "facility": "US-VA-001",
            "performed_at": iso(timezone.now()),
            "observed": [],
            "seals_checked": ["S-9@rack 1", "S-2@rack 2"],
        },
    )
    assert again.status_code == 201 and not any(k.startswith("seal_") for k in again.json()["findings"])


def test_seals_of_an_unregistered_site_are_compared_with_its_last_challenge(world):
    treaty, fr = world.as_("treaty"), world.as_("insp_fr")
    for i, seals in enumerate(([{"seal": "X-1", "where": "door"}], [{"seal": "X-2", "where": "door"}])):
        pk = _request(treaty, latitude=LYON["latitude"] + i * 0.001, longitude=LYON["longitude"]).json()["id"]
        url = f"/api/v1/challenge-inspections/{pk}/"
        assert fr.post(url + "access/", {"decision": "granted"}).status_code == 200
        body = {"performed_at": iso(timezone.now()), "observed": [], "seals": seals}
        assert treaty.post(url + "record/", body).status_code == 201
    changed = AnyFinding.objects.get(kind="seal_changed")
    assert (changed.chip_ref, changed.source, changed.source_id, changed.country) == (
        "seal:X-1",
        "challenge",
        str(pk),
        "FR",
    )


def test_the_outbox_event_raises_the_notice_and_the_refusal(world):
    from compliance.tasks import evaluate_events
    from outbox.models import OutboxEvent

    pk = _request(world.as_("treaty"), facility="US-VA-001").json()["id"]
    world.a.post(f"/api/v1/challenge-inspections/{pk}/access/", {"decision": "refused", "reason": "no"})
    events = OutboxEvent.objects.filter(topic="challenge.changed").order_by("id")
    assert [e.payload["step"] for e in events] == ["requested", "refused"]
    evaluate_events([[e.pk, e.topic, e.payload] for e in events])
    groups = set(Alert.objects.filter(kind="challenge").values_list("group", flat=True))
    assert groups == {f"challenge:{pk}:requested", f"challenge:{pk}:refused"}


def test_bad_requests_leave_nothing(world):
    treaty = world.as_("treaty")
    both = _request(treaty, facility="US-VA-001", **LYON)
    assert (both.status_code, both.json()["code"]) == (400, "invalid_target")
    assert _request(treaty).json()["code"] == "invalid_target"
    assert _request(treaty, latitude=95, longitude=0).status_code == 400
    assert treaty.post("/api/v1/challenge-rules/", {"allowed": [{"inspectorate": "op-a"}]}).status_code == 400
    assert not ChallengeInspection.objects.exists()
    assert not LogEventData.objects.filter(event__startswith="challenge").exists()


def test_a_sites_serials_are_read_before_the_log_lock_and_again_if_they_changed(world, monkeypatch):
    """Hostile review of 2026-12-07: once the record's entry was logged first, a site's serials (up to a million)
    were looked up under the log's lock, every other writer waiting. They are looked up before it, as an
    inspection's are; a chip reported lost in between is read again under the lock, and its sighting is the
    critical one."""
    from inventory.services import challenges

    register_chips(chip_rows("LSB", 1), world.users["op_a_admin"])
    chip = "nvidia:LSB000000"
    treaty = world.as_("treaty")
    pk = _request(treaty, **LYON).json()["id"]
    url = f"/api/v1/challenge-inspections/{pk}/"
    assert world.as_("insp_fr").post(url + "access/", {"decision": "granted"}).status_code == 200
    honest = challenges.resolve_chips

    def resolve_then_lost(chip_ids):
        found = honest(chip_ids)
        # Read before the record's entry (whose append holds the log's lock to the commit).
        assert not LogEventData.objects.filter(object_id=f"challenge:{pk}", event="challenge.recorded").exists()
        lost = world.a.patch(f"/api/v1/chips/{chip}/", {"status": "lost", "reason": "missing after the move"})
        assert lost.status_code == 200, lost.content
        return found

    monkeypatch.setattr(challenges, "resolve_chips", resolve_then_lost)
    recorded = treaty.post(url + "record/", {"performed_at": iso(timezone.now()), "observed": [chip], "seals": []})
    assert recorded.status_code == 201, recorded.content
    sighted = AnyFinding.objects.filter(kind="lost_chip_sighted", chip_ref=chip, source="challenge")
    assert set(sighted.values_list("country", flat=True)) == {"US", "FR"}


def test_a_lost_chip_seen_at_an_unregistered_site_is_a_critical_sighting(world):
    """The watch list reaches challenge inspections too: a chip its holder reported lost, found by the team
    at a site that is no registered facility, is a critical finding for both countries concerned."""
    register_chips(chip_rows("LST", 1), world.users["op_a_admin"])
    chip = "nvidia:LST000000"
    lost = world.a.patch(f"/api/v1/chips/{chip}/", {"status": "lost", "reason": "missing after the move"})
    assert lost.status_code == 200, lost.content
    treaty = world.as_("treaty")
    pk = _request(treaty, **LYON).json()["id"]
    url = f"/api/v1/challenge-inspections/{pk}/"
    assert world.as_("insp_fr").post(url + "access/", {"decision": "granted"}).status_code == 200
    recorded = treaty.post(url + "record/", {"performed_at": iso(timezone.now()), "observed": [chip], "seals": []})
    assert recorded.status_code == 201, recorded.content
    sighted = AnyFinding.objects.filter(kind="lost_chip_sighted", chip_ref=chip, source="challenge")
    assert set(sighted.values_list("country", flat=True)) == {"US", "FR"}  # the chip's country and the site's
    assert set(sighted.values_list("organisation__code", flat=True)) == {"op-a"}
    drain_all()
    alerts = Alert.objects.filter(group__startswith="lost_chip_sighted:")
    assert {a.country for a in alerts} == {"US", "FR"} and {a.severity for a in alerts} == {"critical"}
    assert b"op-a" not in recorded.content


def test_the_case_a_challenge_serves_is_told_to_the_requester_and_the_treaty_body_only(world):
    """A case code says which of the treaty body's files the inspection serves, and, the codes being
    sequential, how many there are: the operator answering it and the site's inspectorate are not told."""
    pk = _request(world.as_("treaty"), facility="US-VA-001", case="CASE-2026-0042").json()["id"]
    url = f"/api/v1/challenge-inspections/{pk}/"
    assert world.as_("treaty").get(url).json()["case_ref"] == "CASE-2026-0042"
    for role in ("op_a_admin", "insp_us"):
        client = world.as_(role)
        body = client.get(url)
        assert body.status_code == 200 and body.json()["case_ref"] == "" and b"CASE-2026-0042" not in body.content
        # Nor can it probe codes by filtering its list.
        assert client.get("/api/v1/challenge-inspections/?case_ref=CASE-2026-0042").json()["results"] == []
        assert client.get("/api/v1/challenge-inspections/").json()["results"][0]["case_ref"] == ""
    assert [
        r["id"]
        for r in world.as_("treaty").get("/api/v1/challenge-inspections/?case_ref=CASE-2026-0042").json()["results"]
    ] == [pk]
    # Nor the log events it reads.
    events = LogEventData.objects.filter(object_id=f"challenge:{pk}")
    assert events.exists() and all("CASE-2026-0042" not in e.data_jcs for e in events)


def test_the_host_inspectorate_neither_challenges_nor_clears_a_site_it_answers_for(world):
    """Hostile review of 2026-12-06. At a site that is no registered facility the host inspectorate is the party
    concerned: it may not request a challenge of it (it would acknowledge, open and record its own), nor
    resolve the findings of another party's challenge there or dismiss their alerts: the treaty body does."""
    world.as_("treaty").post(
        "/api/v1/challenge-rules/",
        {"allowed": [{"inspectorate": "insp-de", "countries": []}, {"inspectorate": "insp-fr", "countries": []}]},
    )
    own = _request(world.as_("insp_fr"), **LYON)
    assert own.status_code == 403 and own.json()["code"] == "party_concerned", own.content
    assert not ChallengeInspection.objects.exists()

    pk = _request(world.as_("insp_de"), **LYON).json()["id"]
    url = f"/api/v1/challenge-inspections/{pk}/"
    assert world.as_("insp_fr").post(url + "access/", {"decision": "granted"}).status_code == 200
    recorded = world.as_("insp_de").post(
        url + "record/", {"performed_at": iso(timezone.now()), "observed": ["nvidia:NOTREG000002"], "seals": []}
    )
    assert recorded.status_code == 201, recorded.content
    drain_all()
    unknown = AnyFinding.objects.get(source="challenge", source_id=str(pk), kind="unknown_chip")
    assert unknown.country == "FR"
    host = world.as_("insp_fr")
    answer = host.post(f"/api/v1/findings/{unknown.pk}/resolve/", {"reason": "nothing here"})
    assert answer.status_code == 403 and answer.json()["code"] == "party_concerned", answer.content
    alert = Alert.objects.get(kind="finding", group__startswith=f"unknown_chip:challenge:{pk}")
    assert host.post(f"/api/v1/alerts/{alert.pk}/dismiss/", {"reason": "nothing here"}).status_code == 403
    assert host.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {"reason": "seen"}).status_code == 200
    assert world.as_("treaty").post(f"/api/v1/findings/{unknown.pk}/resolve/", {"reason": "checked"}).status_code == 200


def test_the_host_inspectorate_does_not_close_the_findings_another_partys_challenge_recorded_at_its_facility(world):
    """A client written from the README, 2026-12-07. A challenge of a registered facility records an inspection, and
    its findings are filed under the inspection (source `inspection`), not the challenge: the host inspectorate
    resolved them and their alerts, where the README says it may only acknowledge them. The findings of its own
    routine inspection stay its own to close."""
    world.as_("treaty").post("/api/v1/challenge-rules/", {"allowed": [{"inspectorate": "insp-de", "countries": []}]})
    host, treaty = world.as_("insp_us"), world.as_("treaty")
    pk = _request(world.as_("insp_de"), facility="US-VA-001").json()["id"]
    url = f"/api/v1/challenge-inspections/{pk}/"
    assert world.a.post(url + "access/", {"decision": "granted"}).status_code == 200
    observed = {"performed_at": iso(timezone.now()), "observed": ["nvidia:NOTREG000003"], "seals": []}
    assert world.as_("insp_de").post(url + "record/", observed).status_code == 201
    drain_all()
    inspection = ChallengeInspection.objects.get(pk=pk).inspection_id
    found = AnyFinding.objects.get(source="inspection", source_id=str(inspection), chip_ref="nvidia:NOTREG000003")
    assert found.country == "US"
    assert host.get(f"/api/v1/findings/{found.pk}/").status_code == 200  # it is told
    answer = host.post(f"/api/v1/findings/{found.pk}/resolve/", {"reason": "our operator is fine"})
    assert answer.status_code == 403 and answer.json()["code"] == "party_concerned", answer.content
    alert = Alert.objects.get(kind="finding", group__startswith=f"{found.kind}:inspection:{inspection}")
    for action in ("dismiss", "resolve"):
        answer = host.post(f"/api/v1/alerts/{alert.pk}/{action}/", {"reason": "our operator is fine"})
        assert answer.status_code == 403 and answer.json()["code"] == "party_concerned", answer.content
        # It says why: another party's challenge in the host's country, not "your own challenge" (it is not).
        assert "another party requested in your country" in answer.json()["detail"], answer.content
    assert host.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {"reason": "seen"}).status_code == 200
    assert treaty.post(f"/api/v1/findings/{found.pk}/resolve/", {"reason": "checked"}).status_code == 200

    routine = host.post(
        "/api/v1/inspections/",
        {"facility": "US-VA-001", "performed_at": iso(timezone.now()), "observed": ["nvidia:NOTREG000004"]},
    )
    assert routine.status_code == 201, routine.content
    own = AnyFinding.objects.get(source="inspection", chip_ref="nvidia:NOTREG000004")
    assert host.post(f"/api/v1/findings/{own.pk}/resolve/", {"reason": "a spare"}).status_code == 200


def test_the_requester_reads_the_inspection_its_challenge_recorded_in_the_log(world):
    """A client written from LOG.md, 2026-12-07: insp-de, recording its challenge at a US facility, read the
    inspection (API) and `challenge.recorded` but not the `inspection.recorded` entry its record made (403)."""
    world.as_("treaty").post("/api/v1/challenge-rules/", {"allowed": [{"inspectorate": "insp-de", "countries": []}]})
    requester = world.as_("insp_de")
    pk = _request(requester, facility="US-VA-001").json()["id"]
    url = f"/api/v1/challenge-inspections/{pk}/"
    assert world.a.post(url + "access/", {"decision": "granted"}).status_code == 200
    observed = {"performed_at": iso(timezone.now()), "observed": [], "seals": []}
    assert requester.post(url + "record/", observed).status_code == 201
    inspection = ChallengeInspection.objects.get(pk=pk).inspection
    assert requester.get(f"/api/v1/log/entries/{inspection.log_index}").status_code == 200
    assert world.a.get(f"/api/v1/log/entries/{inspection.log_index}").status_code == 200
    assert world.as_("op_b").get(f"/api/v1/log/entries/{inspection.log_index}").status_code == 403


def test_the_host_inspectorate_does_not_close_another_partys_challenge_of_its_operator(world):
    """Hostile review of 2026-12-07. A challenge is the verification that does not rest on the host's word. The
    host inspectorate handled the alert of its own operator's refusal at a registered facility like any alert
    of its country, and could dismiss it: a state shielding its operator from a challenge another party asked
    for. It acknowledges; the treaty body closes. Its own challenge's alerts stay its own to close."""
    world.as_("treaty").post(
        "/api/v1/challenge-rules/",
        {"allowed": [{"inspectorate": "insp-de", "countries": []}, {"inspectorate": "insp-us", "countries": []}]},
    )
    host, treaty = world.as_("insp_us"), world.as_("treaty")

    def refused_alert(requester):
        response = _request(requester, facility="US-VA-001")
        assert response.status_code == 201, response.content
        pk = response.json()["id"]
        url = f"/api/v1/challenge-inspections/{pk}/access/"
        assert world.a.post(url, {"decision": "refused", "reason": "not today"}).status_code == 200
        sync(pk)
        return Alert.objects.get(group=f"challenge:{pk}:refused")

    theirs = refused_alert(world.as_("insp_de"))
    assert host.get(f"/api/v1/alerts/{theirs.pk}/").status_code == 200  # it is told
    for action in ("dismiss", "resolve"):
        answer = host.post(f"/api/v1/alerts/{theirs.pk}/{action}/", {"reason": "our operator is fine"})
        assert answer.status_code == 403 and answer.json()["code"] == "party_concerned", answer.content
    theirs.refresh_from_db()
    assert theirs.state == "open"
    assert host.post(f"/api/v1/alerts/{theirs.pk}/acknowledge/", {"reason": "seen"}).status_code == 200
    assert treaty.post(f"/api/v1/alerts/{theirs.pk}/resolve/", {"reason": "access given later"}).status_code == 200

    own = refused_alert(host)
    assert host.post(f"/api/v1/alerts/{own.pk}/resolve/", {"reason": "settled with the operator"}).status_code == 200


def test_a_challenges_alerts_are_sealed_and_their_bundles_verify(world, settings):
    """Every alert's evidence is sealed (LOG.md 5): the notice, an overdue step and a refusal prove their source
    (the challenge's log entry) with the log key alone, as an outside verifier checks the API's bundle."""
    from protocol.evidence import verify_bundle
    from transparency.checkpoints import verifier_key_line

    settings.CHIPREG_CHECKPOINT_INTERVAL_S = 3600  # no checkpoint signed for appends: the seal must sign its own
    treaty = world.as_("treaty")
    pk = _request(treaty, facility="US-VA-001").json()["id"]
    row = ChallengeInspection.objects.get(pk=pk)
    escalate_challenges(now=row.acknowledge_by + timedelta(minutes=1))
    world.a.post(f"/api/v1/challenge-inspections/{pk}/access/", {"decision": "refused", "reason": "not today"})
    sync(pk)
    alerts = Alert.objects.filter(kind="challenge", group__startswith=f"challenge:{pk}:")
    assert {a.group.rsplit(":", 1)[1] for a in alerts} == {"requested", "acknowledge", "refused"}
    for alert in alerts:
        response = treaty.get(f"/api/v1/alerts/{alert.pk}/bundle/")
        assert response.status_code == 200, response.content
        bundle = response.json()
        assert [e["log_index"] for e in bundle["entries"]] == [row.log_index]
        verify_bundle(bundle, verifier_key_line(), chips=b"")  # it counts no chips: the empty list's hash


def test_the_findings_of_a_site_challenge_cite_its_record_and_their_alerts_prove_it(world):
    """A client written from LOG.md, 2026-12-07: the finding alerts of a challenge at an unregistered site named
    their source `{"source": "challenge", "log_index": null}`, so their bundles proved nothing (no entry, every
    step passing). The findings now cite the record's `challenge.recorded` entry, and the bundle proves it."""
    from protocol.evidence import verify_bundle
    from transparency.checkpoints import verifier_key_line

    treaty = world.as_("treaty")
    pk = _request(treaty, **LYON).json()["id"]
    url = f"/api/v1/challenge-inspections/{pk}/"
    assert world.as_("insp_fr").post(url + "access/", {"decision": "granted"}).status_code == 200
    observed = {"performed_at": iso(timezone.now()), "observed": ["nvidia:NOTREG000005"], "seals": []}
    assert treaty.post(url + "record/", observed).status_code == 201
    drain_all()
    recorded = LogEventData.objects.get(object_id=f"challenge:{pk}", event="challenge.recorded").index
    finding = AnyFinding.objects.get(source="challenge", source_id=str(pk), kind="unknown_chip")
    assert finding.evidence["log_index"] == recorded
    alert = Alert.objects.get(kind="finding", group__startswith=f"unknown_chip:challenge:{pk}")
    bundle = treaty.get(f"/api/v1/alerts/{alert.pk}/bundle/").json()
    assert bundle["evidence"]["sources"] == [{"source": "challenge", "id": str(pk), "log_index": recorded}]
    assert [e["log_index"] for e in bundle["entries"]] == [recorded]
    verify_bundle(bundle, verifier_key_line(), chips=alert.evidence.get().chips.encode())


def test_inspection_events_stored_before_are_read_by_their_inspectorate_after_the_migration(world):
    """Migration transparency 0006: an `inspection.recorded` appended before f2042cd named only the facility's
    operator; the inspectorate that recorded it reads it after (and not after the reverse), its leaf untouched."""
    from importlib import import_module

    from django.apps import apps

    from transparency.models import LogLeaf

    migration = import_module("transparency.migrations.0006_inspection_events_read_by_their_inspectorate")
    world.as_("treaty").post("/api/v1/challenge-rules/", {"allowed": [{"inspectorate": "insp-de", "countries": []}]})
    requester = world.as_("insp_de")
    pk = _request(requester, facility="US-VA-001").json()["id"]
    url = f"/api/v1/challenge-inspections/{pk}/"
    assert world.a.post(url + "access/", {"decision": "granted"}).status_code == 200
    assert requester.post(url + "record/", {"performed_at": iso(timezone.now()), "observed": []}).status_code == 201
    index = ChallengeInspection.objects.get(pk=pk).inspection.log_index
    leaf = bytes(LogLeaf.objects.get(index=index).leaf)
    LogEventData.objects.filter(index=index).update(parties=["op-a"])  # as appended before
    assert requester.get(f"/api/v1/log/entries/{index}").status_code == 403
    migration.with_the_inspectorate(apps, None)
    assert LogEventData.objects.get(index=index).parties == ["insp-de", "op-a"]
    assert requester.get(f"/api/v1/log/entries/{index}").status_code == 200
    migration.operator_only(apps, None)
    assert requester.get(f"/api/v1/log/entries/{index}").status_code == 403
    assert bytes(LogLeaf.objects.get(index=index).leaf) == leaf
