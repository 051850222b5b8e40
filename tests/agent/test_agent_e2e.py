"""End to end: the `chipreg` agent, as an operator runs it, against a live registry over HTTP.

keygen, register-key, attest location (from real nvidia-smi XML), attest usage
(from the real H200 NVML readings, replayed through the sample store),
verify-receipt against the pinned log key, and monitor.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nvidia"
WORKLOAD = json.loads((FIXTURES / "h200-nvml-workload.json").read_text())
SERIAL = WORKLOAD["identity"]["serial"]


@pytest.fixture
def registry(live_server, django_db_blocker):
    from inventory.models import Facility
    from registry.catalog import load_catalog
    from registry.models import APIToken, Organisation, User
    from registry.registration import register_chips

    load_catalog()
    op = Organisation.objects.create(code="op-e2e", name="E2E", kind="operator", country="US")
    user = User.objects.create(username="e2e-operator", organisation=op, role="admin")
    Facility.objects.create(code="US-E2E-1", name="e2e", operator=op, country="US", latitude=39.0, longitude=-77.0)
    register_chips([{"chip": f"nvidia:{SERIAL}", "model": "nvidia-h200-sxm-141gb"}], user)
    _, token = APIToken.issue(user)
    return live_server.url, token


def run(env, *args, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "agent", *args], env=env, capture_output=True, text=True, timeout=120
    )
    if check:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


@pytest.mark.django_db(transaction=True)
def test_agent_against_a_live_registry(registry, tmp_path):
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
    keygen = run(env, "keygen", "--out", env["CHIPREG_KEY"])
    assert (tmp_path / "signing-key.pem").stat().st_mode & 0o777 == 0o600
    assert run(env, "register-key", "--name", "e2e host").returncode == 0

    location = run(
        env, "attest", "location", "--scope", "partial", "--from-xml", str(FIXTURES / "h200-nvidia-smi-q.xml"), "--json"
    )
    accepted = json.loads(location.stdout)
    from attestations.models import Attestation

    att = Attestation.objects.get(kind="location")
    assert att.chip_count == 1 and att.log_index is not None
    assert "flags" in json.dumps(accepted)

    # The H200 workload, replayed through the agent's own sample store with recent timestamps.
    from agent.samples import SampleStore

    shift = time.time() - 600 - WORKLOAD["samples"][-1]["t"]
    db = tmp_path / "state" / "samples.sqlite3"
    db.parent.mkdir(parents=True, exist_ok=True)
    with SampleStore(db) as store:
        for s in WORKLOAD["samples"]:
            store.add(
                WORKLOAD["identity"]["uuid"],
                s["t"] + shift,
                s["energy_mj"],
                s["gpu_util"],
                s["power_mw"],
                chip=f"nvidia:{SERIAL}",
                interval_s=0.2,
                boot_id="e2e",
                driver=WORKLOAD["identity"]["driver"],
            )
    full = next(p for p in WORKLOAD["phases"] if p["phase"] == "bf16_matmul_full")
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(full["start"] + shift))
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(full["end"] + shift + 1))
    run(env, "attest", "usage", "--since", since, "--until", until, "--db", str(db))
    from attestations.models import UsageRecord

    record = UsageRecord.objects.get()
    assert record.flop_fp16 >= full["flop_executed"]  # the registry's bound holds on the agent's report

    # Receipts were stored by the agent; verify one offline against the pinned key.
    assert run(env, "flush", "--list").returncode == 0
    from transparency.checkpoints import verifier_key_line

    key_line = verifier_key_line()
    receipts = sorted((tmp_path / "state").rglob("*receipt*.json"))
    assert receipts, list((tmp_path / "state").rglob("*"))
    assert run(env, "verify-receipt", str(receipts[0]), "--log-key", key_line).returncode == 0
    assert run(env, "monitor", "--log-key", key_line).returncode == 0
    # A wrong pinned key is a verification failure (exit 5), never a traceback.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from protocol.note import verifier_key_line as key_line_of

    impostor = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    other = key_line_of(key_line.split("+")[0], impostor)
    bad = run(env, "verify-receipt", str(receipts[0]), "--log-key", other, check=False)
    assert bad.returncode == 5 and "Traceback" not in bad.stderr
    assert keygen.stdout.strip()
