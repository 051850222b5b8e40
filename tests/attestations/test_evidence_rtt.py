"""RTT statements with landmark-challenged evidence (HARDWARE.md 6): the distance bound tied to the
physical chip when its evidence verifies and names the chip's enrolled identity; the landmark's
challenge never reused by the same landmark key; without evidence, unbound."""

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from attestations.models import Attestation, ChipEvidence
from tests.attestations import independent as ind
from tests.attestations.conftest import now, ts
from tests.attestations.evidence_helpers import (
    FIXTURE_IDENTITY,
    FIXTURE_NONCE,
    b64,
    fixture_chain,
    fixture_report,
)

CHIP = "nvidia:A000007"


@pytest.fixture
def landmark(world):
    key = ed25519.Ed25519PrivateKey.generate()
    world.register(world.treaty, key, purpose="landmark")
    response = world.treaty.post(
        "/api/v1/landmarks/", {"code": "lm-iad", "name": "Ashburn", "latitude": 39.0, "longitude": -77.5}
    )
    assert response.status_code == 201, response.content
    return key


def rtt(chip=CHIP, challenge=None, report=None, chain=None):
    st = {
        "v": 1,
        "kind": "rtt",
        "landmark": "lm-iad",
        "facility": "US-VA-001",
        "chip": chip,
        "issued_at": ts(now()),
        "nonce": ind.nonce(),
        "measured_at": ts(now() - timedelta(minutes=1)),
        "rtt_ms": 5,
    }
    if challenge is not None:
        st["challenge"] = challenge
        st["evidence"] = {"format": "nvidia-spdm-v1", "report": b64(report), "certificates": b64(chain)}
    return st


def send(world, landmark, st):
    response, _ = world.submit(world.treaty, st, landmark)
    return response


def header(response):
    assert response.status_code == 201, response.content
    return Attestation.objects.get(pk=response.json()["id"]).header


def test_without_evidence_the_statement_is_unbound(world, landmark):
    h = header(send(world, landmark, rtt()))
    assert h["bound"] is False and h["binding"] == "no_evidence"


def test_evidence_of_the_enrolled_chip_binds_the_bound(world, landmark, parties):
    maker = world.api(parties.users["nvidia"])
    assert maker.post(f"/api/v1/chips/{CHIP}/identity/", {"device_identity": FIXTURE_IDENTITY}).status_code == 201
    response = send(world, landmark, rtt(challenge=FIXTURE_NONCE, report=fixture_report(), chain=fixture_chain()))
    h = header(response)
    assert h["bound"] is True and h["binding"] == "verified"
    assert "evidence" not in h and h["challenge"] == FIXTURE_NONCE
    # Visible in the API, to whoever sees the statement.
    body = world.treaty.get(f"/api/v1/attestations/{response.json()['id']}/").json()
    assert body["header"]["bound"] is True
    row = ChipEvidence.objects.get()
    assert (row.outcome, row.identity, row.chip.public_id) == ("verified", FIXTURE_IDENTITY, CHIP)
    from registry.models import Chip

    assert Chip.objects.by_public_id(CHIP).get().hardware_verified_at is not None


def test_a_chip_without_an_enrolled_identity_stays_unbound(world, landmark):
    h = header(send(world, landmark, rtt(challenge=FIXTURE_NONCE, report=fixture_report(), chain=fixture_chain())))
    assert h["bound"] is False and h["binding"] == "no_identity_enrolled"


def test_another_chips_identity_is_a_finding_and_unbound(world, landmark, parties):
    maker = world.api(parties.users["nvidia"])
    assert maker.post(f"/api/v1/chips/{CHIP}/identity/", {"device_identity": "nvidia-gh100:0A"}).status_code == 201
    response = send(world, landmark, rtt(challenge=FIXTURE_NONCE, report=fixture_report(), chain=fixture_chain()))
    assert response.json()["flags"] == {"identity_mismatch": 1}
    h = header(response)
    assert h["bound"] is False and h["binding"] == "identity_mismatch"


def test_another_vendors_device_answering_for_a_chip_is_its_mismatch_not_a_verified_row(world, landmark, parties):
    """An NVIDIA device's evidence for an AMD chip with no identity enrolled: the chip's identity_mismatch (as for an
    evidence statement), not a `verified` row of the AMD chip's history naming an NVIDIA identity (a client
    written from HARDWARE.md met it)."""
    from registry.registration import register_chips
    from tests.factories import chip_rows

    register_chips(chip_rows("AMDX", 1, model="amd-instinct-mi300x", manufacturer="amd"), parties.users["op_a_admin"])
    chip = "amd:AMDX000000"
    response = send(world, landmark, rtt(chip, challenge=FIXTURE_NONCE, report=fixture_report(), chain=fixture_chain()))
    assert response.json()["flags"] == {"identity_mismatch": 1}
    h = header(response)
    assert h["bound"] is False and h["binding"] == "identity_mismatch"
    row = ChipEvidence.objects.get(chip_ref=chip)
    assert row.outcome == "identity_mismatch" and row.identity == FIXTURE_IDENTITY


def test_evidence_for_another_challenge_is_stale_and_unbound(world, landmark):
    response = send(world, landmark, rtt(challenge="ab" * 32, report=fixture_report(), chain=fixture_chain()))
    assert response.json()["flags"] == {"evidence_stale": 1}
    assert header(response)["binding"] == "evidence_stale"


def test_a_landmark_challenge_is_never_reused_by_the_same_key(world, landmark):
    first = rtt(challenge=FIXTURE_NONCE, report=fixture_report(), chain=fixture_chain())
    assert send(world, landmark, first).status_code == 201
    again = rtt(chip="nvidia:A000008", challenge=FIXTURE_NONCE, report=fixture_report(), chain=fixture_chain())
    response = send(world, landmark, again)
    assert response.status_code == 409 and response.json()["code"] == "used_challenge"
    assert ChipEvidence.objects.count() == 1


def test_an_empty_report_is_evidence_invalid_and_unbound(world, landmark, parties):
    """An empty report is base64 of nothing (HARDWARE.md 2 refuses only what is not base64 or too long): the
    landmark's measurement is accepted unbound, its evidence failing check 1, never a 500."""
    maker = world.api(parties.users["nvidia"])
    assert maker.post(f"/api/v1/chips/{CHIP}/identity/", {"device_identity": FIXTURE_IDENTITY}).status_code == 201
    response = send(world, landmark, rtt(challenge=FIXTURE_NONCE, report=b"", chain=fixture_chain()))
    assert response.json()["flags"] == {"evidence_invalid": 1}
    assert header(response)["binding"] == "evidence_invalid"
