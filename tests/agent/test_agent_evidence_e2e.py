"""End to end: `chipreg attest evidence --from-files` with NVIDIA's real H100 evidence, against a live
registry over HTTP: an administrator imports the fixture's nonce as the operator's challenge, the agent
sends the recorded report and chain for a registered chip, and the chip is enrolled and proved."""

import json
import os

import pytest
from django.core.management import call_command

from tests.agent.test_agent_e2e import SERIAL, registry, run  # noqa: F401  (the live registry fixture)
from tests.attestations.evidence_helpers import FIXTURE_IDENTITY, FIXTURE_NONCE, FIXTURES


@pytest.mark.django_db(transaction=True)
def test_attest_evidence_from_files_round_trips_the_fixture(registry, tmp_path):  # noqa: F811
    url, token = registry
    env = {
        **os.environ,
        "CHIPREG_URL": url,
        "CHIPREG_TOKEN": token,
        "CHIPREG_KEY": str(tmp_path / "signing-key.pem"),
        "CHIPREG_STATE_DIR": str(tmp_path / "state"),
        "CHIPREG_OPERATOR": "op-e2e",
        "CHIPREG_FACILITY": "US-E2E-1",
        "HOME": str(tmp_path),
    }
    run(env, "keygen", "--out", env["CHIPREG_KEY"])
    run(env, "register-key", "--name", "e2e host")
    call_command("issue_challenge", "op-e2e", "--nonce", FIXTURE_NONCE)
    chip = f"nvidia:{SERIAL}"
    sent = run(
        env,
        "attest",
        "evidence",
        "--from-files",
        chip,
        str(FIXTURES / "hopperAttestationReport.txt"),
        str(FIXTURES / "hopperCertChain.txt"),
        "--challenge",
        FIXTURE_NONCE,
        "--json",
    )
    answer = json.loads(sent.stdout)
    assert "identity_enrolled" in json.dumps(answer)
    from attestations.models import Attestation, Challenge
    from registry.models import Chip, HardwareIdentity

    att = Attestation.objects.get(kind="evidence")
    assert Challenge.objects.get(nonce=FIXTURE_NONCE).used_by_id == att.pk
    c = Chip.objects.by_public_id(chip).get()
    identity = HardwareIdentity.objects.get(chip=c)
    assert identity.identity == FIXTURE_IDENTITY and identity.enrolled_by.code == "op-e2e"
    assert c.hardware_verified_at is not None
    # The same recorded evidence again: the challenge is used (the agent names the refusal, no traceback).
    again = run(
        env,
        "attest",
        "evidence",
        "--from-files",
        chip,
        str(FIXTURES / "hopperAttestationReport.txt"),
        str(FIXTURES / "hopperCertChain.txt"),
        "--challenge",
        FIXTURE_NONCE,
        check=False,
    )
    assert again.returncode != 0 and "used_challenge" in again.stderr and "Traceback" not in again.stderr
