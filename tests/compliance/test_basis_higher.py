"""The "whichever is higher" basis: FP8 work on an H100 is counted at its FP8 bound.

An H100 SXM has the H200's compute and power limit (989 TFLOP/s dense BF16, 1,979 dense FP8, 700 W), so
the H200's real readings (tests/fixtures/nvidia) are what an H100 under the same load reports. The fixture
ran BF16 products at 67 % of the BF16 peak; the same kernels in FP8 at the same fraction of the FP8 peak
execute about twice the FLOP, more than the FP16-equivalent bound of the very same readings. NVML readings
say nothing of the precision, so only a bound at the chip's fastest precision covers such work: the
`higher` basis (the draft agreement's "FP16-equivalent or actual operations, whichever is higher").
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent import statements
from agent.samples import SampleStore
from attestations.models import UsageRecord
from compliance import services
from compliance.evaluation import evaluate_all
from compliance.models import Alert
from protocol.usage import estimate_flop
from registry.models import AcceleratorModel
from registry.registration import register_chips
from tests.attestations import independent as ind
from tests.attestations.conftest import World, now

FIXTURE = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "nvidia" / "h200-nvml-workload.json").read_text()
)
PHASE = next(p for p in FIXTURE["phases"] if p["phase"] == "bf16_matmul_full")
SERIAL = FIXTURE["identity"]["serial"]
CHIP = f"nvidia:{SERIAL}"
SINCE = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def world(api, parties):
    return World(api, parties)


def _statement(tmp_path, end):
    """What the operator's agent reports for the full-load phase, its samples moved to end at `end`."""
    shift = end.timestamp() - PHASE["end"]
    with SampleStore(tmp_path / "samples.sqlite3") as store:
        for s in FIXTURE["samples"]:
            store.add(
                FIXTURE["identity"]["uuid"],
                s["t"] + shift,
                s["energy_mj"],
                s["gpu_util"],
                s["power_mw"],
                chip=CHIP,
                interval_s=0.2,
                boot_id="fixture-boot",
                driver=FIXTURE["identity"]["driver"],
            )
        usages = store.usage(PHASE["start"] + shift, PHASE["end"] + shift)
    return statements.usage(
        operator="op-a",
        facility="US-VA-001",
        period_start=datetime.fromtimestamp(PHASE["start"] + shift, UTC),
        period_end=datetime.fromtimestamp(PHASE["end"] + shift, UTC),
        usages=usages,
        issued_at=now(),
        nonce=ind.nonce(),
        workload="training",
    )


def _rule(treaty, key, basis, value):
    return services.declare(
        treaty,
        key,
        name=key,
        metric="compute_window",
        basis=basis,
        window_days=1,
        scope="facility",
        comparison="gt",
        value=value,
        severity="high",
        effective_from=SINCE,
    )


def test_fp8_work_on_an_h100_counts_at_its_fp8_bound(world, tmp_path):
    register_chips([{"chip": CHIP, "model": "nvidia-h100-sxm5-80gb"}], world.p.users["op_a_admin"])
    statement = _statement(tmp_path, now() - timedelta(minutes=1))
    response, _ = world.submit(world.op_a, statement)
    assert response.status_code == 201, response.content
    record = UsageRecord.objects.get(attestation_id=response.json()["id"])
    ((row),) = statement["chips"]

    h100 = AcceleratorModel.objects.get(slug="nvidia-h100-sxm5-80gb")
    fp16_bound = estimate_flop(row["active_s"], row["utilization"], row["energy_j"], h100.bf16_tflops * 1e12, 700)
    fp8_bound = estimate_flop(row["active_s"], row["utilization"], row["energy_j"], h100.fp8_tflops * 1e12, 700)
    assert record.flop_fp16 == pytest.approx(fp16_bound) and record.flop_peak == pytest.approx(fp8_bound)

    # The same kernels in FP8: the FP16-equivalent bound undercounts them, the `higher` basis does not.
    fp8_work = PHASE["flop_executed"] * h100.fp8_tflops / h100.bf16_tflops
    assert record.flop_fp16 >= PHASE["flop_executed"]  # the BF16 work itself is covered either way
    assert record.flop_fp16 < fp8_work <= record.flop_peak

    def total(basis):
        body = world.op_a.get(f"/api/v1/usage/total/?chip={CHIP}&basis={basis}").json()
        assert body["basis"] == basis
        return body["flop"]

    assert total("higher") == pytest.approx(fp8_bound) and total("fp16") == pytest.approx(fp16_bound)
    listed = world.op_a.get(f"/api/v1/usage/?chip={CHIP}&basis=higher").json()["results"]
    assert [r["flop"] for r in listed] == [pytest.approx(fp8_bound)]

    # A rule at the FP8 work's FLOP: crossed when counted as the draft counts, not on FP16 alone.
    treaty = world.p.users["treaty"]
    _rule(treaty, "fp8-work-higher", "higher", fp8_work)
    _rule(treaty, "fp8-work-fp16", "fp16", fp8_work)
    evaluate_all()
    raised = Alert.objects.get(rule__key="fp8-work-higher")
    assert raised.value == pytest.approx(fp8_bound)
    assert raised.subject_key == str(record.facility_id)
    assert not Alert.objects.filter(rule__key="fp8-work-fp16").exists()


def test_a_rule_declares_the_higher_basis_and_nothing_else(world):
    body = {
        "key": "whichever-higher",
        "name": "Training compute, FP16-equivalent or actual, whichever is higher",
        "metric": "compute_window",
        "basis": "higher",
        "window_days": 365,
        "scope": "facility",
        "comparison": "gt",
        "value": 1e22,
        "effective_from": "2025-01-01T00:00:00Z",
    }
    created = world.treaty.post("/api/v1/thresholds/", body)
    assert created.status_code == 201, created.content
    assert created.json()["basis"] == "higher"
    refused = world.treaty.post("/api/v1/thresholds/", {**body, "key": "bogus", "basis": "fp8"})
    assert refused.status_code == 400 and "basis" in refused.json()["errors"]
    # Only a treaty body declares rules, whatever their basis.
    assert world.op_a.post("/api/v1/thresholds/", {**body, "key": "mine"}).status_code in (403, 404)
    assert world.op_a.get("/api/v1/usage/total/?basis=fp8").json()["code"] == "invalid"
