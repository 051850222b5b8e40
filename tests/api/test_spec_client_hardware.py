"""HARDWARE.md, exercised by an outside client written from the spec text (tests/api/spec_client.py), with the
real NVIDIA H100 evidence of tests/fixtures/nvidia/evidence/."""

import itertools
import re
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID
from django.core.management import call_command

from tests.api import spec_client as sc
from tests.api.spec_world import now, problem, ts

EVIDENCE = Path(__file__).resolve().parents[1] / "fixtures" / "nvidia" / "evidence"
REPORT = bytes.fromhex((EVIDENCE / "hopperAttestationReport.txt").read_text().strip())
CHAIN = (EVIDENCE / "hopperCertChain.txt").read_bytes()
NONCE = "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"
IDENTITY = "nvidia-gh100:41431D480FE5E87274"


# --- section 3 and 4, offline ------------------------------------------------------


def parse_report(data: bytes):
    """HARDWARE.md section 3, little-endian, lengths adding up to the byte."""
    request, response = data[:37], data[37:]
    assert request[0] == 0x11 and request[1] == 0xE0 and request[2] & 1 and request[3] == 0xFF
    nonce = request[4:36]
    assert response[0] == 0x11 and response[1] == 0x60
    blocks = response[4]
    length = int.from_bytes(response[5:8], "little")
    record = response[8 : 8 + length]
    pos, count = 0, 0
    while pos < len(record):
        size = int.from_bytes(record[pos + 2 : pos + 4], "little")
        pos += 4 + size
        count += 1
    assert pos == length and count == blocks
    at = 8 + length
    responder_nonce = response[at : at + 32]
    opaque_len = int.from_bytes(response[at + 32 : at + 34], "little")
    opaque = response[at + 34 : at + 34 + opaque_len]
    fields, p = {}, 0
    while p < len(opaque):
        kind = int.from_bytes(opaque[p : p + 2], "little")
        size = int.from_bytes(opaque[p + 2 : p + 4], "little")
        fields[kind] = opaque[p + 4 : p + 4 + size]
        p += 4 + size
    assert p == opaque_len
    signature = response[at + 34 + opaque_len :]
    assert len(signature) == 96, "nothing may follow the signature"
    signed = data[: len(data) - 96]
    return nonce, responder_nonce, fields, signed, signature, blocks


def test_fixture_report_verifies_as_section_4_says():
    nonce, _, fields, signed, signature, blocks = parse_report(REPORT)
    assert nonce.hex() == NONCE and blocks == 64
    assert fields[3].rstrip(b"\0") == b"550.90.07"
    certs = x509.load_pem_x509_certificates(CHAIN)
    assert 2 <= len(certs) <= 8
    for child, parent in itertools.pairwise(certs):
        child.verify_directly_issued_by(parent)
        assert parent.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    root = x509.load_pem_x509_certificate((EVIDENCE / "verifier_device_root.pem").read_bytes())
    assert certs[-1] == root
    r, s = int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big")
    certs[0].public_key().verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA384()))
    # Check 5: the TcbInfo FWID equals opaque type 20.
    tcb = certs[0].extensions.get_extension_for_oid(x509.ObjectIdentifier("2.23.133.5.4.1")).value.value
    assert len(fields[20]) == 48 and fields[20] in tcb
    # Check 6: the identity, from the certificate the provisioning CA issued (the second).
    brom = certs[1]
    cn = brom.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    org = brom.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    serial = brom.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value
    assert cn == "GH100 A01 GSP BROM"
    assert f"{org.split()[0].lower()}-{cn.split()[0].lower()}:{serial.upper()}" == IDENTITY


# --- sections 1, 2, 4 and 5, against the server --------------------------------------------

pytestmark_db = pytest.mark.django_db


def evidence_statement(world, challenge, report=REPORT, chain=CHAIN, chip="nvidia:A000000", **kw):
    issued = now()
    st = {
        "v": 1,
        "kind": "evidence",
        "operator": "op-a",
        "facility": "US-VA-001",
        "issued_at": ts(issued),
        "nonce": sc.nonce(),
        "observed_at": ts(issued - timedelta(minutes=1)),
        "challenge": challenge,
        "chips": [{"chip": chip, "format": "nvidia-spdm-v1", "report": sc.b64(report), "certificates": sc.b64(chain)}],
    }
    st.update(kw)
    return st


def import_fixture_challenge(org="op-a", expires_in="15m"):
    call_command("issue_challenge", org, "--nonce", NONCE, "--expires-in", expires_in, stdout=open("/dev/null", "w"))


@pytestmark_db
def test_challenges(spec_world):
    before = now()
    r = spec_world.op_a.post("/api/v1/challenges/")
    assert r.status_code == 201, r.content
    body = r.json()
    assert set(body) == {"nonce", "organisation", "expires_at"}
    assert re.fullmatch(r"[0-9a-f]{64}", body["nonce"]) and body["organisation"] == "op-a"
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=14) <= expires - before <= timedelta(minutes=16)
    assert spec_world.treaty.post("/api/v1/challenges/").status_code == 201
    problem(spec_world.anonymous.post("/api/v1/challenges/"), 401, "not_authenticated")
    assert spec_world.api(spec_world.p.users["nvidia"]).post("/api/v1/challenges/").status_code == 403


@pytestmark_db
def test_fixture_evidence_is_accepted_enrolled_and_not_replayable(spec_world):
    import_fixture_challenge()
    st = evidence_statement(spec_world, NONCE)
    response, env = spec_world.submit(st)
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "evidence"
    assert response.json()["flags"].get("identity_enrolled") == 1, response.json()
    history = spec_world.op_a.get("/api/v1/chips/nvidia:A000000/evidence/")
    assert history.status_code == 200, history.content
    assert IDENTITY in history.content.decode()
    # The same envelope again: a replay, not a used challenge.
    again = problem(spec_world.post(spec_world.op_a, env), 409, "replayed_nonce")
    assert again["first_id"] == response.json()["id"]
    # Another statement on the used challenge.
    problem(spec_world.submit(evidence_statement(spec_world, NONCE))[0], 409, "used_challenge")


@pytestmark_db
def test_challenge_errors(spec_world):
    problem(spec_world.submit(evidence_statement(spec_world, "ab" * 32))[0], 400, "unknown_challenge")
    theirs = spec_world.op_b.post("/api/v1/challenges/").json()["nonce"]
    problem(spec_world.submit(evidence_statement(spec_world, theirs))[0], 400, "unknown_challenge")
    import_fixture_challenge(expires_in="1s")
    time.sleep(1.5)
    problem(spec_world.submit(evidence_statement(spec_world, NONCE))[0], 400, "expired_challenge")


@pytestmark_db
def test_challenge_is_checked_after_freshness_and_before_replay(spec_world):
    problem(
        spec_world.submit(evidence_statement(spec_world, "ab" * 32, issued_at=ts(now() + timedelta(minutes=10))))[0],
        400,
        "future_statement",
    )


@pytestmark_db
def test_evidence_findings(spec_world):
    fresh = spec_world.op_a.post("/api/v1/challenges/").json()["nonce"]
    response, _ = spec_world.submit(evidence_statement(spec_world, fresh))
    assert response.status_code == 201, response.content
    assert response.json()["flags"].get("evidence_stale") == 1, response.json()
    import_fixture_challenge()
    tampered = bytearray(REPORT)
    tampered[100] ^= 1
    response, _ = spec_world.submit(evidence_statement(spec_world, NONCE, report=bytes(tampered)))
    assert response.status_code == 201, response.content
    assert response.json()["flags"].get("evidence_invalid") == 1, response.json()


@pytestmark_db
@pytest.mark.parametrize(
    "change",
    [
        {"format": "nvidia-spdm-v2"},
        {"report": "not base64!"},
        {"certificates": "not base64!"},
        {"report": sc.b64(b"\0" * (16 * 1024 + 1))},
        {"certificates": sc.b64(b"\0" * (64 * 1024 + 1))},
        {"extra": 1},
    ],
)
def test_malformed_evidence(spec_world, change):
    fresh = spec_world.op_a.post("/api/v1/challenges/").json()["nonce"]
    st = evidence_statement(spec_world, fresh)
    st["chips"][0].update(change)
    problem(spec_world.submit(st)[0], 400, "malformed_statement")


@pytestmark_db
@pytest.mark.parametrize("member, limit", [("report", 16 * 1024), ("certificates", 64 * 1024)])
def test_decoded_size_limits_to_the_byte(spec_world, member, limit):
    # "at most 16 KiB decoded" / "at most 64 KiB decoded": one byte more is malformed_statement, in every
    # base64 form (its text length alone must not decide).
    fresh = spec_world.op_a.post("/api/v1/challenges/").json()["nonce"]
    for size, encode in ((limit + 1, sc.b64), (limit + 2, sc.b64), (limit + 1, sc.b64url_nopad)):
        st = evidence_statement(spec_world, fresh)
        st["chips"][0][member] = encode(b"\0" * size)
        problem(spec_world.submit(st)[0], 400, "malformed_statement")
    st = evidence_statement(spec_world, fresh)
    st["chips"][0][member] = sc.b64(b"\0" * limit)
    response, _ = spec_world.submit(st)  # judged, and found wanting, as evidence: a finding
    assert response.status_code == 201, response.content
    assert response.json()["flags"].get("evidence_invalid") == 1, response.json()


@pytestmark_db
def test_at_most_1000_chips_and_observed_not_after_issued(spec_world):
    fresh = spec_world.op_a.post("/api/v1/challenges/").json()["nonce"]
    st = evidence_statement(spec_world, fresh)
    row = st["chips"][0]
    st["chips"] = [
        dict(row, chip=f"nvidia:S{i:06d}", report=sc.b64(b"x"), certificates=sc.b64(b"y")) for i in range(1001)
    ]
    problem(spec_world.submit(st)[0], 400, "malformed_statement")
    st = evidence_statement(spec_world, fresh)
    st["observed_at"] = ts(now() + timedelta(minutes=1))
    problem(spec_world.submit(st)[0], 400, "malformed_statement")
