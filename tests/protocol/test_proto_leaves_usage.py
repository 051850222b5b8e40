"""Log leaves (LOG.md section 2) and the compute estimator against real H200 telemetry."""

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from protocol import leaves, usage
from protocol.encoding import jcs, sha256_hex
from protocol.errors import ProtocolError
from protocol.times import format_time, parse_time
from tests.protocol.helpers import FIXTURES, load_vector

# --- leaves ------------------------------------------------------------------------------


def test_attestation_leaf_vector():
    v = load_vector("envelope-ed25519.json")
    leaf = leaves.attestation_leaf(v["envelope"]["signatures"], v["statement_sha256"])
    assert leaf == v["log_leaf_utf8"].encode()


def test_attestation_leaf_refuses_bad_inputs():
    with pytest.raises(ValueError):
        leaves.attestation_leaf([], "0" * 64)
    with pytest.raises(ValueError):
        leaves.attestation_leaf([{"keyid": "k", "sig": "s"}], "0" * 63)
    with pytest.raises(ProtocolError) as e:
        leaves.attestation_leaf([{"keyid": "k" * 70_000, "sig": "s"}], "0" * 64)
    assert e.value.code == "leaf_too_large"


def test_event_leaf():
    data = {"before": {"status": "active"}, "after": {"status": "revoked"}, "by": "op-demo", "n": 1.0}
    at = datetime(2026, 11, 26, 6, 0, 0, tzinfo=UTC)
    leaf, data_jcs = leaves.event_leaf(at, "key.revoked", "d80aa000", data)
    assert data_jcs == jcs(data) == b'{"after":{"status":"revoked"},"before":{"status":"active"},"by":"op-demo","n":1}'
    assert leaf == jcs(
        {
            "at": "2026-11-26T06:00:00Z",
            "event": "key.revoked",
            "object": "d80aa000",
            "data_sha256": sha256_hex(data_jcs),
            "type": "event",
            "v": 1,
        }
    )
    assert leaf.startswith(b'{"at":"2026-11-26T06:00:00Z","data_sha256":"')
    # A string time is kept verbatim; a datetime in another zone is written in UTC.
    same, _ = leaves.event_leaf("2026-11-26T06:00:00Z", "key.revoked", "d80aa000", data)
    assert same == leaf
    cet = at.astimezone(timezone(timedelta(hours=1)))
    assert leaves.event_leaf(cet, "key.revoked", "d80aa000", data)[0] == leaf
    with_micro, _ = leaves.event_leaf("2026-11-26T06:00:00.5Z", "chip.registered", "nvidia:X1", None)
    assert json.loads(with_micro)["at"] == "2026-11-26T06:00:00.5Z"


@pytest.mark.parametrize(
    ("at", "event", "obj"),
    [
        ("2026-11-26T06:00:00+00:00", "key.revoked", "x"),
        (datetime(2026, 11, 26), "key.revoked", "x"),
        ("2026-11-26T06:00:00Z", "revoked", "x"),
        ("2026-11-26T06:00:00Z", "Key.Revoked", "x"),
        ("2026-11-26T06:00:00Z", "key.revoked", ""),
    ],
)
def test_event_leaf_refuses(at, event, obj):
    with pytest.raises(ValueError):
        leaves.event_leaf(at, event, obj, {})


def test_event_leaf_size_limit():
    with pytest.raises(ProtocolError):
        leaves.event_leaf("2026-11-26T06:00:00Z", "chip.registered", "x" * 70_000, {})


def test_format_time():
    assert format_time(datetime(2026, 11, 26, 6, tzinfo=UTC)) == "2026-11-26T06:00:00Z"
    assert format_time(datetime(2026, 11, 26, 6, 0, 0, 1500, tzinfo=UTC)) == "2026-11-26T06:00:00.001500Z"
    assert format_time(datetime(999, 1, 2, tzinfo=UTC)) == "0999-01-02T00:00:00Z"
    for dt in (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 0, 7, tzinfo=UTC)):
        assert parse_time(format_time(dt)) == dt
    assert leaves.format_time is format_time


# --- usage estimator ----------------------------------------------------------------------

FIXTURE = json.loads((FIXTURES / "nvidia" / "h200-nvml-workload.json").read_text())
PEAK = usage.H200_BF16_DENSE_PEAK_FLOPS
TDP_W = FIXTURE["identity"]["power_limit_mw"] / 1000


def _report(phase):
    samples = [s for s in FIXTURE["samples"] if phase["start"] <= s["t"] <= phase["end"]]
    assert samples
    active_s = phase["end"] - phase["start"]
    utilization = sum(s["gpu_util"] for s in samples) / len(samples) / 100
    energy_j = phase["energy_mj_delta"] / 1000
    return active_s, utilization, energy_j


@pytest.mark.parametrize("phase", FIXTURE["phases"], ids=[p["phase"] for p in FIXTURE["phases"]])
def test_estimate_is_an_upper_bound_on_every_phase(phase):
    active_s, utilization, energy_j = _report(phase)
    estimate = usage.estimate_flop(active_s, utilization, energy_j, PEAK, TDP_W)
    assert estimate >= phase["flop_executed"]
    assert estimate <= PEAK * active_s
    if phase["phase"] == "bf16_matmul_full":
        assert estimate <= 2.5 * phase["flop_executed"]


def test_fixture_is_the_documented_one():
    assert TDP_W == usage.H200_TDP_W == 700
    full = next(p for p in FIXTURE["phases"] if p["phase"] == "bf16_matmul_full")
    assert full["flop_executed"] == full["matmuls"] * 2 * 8192**3


def test_estimate_survives_sparse_utilization_sampling():
    """An agent that polled only between kernels reports low utilization; energy still bounds."""
    full = next(p for p in FIXTURE["phases"] if p["phase"] == "bf16_matmul_full")
    active_s, _, energy_j = _report(full)
    assert usage.estimate_flop(active_s, 0.1, energy_j, PEAK, TDP_W) >= full["flop_executed"]


def test_estimator_edges():
    assert usage.estimate_flop(0, 1, 0, PEAK, TDP_W) == 0
    assert usage.estimate_flop(100, 0, 0, PEAK, TDP_W) == 0
    assert usage.estimate_flop(100, 1, 10**9, PEAK, TDP_W) == PEAK * 100  # capped at peak
    assert usage.busy_fraction(100, 0.97, 0, TDP_W) == 0.97  # an exact percent is not rounded up twice
    assert usage.busy_fraction(100, 0.971, 0, TDP_W) == 0.98
    for bad in [
        (-1, 0.5, 0, PEAK, TDP_W),
        (1, float("nan"), 0, PEAK, TDP_W),
        (1, 0.5, 0, PEAK, 0),
        (1, True, 0, PEAK, 1),
    ]:
        with pytest.raises((ValueError, TypeError)):
            usage.estimate_flop(*bad)
    assert usage.energy_exceeds_limit(100, 700 * 100 * 1.06, 700)
    assert not usage.energy_exceeds_limit(100, 700 * 100, 700)
