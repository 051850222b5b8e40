"""`chipreg attest evidence`: reports over a challenge from NVML or recorded files, one statement, and a GPU
that cannot attest named with its reason while the others still go (issue #18)."""

import base64
import types
from pathlib import Path

import pytest

from protocol.dsse import parse_envelope
from protocol.evidence_factory import Vendor
from protocol.statements import parse_statement
from tests.agent.helpers import FakeGpu, FakeNvmlError, Reply, fake_pynvml

EVIDENCE = Path(__file__).resolve().parents[1] / "fixtures" / "nvidia" / "evidence"
FIXTURE_NONCE = "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"
FRESH = "ab" * 32


def sent_statement(registry):
    (post,) = registry.posts()
    return parse_statement(parse_envelope(post.body, 64 << 20).payload)


def test_recorded_files_of_the_real_h100_are_sent_as_one_statement(cli, operator_env, registry):
    rc, _out, err = cli(
        "attest", "evidence", "--challenge", FIXTURE_NONCE, "--from-files", "nvidia:1653824019022",
        EVIDENCE / "hopperAttestationReport.txt", EVIDENCE / "hopperCertChain.txt",
    )  # fmt: skip
    assert rc == 0, err
    statement = sent_statement(registry)
    assert statement.kind == "evidence" and statement.challenge == FIXTURE_NONCE
    ((chip, evidence),) = statement.chips
    assert chip == "nvidia:1653824019022"
    assert evidence.report == bytes.fromhex((EVIDENCE / "hopperAttestationReport.txt").read_text().strip())
    assert evidence.certificates == (EVIDENCE / "hopperCertChain.txt").read_bytes()
    assert "will not verify" not in err  # the shipped NVIDIA root verifies it locally


def test_recorded_files_need_the_challenge_they_were_made_over(cli, operator_env, registry):
    rc, _, err = cli("attest", "evidence", "--from-files", "nvidia:1", "r", "c")
    assert rc == 2 and "--challenge" in err
    assert registry.posts() == []


def test_evidence_that_will_not_verify_is_named_and_still_sent(cli, operator_env, registry):
    rc, _, err = cli(
        "attest", "evidence", "--challenge", FRESH, "--from-files", "nvidia:1653824019022",
        EVIDENCE / "hopperAttestationReport.txt", EVIDENCE / "hopperCertChain.txt",
    )  # fmt: skip
    assert rc == 0
    assert "nvidia:1653824019022: the evidence will not verify (evidence_stale" in err
    assert len(registry.posts()) == 1


def nvml_with_evidence(monkeypatch, gpus, devices, broken=None, arch=None, missing=False):
    """A fake pynvml whose GPUs answer reports from throwaway devices; `broken`: {index: NVML error value}."""
    mod = fake_pynvml(gpus)
    asked = []

    def report(handle, nonce):
        asked.append(bytes(nonce).hex())
        if broken and handle in broken:
            raise FakeNvmlError(broken[handle])
        data = devices[handle].report(bytes(nonce))
        return types.SimpleNamespace(attestationReport=list(data) + [0] * 8, attestationReportSize=len(data))

    def chain(handle):
        data = devices[handle].chain_pem()
        return types.SimpleNamespace(attestationCertChain=list(data) + [0] * 8, attestationCertChainSize=len(data))

    if not missing:
        mod.nvmlDeviceGetConfComputeGpuAttestationReport = report
        mod.nvmlDeviceGetConfComputeGpuCertificate = chain
    mod.nvmlDeviceGetArchitecture = lambda h: (arch or {}).get(h, 9)
    monkeypatch.setitem(__import__("sys").modules, "pynvml", mod)
    return asked


@pytest.fixture
def vendor(tmp_path):
    v = Vendor(organisation="NVIDIA Corporation", generation="GH100")
    roots = tmp_path / "roots"
    roots.mkdir()
    (roots / "root.pem").write_bytes(v.root_pem())
    return v, roots


def three_gpus():
    return [
        FakeGpu(serial="1653924010417", uuid="GPU-a", name="NVIDIA H100 80GB HBM3"),
        FakeGpu(serial="1653924010418", uuid="GPU-b", name="NVIDIA H100 80GB HBM3"),
        FakeGpu(serial="1653924010419", uuid="GPU-c", name="NVIDIA A100-SXM4-80GB"),
    ]


def test_nvml_evidence_over_a_fresh_challenge_and_a_gpu_that_cannot(cli, operator_env, registry, monkeypatch, vendor):
    v, roots = vendor
    devices = [v.device(), v.device(), v.device()]
    asked = nvml_with_evidence(monkeypatch, three_gpus(), devices, broken={1: 3}, arch={2: 7})
    registry.script.append(("POST", "/api/v1/challenges/", Reply(201, {"nonce": FRESH, "organisation": "OPR-1"})))
    rc, _, err = cli("attest", "evidence", "--roots", roots)
    assert rc == 0, err
    assert asked == [FRESH, FRESH]  # the Ampere part is not asked at all
    assert "nvidia:1653924010418: cannot produce evidence: the GPU or its mode does not support" in err
    assert "nvidia:1653924010419: cannot produce evidence: a Ampere part" in err
    assert "Traceback" not in err and "will not verify" not in err
    statement = sent_statement(registry)
    assert statement.challenge == FRESH
    assert [c for c, _ in statement.chips] == ["nvidia:1653924010417"]
    assert base64.b64encode(statement.chips[0][1].certificates) == base64.b64encode(devices[0].chain_pem())


def test_a_driver_too_old_is_said_per_chip(cli, operator_env, registry, monkeypatch, vendor):
    v, roots = vendor
    nvml_with_evidence(monkeypatch, three_gpus()[:1], [v.device()], broken={0: 13})
    rc, _, err = cli("attest", "evidence", "--challenge", FRESH, "--roots", roots)
    assert rc == 2
    assert "nvidia:1653924010417: cannot produce evidence: the driver is too old" in err
    assert "no GPU produced evidence" in err and registry.posts() == []


def test_a_pynvml_without_attestation_calls_is_said(cli, operator_env, registry, monkeypatch, vendor):
    v, _ = vendor
    nvml_with_evidence(monkeypatch, three_gpus()[:1], [v.device()], missing=True)
    rc, _, err = cli("attest", "evidence", "--challenge", FRESH)
    assert rc == 2 and "has no attestation calls" in err


def test_a_registry_that_gives_no_challenge_is_a_refusal(cli, operator_env, registry, monkeypatch, vendor):
    v, _ = vendor
    nvml_with_evidence(monkeypatch, three_gpus()[:1], [v.device()])
    registry.script.append(("POST", "/api/v1/challenges/", Reply(403, {"code": "forbidden"})))
    rc, _, err = cli("attest", "evidence")
    assert rc != 0 and "no challenge" in err and registry.posts() == []


def test_a_bad_challenge_flag_is_a_usage_error(cli, operator_env):
    rc, _, err = cli("attest", "evidence", "--challenge", "xyz")
    assert rc == 2 and "64 hex" in err
