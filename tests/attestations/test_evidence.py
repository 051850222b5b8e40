"""The evidence statement end to end through the API (HARDWARE.md 1, 2, 4, 5): NVIDIA's real H100
evidence enrolls and proves a registered chip; the same evidence for another chip, a manufacturer's
contradicting enrolment, and evidence the registry must disbelieve are findings; challenges that are
not the speaker's, expired or used are the spec's refusals."""

from datetime import timedelta

import pytest

from attestations.models import Attestation, Challenge, ChipEvidence
from inventory.models import AnyFinding, Placement
from registry.models import Chip, HardwareIdentity
from tests.attestations.conftest import now
from tests.attestations.evidence_helpers import (
    FIXTURE_IDENTITY,
    FIXTURE_NONCE,
    entry,
    fixture_chain,
    fixture_report,
    import_challenge,
    issued,
    statement,
)
from transparency.models import LogEventData

CHIP_1, CHIP_2 = "nvidia:A000001", "nvidia:A000002"


def submit(world, st, client=None, key=None):
    response, _ = world.submit(client or world.op_a, st, key or world.key_a)
    return response


def fixture_statement(chip=CHIP_1, **kw):
    return statement(FIXTURE_NONCE, [entry(chip, fixture_report(), fixture_chain())], **kw)


def chip(public_id):
    return Chip.objects.by_public_id(public_id).get()


def test_the_fixture_enrols_and_proves_a_registered_chip(world):
    import_challenge("op-a")
    st = fixture_statement()
    response = submit(world, st)
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "evidence"
    assert response.json()["flags"] == {"identity_enrolled": 1}
    c = chip(CHIP_1)
    identity = HardwareIdentity.objects.get(chip=c)
    assert identity.identity == FIXTURE_IDENTITY
    assert identity.source == "evidence" and identity.enrolled_by.code == "op-a"
    assert len(identity.key_sha256) == 64
    assert c.hardware_verified_at is not None
    assert c.hardware_verified_at.isoformat().startswith(st["observed_at"][:19])
    # The enrolment is an event leaf, read by the custodian and the manufacturer, in the chip's country.
    event = LogEventData.objects.get(event="chip.identity_enrolled", index=identity.log_index)
    assert "op-a" in event.parties and "nvidia" in event.parties
    # A partial location statement for the verified chip: sighted, placed, last verified.
    assert Placement.objects.filter(chip=c, facility__code="US-VA-001", valid_to__isnull=True).exists()
    assert c.last_verified_at is not None
    # The challenge was used by this statement, and only by it.
    att = Attestation.objects.get(pk=response.json()["id"])
    assert Challenge.objects.get(nonce=FIXTURE_NONCE).used_by_id == att.pk
    # Through the API: the chip's identity and its evidence history.
    body = world.op_a.get(f"/api/v1/chips/{CHIP_1}/").json()
    assert body["device_identity"]["identity"] == FIXTURE_IDENTITY
    assert body["device_identity"]["enrolled_by"] == "op-a" and body["device_identity"]["source"] == "evidence"
    assert body["hardware_verified_at"] is not None
    history = world.op_a.get(f"/api/v1/chips/{CHIP_1}/evidence/").json()["results"]
    assert [(h["outcome"], h["identity"], h["enrolled"]) for h in history] == [("verified", FIXTURE_IDENTITY, True)]
    assert history[0]["fwid"].startswith("f5c384aebb579217") and history[0]["driver_version"] == "550.90.07"
    assert history[0]["statement"] == att.pk and history[0]["log_index"] == att.log_index


def test_a_report_for_another_nonce_is_evidence_stale(world):
    second = "e" * 64
    import_challenge("op-a", second)
    response = submit(world, statement(second, [entry(CHIP_1, fixture_report(), fixture_chain())]))
    assert response.status_code == 201
    assert response.json()["flags"] == {"evidence_stale": 1}
    finding = AnyFinding.objects.get(kind="evidence_stale")
    assert "freshness" in finding.detail
    assert chip(CHIP_1).hardware_verified_at is None and not HardwareIdentity.objects.exists()
    # Not placed on the evidence's word.
    assert not Placement.objects.filter(chip=chip(CHIP_1)).exists()


def test_two_chips_with_one_identity_in_one_statement(world):
    import_challenge("op-a")
    report, chain = fixture_report(), fixture_chain()
    response = submit(world, statement(FIXTURE_NONCE, [entry(CHIP_1, report, chain), entry(CHIP_2, report, chain)]))
    assert response.status_code == 201, response.content
    assert response.json()["flags"] == {"identity_enrolled": 1, "identity_duplicate": 1}
    duplicate = AnyFinding.objects.get(kind="identity_duplicate")
    assert duplicate.chip_ref == CHIP_2 and duplicate.organisation.code == "op-a"
    assert HardwareIdentity.objects.get(identity=FIXTURE_IDENTITY).chip == chip(CHIP_1)
    assert chip(CHIP_2).hardware_verified_at is None
    # The chip whose identity is another's is not placed on the evidence's word.
    assert not Placement.objects.filter(chip=chip(CHIP_2), valid_to__isnull=True).exists()


def test_identity_duplicate_across_statements(world, parties):
    """The fixture enrolled for chip 1 by the manufacturer; op-a's evidence claims it for chip 2."""
    world.api(parties.users["nvidia"]).post(f"/api/v1/chips/{CHIP_1}/identity/", {"device_identity": FIXTURE_IDENTITY})
    import_challenge("op-a")
    response = submit(world, fixture_statement(CHIP_2))
    assert response.status_code == 201, response.content
    assert response.json()["flags"] == {"identity_duplicate": 1}
    history = world.op_a.get(f"/api/v1/chips/{CHIP_2}/evidence/").json()["results"]
    assert [h["outcome"] for h in history] == ["identity_duplicate"]


def test_a_manufacturers_contradicting_enrolment_is_identity_mismatch(world, parties):
    import_challenge("op-a")
    assert submit(world, fixture_statement()).status_code == 201
    maker = world.api(parties.users["nvidia"])
    response = maker.post(f"/api/v1/chips/{CHIP_1}/identity/", {"device_identity": "nvidia-gh100:0123456789ABCDEF01"})
    assert response.status_code == 201, response.content
    assert response.json()["identity_mismatch"] is True
    finding = AnyFinding.objects.get(kind="identity_mismatch", chip=chip(CHIP_1))
    assert finding.organisation.code == "op-a" and finding.country == "US"
    assert FIXTURE_IDENTITY in finding.detail
    identity = HardwareIdentity.objects.get(chip=chip(CHIP_1))
    assert (identity.identity, identity.source, identity.enrolled_by.code) == (
        "nvidia-gh100:0123456789ABCDEF01",
        "manufacturer",
        "nvidia",
    )
    event = LogEventData.objects.get(index=identity.log_index)
    assert event.event == "chip.identity_enrolled" and b"replaces" in event.data_jcs.encode()


def test_a_manufacturers_confirming_enrolment_is_no_finding(world, parties):
    import_challenge("op-a")
    assert submit(world, fixture_statement()).status_code == 201
    maker = world.api(parties.users["nvidia"])
    response = maker.post(f"/api/v1/chips/{CHIP_1}/identity/", {"device_identity": FIXTURE_IDENTITY})
    assert response.status_code == 201 and response.json()["identity_mismatch"] is False
    assert not AnyFinding.objects.filter(kind="identity_mismatch").exists()
    assert HardwareIdentity.objects.get(chip=chip(CHIP_1)).source == "manufacturer"
    # Another identity over the manufacturer's is a 409, not a silent change.
    response = maker.post(f"/api/v1/chips/{CHIP_1}/identity/", {"device_identity": "nvidia-gh100:AB"})
    assert response.status_code == 409 and response.json()["code"] == "identity_conflict"


def test_manufacturer_evidence_matches_its_enrolment(world, parties):
    maker = world.api(parties.users["nvidia"])
    assert maker.post(f"/api/v1/chips/{CHIP_1}/identity/", {"device_identity": FIXTURE_IDENTITY}).status_code == 201
    import_challenge("op-a")
    response = submit(world, fixture_statement())
    assert response.status_code == 201 and response.json()["flags"] == {}
    identity = HardwareIdentity.objects.get(chip=chip(CHIP_1))
    assert identity.source == "manufacturer" and len(identity.key_sha256) == 64  # learnt from the evidence
    assert chip(CHIP_1).hardware_verified_at is not None


def test_evidence_for_an_unknown_chip_enrols_nothing(world):
    import_challenge("op-a")
    response = submit(world, fixture_statement("nvidia:NOSUCHCHIP1"))
    assert response.status_code == 201
    assert response.json()["flags"] == {"unknown_chip": 1}
    assert not HardwareIdentity.objects.exists()


def test_evidence_about_another_operators_chip(world):
    """op-a's statement names op-b's chip: no enrolment, nothing placed, and op-b learns of it."""
    import_challenge("op-a")
    response = submit(world, fixture_statement("nvidia:B000001"))
    assert response.status_code == 201
    assert response.json()["flags"] == {"other_operator": 1}
    assert not HardwareIdentity.objects.exists()
    assert chip("nvidia:B000001").hardware_verified_at is None
    assert AnyFinding.objects.filter(kind="other_operator", organisation__code="op-b").exists()


# --- challenges ------------------------------------------------------------------------------------


def refused(response, status, code):
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert not ChipEvidence.objects.exists() and not HardwareIdentity.objects.exists()


def test_an_unknown_challenge(world):
    refused(submit(world, fixture_statement()), 400, "unknown_challenge")


def test_a_challenge_of_another_organisation_is_unknown(world):
    """Operator B uses A's challenge: unknown to B (B learns nothing of A's challenges)."""
    import_challenge("op-a")
    st = fixture_statement(facility="DE-FRA-001", operator="op-b", chip="nvidia:B000001")
    refused(submit(world, st, world.op_b, world.key_b), 400, "unknown_challenge")
    assert Challenge.objects.get(nonce=FIXTURE_NONCE).used_at is None


def test_an_expired_challenge(world):
    import_challenge("op-a", expires_in="1s")
    Challenge.objects.filter(nonce=FIXTURE_NONCE).update(expires_at=now() - timedelta(seconds=1))
    refused(submit(world, fixture_statement()), 400, "expired_challenge")


def test_a_used_challenge(world):
    import_challenge("op-a")
    assert submit(world, fixture_statement()).status_code == 201
    response = submit(world, fixture_statement(CHIP_2))
    assert response.status_code == 409 and response.json()["code"] == "used_challenge"
    assert ChipEvidence.objects.count() == 1


def test_evidence_about_another_operators_facility(world):
    """B submits evidence about A's facility with its own challenge: facility_not_operated, as for location."""
    nonce = issued(world.op_b)
    st = statement(nonce, [entry("nvidia:B000001", fixture_report(), fixture_chain())], operator="op-b")
    refused(submit(world, st, world.op_b, world.key_b), 403, "facility_not_operated")


def test_challenges_from_the_api(world, settings):
    settings.CHIPREG_CHALLENGE_TTL_S = 60
    response = world.op_a.post("/api/v1/challenges/")
    assert response.status_code == 201
    body = response.json()
    assert len(body["nonce"]) == 64 and body["nonce"] == body["nonce"].lower()
    assert body["organisation"] == "op-a"
    row = Challenge.objects.get(nonce=body["nonce"])
    assert 55 <= (row.expires_at - row.created_at).total_seconds() <= 65 and not row.imported
    assert world.op_a.post("/api/v1/challenges/").json()["nonce"] != body["nonce"]


@pytest.mark.parametrize("user", ["insp_us", "nvidia", "op_a_readonly"])
def test_who_may_not_ask_for_a_challenge(world, parties, user):
    response = world.api(parties.users[user]).post("/api/v1/challenges/")
    assert response.status_code == 403
    assert not Challenge.objects.exists()


def test_an_imported_challenge_is_logged(world):
    import_challenge("op-a")
    row = Challenge.objects.get(nonce=FIXTURE_NONCE)
    assert row.imported
    event = LogEventData.objects.get(index=row.log_index)
    assert event.event == "challenge.imported" and event.parties == ["op-a"]


# --- visibility -----------------------------------------------------------------------------------


def test_who_sees_a_chips_identity_and_evidence(world, parties):
    import_challenge("op-a")
    assert submit(world, fixture_statement()).status_code == 201
    for user in ("insp_us", "treaty"):
        client = world.api(parties.users[user])
        assert client.get(f"/api/v1/chips/{CHIP_1}/evidence/").json()["results"][0]["identity"] == FIXTURE_IDENTITY
    for user in ("insp_fr", "op_b"):
        client = world.api(parties.users[user])
        assert client.get(f"/api/v1/chips/{CHIP_1}/evidence/").status_code == 404
        assert client.get(f"/api/v1/chips/{CHIP_1}/").status_code == 404
        assert FIXTURE_IDENTITY not in client.get("/api/v1/chips/").content.decode()


def test_who_may_enrol_an_identity(world, parties):
    body = {"device_identity": FIXTURE_IDENTITY}
    # The holder sees the chip but may not enrol its identity; another operator does not see it.
    assert world.op_a.post(f"/api/v1/chips/{CHIP_1}/identity/", body).status_code == 403
    assert world.op_b.post(f"/api/v1/chips/{CHIP_1}/identity/", body).status_code == 404
    assert world.api(parties.users["insp_fr"]).post(f"/api/v1/chips/{CHIP_1}/identity/", body).status_code == 404
    # AMD is not this chip's manufacturer.
    assert not HardwareIdentity.objects.exists()
    response = world.api(parties.users["nvidia"]).post(f"/api/v1/chips/{CHIP_1}/identity/", {"device_identity": "x"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_identity"
    assert world.treaty.post(f"/api/v1/chips/{CHIP_1}/identity/", body).status_code == 201


def test_a_manufacturer_enrols_at_registration(world, parties):
    maker = world.api(parties.users["nvidia"])
    rows = [{"chip": "nvidia:MFR000001", "model": "nvidia-h100-sxm5-80gb", "device_identity": FIXTURE_IDENTITY}]
    response = maker.post("/api/v1/chips/", rows)
    assert response.status_code == 201, response.content
    identity = HardwareIdentity.objects.get(chip=chip("nvidia:MFR000001"))
    assert identity.source == "manufacturer" and identity.enrolled_by.code == "nvidia"
    assert maker.get("/api/v1/chips/nvidia:MFR000001/").json()["device_identity"]["identity"] == FIXTURE_IDENTITY
    # Again with the same data: a no-op; with another identity: a 409 naming the field.
    assert maker.post("/api/v1/chips/", rows).status_code == 200
    rows[0]["device_identity"] = "nvidia-gh100:AB"
    response = maker.post("/api/v1/chips/", rows)
    assert response.status_code == 409 and response.json()["conflicts"][0]["fields"] == ["device_identity"]
    # An operator enrols no identity by registering.
    response = world.op_a.post(
        "/api/v1/chips/",
        [{"chip": "nvidia:OPR000001", "model": "nvidia-h100-sxm5-80gb", "device_identity": "nvidia-gh100:CD"}],
    )
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "device_identity"


def test_the_console_chip_page_shows_identity_proof_and_findings(world, parties):
    from django.test import Client

    import_challenge("op-a")
    assert submit(world, fixture_statement()).status_code == 201
    page = Client()
    page.force_login(parties.users["op_a_member"])
    html = page.get(f"/chips/{CHIP_1}/").content.decode()
    assert FIXTURE_IDENTITY in html
    assert "by op-a" in html and "trust on first use" in html
    assert "Last proved itself" in html and "Hardware evidence" in html
    assert "identity_enrolled" in html  # the finding, in the chip's findings
    outsider = Client()
    outsider.force_login(parties.users["insp_fr"])
    response = outsider.get(f"/chips/{CHIP_1}/")
    assert response.status_code == 404 and FIXTURE_IDENTITY not in response.content.decode()


def test_a_first_use_enrolment_names_the_chip_as_it_is_when_logged(world, monkeypatch):
    """The enrolment's event is appended under the log's lock: it names the chip's country as it is then
    (a statement placing the chip in another country may have committed while this one waited for the
    lock, after its chips were resolved), as the chip's own page and its inspectorates read it."""
    from attestations import store
    from registry.models import Chip as ChipModel

    real_append = store.append_leaf

    def append_after_a_move(*args, **kwargs):
        # What a statement committed meanwhile did: the chip now lies in Germany.
        ChipModel.objects.filter(pk=chip(CHIP_1).pk).update(country="DE")
        return real_append(*args, **kwargs)

    monkeypatch.setattr(store, "append_leaf", append_after_a_move)
    import_challenge("op-a")
    response = submit(world, fixture_statement())
    assert response.status_code == 201, response.content
    event = LogEventData.objects.get(event="chip.identity_enrolled")
    assert event.countries == ["DE"]


def test_a_chip_handed_over_while_the_statement_waited_is_judged_as_held_then(world, monkeypatch):
    """Who holds a chip decides what its evidence enrols, proves and places. The statement resolved its chips
    before the log's append; a transfer committed while it waited for the lock handed the chip to op-b: its
    evidence is then about another operator's chip (no enrolment, no proof, no placement for op-a)."""
    from attestations import store
    from registry.models import Chip as ChipModel
    from registry.models import Organisation

    real_append = store.append_leaf

    def append_after_a_handover(*args, **kwargs):
        ChipModel.objects.filter(pk=chip(CHIP_1).pk).update(custodian=Organisation.objects.get(code="op-b"))
        return real_append(*args, **kwargs)

    monkeypatch.setattr(store, "append_leaf", append_after_a_handover)
    import_challenge("op-a")
    response = submit(world, fixture_statement())
    assert response.status_code == 201, response.content
    assert response.json()["flags"] == {"other_operator": 1}
    c = chip(CHIP_1)
    assert c.hardware_verified_at is None and not HardwareIdentity.objects.exists()
    assert not Placement.objects.filter(chip=c, valid_to__isnull=True).exists()
    assert AnyFinding.objects.filter(kind="other_operator", organisation__code="op-b").exists()


@pytest.mark.parametrize(
    ("identity", "ok"),
    [
        ("nvidia-gh100.a01:0ABC", True),  # a generation word with '.' (check 6 derives it)
        ("nvidia-gb_200:0ABC", True),  # '_'
        ("nvidia-h100-sxm:0ABC", True),  # '-' inside a word
        ("nvidia-gh100:" + "A" * 87, True),  # 100 characters: a long serialNumber
        ("nvidia-gh100:" + "A" * 88, False),  # 101: longer than the registry keeps
        ("Nvidia-gh100:0ABC", False),  # upper case vendor
        ("nvidia-gh100:0abc", False),  # lower case hex
        ("nvidia-.gh100:0ABC", False),  # a word beginning with '.'
        ("nvidia-gh100:", False),  # no serial
        ("nvidiagh100:0ABC", False),  # no generation
        ("nvidia-gh\u202e100:0ABC", False),  # a bidi control
    ],
)
def test_a_manufacturer_enrols_every_identity_check_6_derives(world, parties, identity, ok):
    """HARDWARE.md 4 check 6 and 5: the manufacturer enrols identities in the spelling the evidence check derives
    them in (words of a-z, 0-9, '.', '_', '-'; 100 characters at most), and no other."""
    response = world.api(parties.users["nvidia"]).post(
        f"/api/v1/chips/{CHIP_1}/identity/", {"device_identity": identity}
    )
    if ok:
        assert response.status_code == 201, response.content
        assert HardwareIdentity.objects.get(chip__serial=CHIP_1.split(":")[1]).identity == identity
    else:
        assert response.status_code == 400 and response.json()["code"] == "invalid_identity", response.content


def test_a_later_holder_does_not_read_the_former_holders_evidence(world, parties):
    """op-a proves CHIP_1 and ships it to op-b, which receives it: the chip is op-b's now, and op-b read op-a's
    entry in its evidence history (when op-a proved it, with what firmware and driver, from which statement),
    as a former holder's sightings and usage are not read. The inspectorate's and the treaty body's reads stay;
    the maker, which follows its chips until they leave its custody, reads none of it either way."""
    import_challenge("op-a")
    assert submit(world, fixture_statement()).status_code == 201
    r = world.op_b.post(
        "/api/v1/facilities/",
        {"code": "US-NY-009", "name": "NY", "country": "US", "latitude": 40.71, "longitude": -74.0},
    )
    assert r.status_code == 201, r.content
    r = world.op_a.post(
        "/api/v1/transfers/",
        {"receiver": "op-b", "destination_facility": "US-NY-009", "shipped_at": now().isoformat(), "chips": [CHIP_1]},
        format="json",
    )
    assert r.status_code == 201, r.content
    received = {"received_at": now().isoformat(), "facility": "US-NY-009", "chips": [CHIP_1]}
    r = world.op_b.post(f"/api/v1/transfers/{r.json()['id']}/receive/", received, format="json")
    assert r.status_code == 200, r.content
    assert chip(CHIP_1).custodian.code == "op-b"
    seen = world.op_b.get(f"/api/v1/chips/{CHIP_1}/evidence/")
    assert seen.status_code == 200 and seen.json()["results"] == [], seen.content
    for user in ("insp_us", "treaty"):
        rows = world.api(parties.users[user]).get(f"/api/v1/chips/{CHIP_1}/evidence/").json()["results"]
        assert [row["identity"] for row in rows] == [FIXTURE_IDENTITY], user
    assert world.api(parties.users["nvidia"]).get(f"/api/v1/chips/{CHIP_1}/evidence/").status_code == 404
