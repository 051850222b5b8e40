"""Findings, not refusals: each kind provoked, with its evidence; usage accounting on real NVML data."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from attestations.models import Attestation, UsageRecord
from inventory.models import AnyFinding, Declaration, Placement
from registry.models import Chip
from tests.attestations import independent as ind
from tests.attestations.conftest import now, ts

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nvidia" / "h200-nvml-workload.json"


def accepted(world, statement, client=None, *keys):
    response, _ = world.submit(client or world.op_a, statement, *keys)
    assert response.status_code == 201, response.content
    return response.json()


def only_finding(kind, chip_ref):
    finding = AnyFinding.objects.get(kind=kind, chip_ref=chip_ref)
    att = Attestation.objects.get(pk=int(finding.source_id))
    assert finding.source == "attestation"
    assert finding.evidence["statement"] == att.pk and finding.evidence["log_index"] == att.log_index
    assert finding.evidence["statement_sha256"] == att.statement_sha256
    return finding


def test_unknown_chip(world):
    body = accepted(world, world.location(["nvidia:NOTREGISTERED1"]))
    assert body["flags"] == {"unknown_chip": 1}
    only_finding("unknown_chip", "nvidia:NOTREGISTERED1")
    assert Attestation.objects.count() == 1  # stored and logged all the same


def test_registered_to_another_operator(world):
    body = accepted(world, world.location(["nvidia:B000000", "nvidia:A000000"]))
    assert body["flags"] == {"other_operator": 1}
    only_finding("other_operator", "nvidia:B000000")
    # op-a cannot place op-b's chip.
    assert not Placement.objects.filter(chip__serial="B000000").exists()


def test_impossible_travel(world):
    t = now() - timedelta(hours=2)
    accepted(world, world.location(["nvidia:A000000"], facility="US-VA-001", observed=t, issued=t))
    # Virginia to California (3,600 km) in 30 minutes.
    later = t + timedelta(minutes=30)
    body = accepted(world, world.location(["nvidia:A000000"], facility="US-CA-001", observed=later, issued=later))
    assert body["flags"] == {"impossible_travel": 1}
    only_finding("impossible_travel", "nvidia:A000000")


def test_possible_travel_is_no_finding(world, settings):
    t = now() - timedelta(days=2)
    accepted(world, world.location(["nvidia:A000000"], facility="US-VA-001", observed=t, issued=t))
    later = t + timedelta(days=1)
    assert (
        accepted(world, world.location(["nvidia:A000000"], facility="US-CA-001", observed=later, issued=later))["flags"]
        == {}
    )


def test_two_places_at_once(world):
    t = now() - timedelta(minutes=10)
    accepted(world, world.location(["nvidia:A000001"], facility="US-VA-001", observed=t, issued=t))
    body = accepted(world, world.location(["nvidia:A000001"], facility="US-CA-001", observed=t, issued=t))
    assert body["flags"] == {"two_places": 1}
    only_finding("two_places", "nvidia:A000001")


def test_two_places_by_overlapping_usage(world):
    start, end = now() - timedelta(hours=3), now() - timedelta(hours=1)
    row = {"chip": "nvidia:A000002", "active_s": 3600, "utilization": 0.5, "energy_j": 1e6}
    accepted(world, world.usage([row], start, end, facility="US-VA-001"))
    body = accepted(world, world.usage([row], start + timedelta(minutes=30), end, facility="US-CA-001"))
    assert body["flags"]["two_places"] == 1
    only_finding("two_places", "nvidia:A000002")


def test_energy_beyond_the_power_limit(world):
    start, end = now() - timedelta(hours=2), now() - timedelta(hours=1)
    # An H100 SXM draws at most 700 W: 3,600 s at 700 W is 2.52 MJ; 5 MJ is not possible.
    rows = [
        {"chip": "nvidia:A000003", "active_s": 3600, "utilization": 0.9, "energy_j": 5e6},
        {"chip": "nvidia:A000004", "active_s": 3600, "utilization": 0.9, "energy_j": 2.4e6},
    ]
    body = accepted(world, world.usage(rows, start, end))
    assert body["flags"] == {"implausible_usage": 1}
    only_finding("implausible_usage", "nvidia:A000003")


def test_active_time_beyond_the_clock(world):
    """Two reports of the same hour that together claim more active time than the hour has."""
    start, end = now() - timedelta(hours=2), now() - timedelta(hours=1)
    row = {"chip": "nvidia:A000005", "active_s": 3000, "utilization": 0.1, "energy_j": 3e5}
    accepted(world, world.usage([row], start, end))
    body = accepted(world, world.usage([row], start, end))
    assert body["flags"] == {"implausible_usage": 1}


def test_kernel_without_energy(world):
    start, end = now() - timedelta(hours=2), now() - timedelta(hours=1)
    row = {"chip": "nvidia:A000006", "active_s": 3600, "utilization": 0.8, "energy_j": 0}
    assert accepted(world, world.usage([row], start, end))["flags"] == {"implausible_usage": 1}


def test_rtt_rules_out_the_facility(world):
    landmark_key = ed25519.Ed25519PrivateKey.generate()
    world.register(world.treaty, landmark_key, purpose="landmark")
    # A landmark in Frankfurt; the chip claims Virginia (6,600 km) but answered in 10 ms (at most 1,500 km).
    response = world.treaty.post(
        "/api/v1/landmarks/", {"code": "lm-fra", "name": "Frankfurt", "latitude": 50.1, "longitude": 8.7}
    )
    assert response.status_code == 201, response.content
    t = now() - timedelta(minutes=1)

    def rtt(ms, chip="nvidia:A000007"):
        return {
            "v": 1,
            "kind": "rtt",
            "landmark": "lm-fra",
            "facility": "US-VA-001",
            "chip": chip,
            "issued_at": ts(now()),
            "nonce": ind.nonce(),
            "measured_at": ts(t),
            "rtt_ms": ms,
        }

    body = accepted(world, rtt(10), world.treaty, landmark_key)
    assert body["flags"] == {"rtt_impossible": 1}
    finding = only_finding("rtt_impossible", "nvidia:A000007")
    assert finding.facility.code == "US-VA-001"
    assert accepted(world, rtt(80), world.treaty, landmark_key)["flags"] == {}
    # Operators cannot sign RTT statements, even for their own facility.
    response, _ = world.submit(world.op_a, rtt(80))
    assert response.status_code == 403 and response.json()["code"] == "key_not_authorized"
    # A landmark's treaty body measures any facility: one that does not exist is named as such.
    nowhere = {**rtt(80), "facility": "US-ZZ-404"}
    response, _ = world.submit(world.treaty, nowhere, landmark_key)
    assert response.status_code == 400 and response.json()["code"] == "unknown_facility"


def test_complete_statement_leaves_omitted_chips_unaccounted(world):
    t = now() - timedelta(hours=1)
    accepted(world, world.location([f"nvidia:A00000{i}" for i in range(5)], observed=t, issued=t))
    later = now() - timedelta(minutes=5)
    body = accepted(
        world,
        world.location(
            [{"chip": "nvidia:A000000", "cluster": "c-east-2"}, {"chip": "nvidia:A000001"}, {"chip": "nvidia:A000002"}],
            scope="complete",
            observed=later,
            issued=later,
        ),
    )
    declaration = Declaration.objects.get(attestation_id=str(body["id"]))
    assert declaration.as_of == later.replace(microsecond=0)
    unaccounted = AnyFinding.objects.filter(kind="unaccounted", source="attestation")
    assert sorted(f.chip_ref for f in unaccounted) == ["nvidia:A000003", "nvidia:A000004"]
    assert all(f.evidence["log_index"] == body["log_index"] for f in unaccounted)
    # The complete statement moved A000000 to the cluster it names, and counts in reconciliation.
    assert Placement.objects.get(chip__serial="A000000", valid_to__isnull=True).cluster.code == "c-east-2"
    reconciliation = world.treaty.get("/api/v1/facilities/US-VA-001/reconciliation/").json()
    assert reconciliation["sources"]["attestation"]["unaccounted"] == 2


def _phase_usage(phase, samples):
    """What an honest agent reports for one phase of the fixture: from NVML readings only."""
    inside = [s for s in samples if phase["start"] <= s["t"] <= phase["end"]]
    active_s = phase["end"] - phase["start"]
    utilization = sum(s["gpu_util"] for s in inside) / len(inside) / 100
    return active_s, utilization, phase["energy_mj_delta"] / 1000


@pytest.mark.parametrize("phase_name", ["bf16_matmul_full", "idle", "bf16_matmul_half_duty"])
def test_usage_estimate_bounds_the_executed_flop(world, phase_name):
    """On real H200 readings: the FP16-basis estimate is never below the FLOP executed,
    and at most 2.5x above it for the full-load phase."""
    from tests.factories import chip_rows

    data = json.loads(FIXTURE.read_text())
    phase = next(p for p in data["phases"] if p["phase"] == phase_name)
    active_s, utilization, energy_j = _phase_usage(phase, data["samples"])
    from registry.registration import register_chips

    serial = data["identity"]["serial"]
    register_chips(
        chip_rows("", 0) or [{"chip": f"nvidia:{serial}", "model": "nvidia-h200-sxm-141gb"}],
        world.p.users["op_a_admin"],
    )
    end = now() - timedelta(minutes=1)
    start = end - timedelta(seconds=max(1, round(active_s + 0.5)))
    row = {"chip": f"nvidia:{serial}", "active_s": active_s, "utilization": round(utilization, 6), "energy_j": energy_j}
    body = accepted(world, world.usage([row], start, end))
    assert body["flags"] == {}
    record = UsageRecord.objects.get(attestation_id=body["id"])
    assert record.flop_fp16 >= phase["flop_executed"]
    assert record.flop_peak >= record.flop_fp16  # the 8-bit basis bounds it from further above
    if phase_name == "bf16_matmul_full":
        assert record.flop_fp16 <= 2.5 * phase["flop_executed"]
    listing = world.op_a.get(f"/api/v1/usage/?chip=nvidia:{serial}&basis=fp16").json()["results"]
    assert listing[0]["flop"] == pytest.approx(record.flop_fp16)
    total = world.op_a.get(f"/api/v1/usage/total/?chip=nvidia:{serial}&basis=peak").json()
    assert total["flop"] == pytest.approx(record.flop_peak)
    assert world.op_b.get(f"/api/v1/usage/?chip=nvidia:{serial}").json()["results"] == []


def test_attestation_visibility(world, api):
    body = accepted(world, world.location(["nvidia:A000000"]))
    path = f"/api/v1/attestations/{body['id']}/"
    assert world.op_a.get(path).status_code == 200
    assert world.op_b.get(path).status_code == 404
    assert world.op_b.get(path + "receipt/").status_code == 404
    assert api(world.p.users["insp_us"]).get(path).status_code == 200
    assert api(world.p.users["insp_fr"]).get(path).status_code == 404
    assert world.treaty.get(path).status_code == 200
    assert world.op_a.get(path + "envelope/").status_code == 200


def test_rejections_are_listed_for_the_uploader(world):
    world.op_a.post("/api/v1/attestations/", b"{}", content_type="application/json")
    listing = world.op_a.get("/api/v1/rejections/").json()["results"]
    assert [r["code"] for r in listing] == ["malformed_envelope"]
    assert world.op_b.get("/api/v1/rejections/").json()["results"] == []
    assert len(world.treaty.get("/api/v1/rejections/").json()["results"]) == 1


def test_chip_status_untouched_by_findings(world):
    accepted(world, world.location(["nvidia:B000001"]))
    assert Chip.objects.get(serial="B000001").custodian.code == "op-b"


@pytest.mark.parametrize("scope", ["partial", "complete"])
def test_a_cluster_the_facility_never_declared_is_a_finding(world, api, scope):
    """A signed statement is not refused for naming a cluster its facility has not declared (an API declaration
    is: unknown_cluster, 400); its chips are placed in no cluster, and the name, which may be undeclared
    infrastructure, reaches the inspectors as one finding of the statement."""
    chips = [
        {"chip": "nvidia:A000000", "cluster": "c-east-1"},
        {"chip": "nvidia:A000001", "cluster": "c-ghost"},
        {"chip": "nvidia:A000002", "cluster": "c-ghost"},
        {"chip": "nvidia:A000003", "cluster": "c-other"},
    ]
    body = accepted(world, world.location(chips, scope=scope))
    assert body["flags"].get("unknown_cluster") == 1
    finding = only_finding("unknown_cluster", "")
    assert "c-ghost (2 chips)" in finding.detail and "c-other (1 chip)" in finding.detail
    assert "c-east-1" not in finding.detail and finding.detail.startswith("statement: ")
    placed = dict(
        Placement.objects.filter(chip__serial__in=["A000000", "A000001"], valid_to__isnull=True).values_list(
            "chip__serial", "cluster__code"
        )
    )
    assert placed == {"A000000": "c-east-1", "A000001": None}
    seen = lambda who: [f["kind"] for f in api(world.p.users[who]).get("/api/v1/findings/").json()["results"]]  # noqa: E731
    assert "unknown_cluster" in seen("insp_us") and "unknown_cluster" not in seen("op_b")
    # Declared clusters only: nothing to say.
    assert "unknown_cluster" not in accepted(world, world.location([chips[0]], scope="partial"))["flags"]
