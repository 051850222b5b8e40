"""Evidence statements for the tests: NVIDIA's real H100 evidence (the fixture) and throwaway vendors."""

import base64
from datetime import timedelta
from pathlib import Path

from django.core.management import call_command

from tests.attestations import independent as ind
from tests.attestations.conftest import now, ts

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nvidia" / "evidence"
FIXTURE_NONCE = "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"
FIXTURE_IDENTITY = "nvidia-gh100:41431D480FE5E87274"


def fixture_report():
    return bytes.fromhex((FIXTURES / "hopperAttestationReport.txt").read_text().strip())


def fixture_chain():
    return (FIXTURES / "hopperCertChain.txt").read_bytes()


def b64(data):
    return base64.b64encode(data).decode()


def entry(chip, report, chain, fmt="nvidia-spdm-v1"):
    return {"chip": chip, "format": fmt, "report": b64(report), "certificates": b64(chain)}


def statement(challenge, entries, facility="US-VA-001", operator="op-a", observed=None, issued=None):
    issued = issued or now()
    return {
        "v": 1,
        "kind": "evidence",
        "operator": operator,
        "facility": facility,
        "issued_at": ts(issued),
        "nonce": ind.nonce(),
        "observed_at": ts(observed or issued - timedelta(minutes=1)),
        "challenge": challenge,
        "chips": entries,
    }


def import_challenge(org, nonce=FIXTURE_NONCE, expires_in="15m"):
    call_command("issue_challenge", org, "--nonce", nonce, "--expires-in", expires_in)
    return nonce


def issued(client):
    response = client.post("/api/v1/challenges/")
    assert response.status_code == 201, response.content
    return response.json()["nonce"]
