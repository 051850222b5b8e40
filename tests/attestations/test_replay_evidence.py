"""ATTESTATION.md 4: a second submission of an accepted envelope is 409 replayed_nonce with the first's id, an
evidence statement (whose challenge its first acceptance used) and an RTT statement with evidence (whose landmark
challenge it used) included: an agent that lost the first answer must learn it was accepted (agent/submit.py)."""

from datetime import timedelta

from tests.attestations import independent as ind
from tests.attestations.conftest import now, ts


def test_resending_an_accepted_evidence_envelope_answers_with_the_first_id(world):
    """ATTESTATION.md 4: "A second submission of the same envelope is answered `409` with the id of the
    first" (the agent's outbox relies on it after a lost answer: `replayed_nonce` + `first_id`).
    HARDWARE.md extends ATTESTATION.md ("same envelope, same checks 1-7")."""
    from tests.attestations.evidence_helpers import (
        FIXTURE_NONCE,
        entry,
        fixture_chain,
        fixture_report,
        import_challenge,
        statement,
    )

    import_challenge("op-a")
    env = ind.envelope(
        statement(FIXTURE_NONCE, [entry("nvidia:A000001", fixture_report(), fixture_chain())]), world.key_a
    )
    first = world.op_a.post("/api/v1/attestations/", env)
    assert first.status_code == 201, first.content
    again = world.op_a.post("/api/v1/attestations/", env)
    assert again.status_code == 409
    body = again.json()
    assert body.get("first_id") == first.json()["id"], body


def test_resending_an_accepted_rtt_envelope_with_evidence_answers_with_the_first_id(world):
    """ATTESTATION.md 4: a second submission of the same envelope is 409 with the id of the first."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from tests.attestations.evidence_helpers import FIXTURE_NONCE, b64, fixture_chain, fixture_report

    key = ed25519.Ed25519PrivateKey.generate()
    world.register(world.treaty, key, purpose="landmark")
    r = world.treaty.post(
        "/api/v1/landmarks/", {"code": "lm-iad", "name": "Ashburn", "latitude": 39.0, "longitude": -77.5}
    )
    assert r.status_code == 201, r.content
    st = {
        "v": 1,
        "kind": "rtt",
        "landmark": "lm-iad",
        "facility": "US-VA-001",
        "chip": "nvidia:A000007",
        "issued_at": ts(now()),
        "nonce": ind.nonce(),
        "measured_at": ts(now() - timedelta(minutes=1)),
        "rtt_ms": 5,
        "challenge": FIXTURE_NONCE,
        "evidence": {"format": "nvidia-spdm-v1", "report": b64(fixture_report()), "certificates": b64(fixture_chain())},
    }
    env = ind.envelope(st, key)
    first = world.treaty.post("/api/v1/attestations/", env)
    assert first.status_code == 201, first.content
    again = world.treaty.post("/api/v1/attestations/", env)
    assert again.status_code == 409
    assert again.json().get("first_id") == first.json()["id"], again.json()


def test_another_statement_with_a_used_challenge_is_still_used_challenge(world):
    """Only the same (keyid, nonce) is a replay: a new statement naming the used challenge is refused as before."""
    from tests.attestations.evidence_helpers import (
        FIXTURE_NONCE,
        entry,
        fixture_chain,
        fixture_report,
        import_challenge,
        statement,
    )

    import_challenge("op-a")
    first = world.op_a.post(
        "/api/v1/attestations/",
        ind.envelope(
            statement(FIXTURE_NONCE, [entry("nvidia:A000001", fixture_report(), fixture_chain())]), world.key_a
        ),
    )
    assert first.status_code == 201, first.content
    other = ind.envelope(
        statement(FIXTURE_NONCE, [entry("nvidia:A000001", fixture_report(), fixture_chain())]), world.key_a
    )
    again = world.op_a.post("/api/v1/attestations/", other)
    assert again.status_code == 409 and again.json()["code"] == "used_challenge", again.content
    assert "first_id" not in again.json()
